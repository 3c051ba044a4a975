package preprocess

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting the way encoding/json does, so a hostile message of a
// million '[' cannot grow the stack without limit.
const maxDepth = 10000

// errNotObject is the reason stored for valid JSON that is not an object; the
// text is part of what users see in the rejected table.
var errNotObject = errors.New("not a JSON object")

// scanner reads one JSON object and writes its members, flattened, into a map.
// It is used by one goroutine for one message.
type scanner struct {
	data  []byte
	pos   int
	depth int
	cache *cache
	// key holds the dotted key being built: the prefix of the enclosing
	// objects followed by the current member name.
	key []byte
	// nkey counts the fields stored so far from this message, which is the
	// position cache.keyAt predicts the name from (with keep: the fields
	// met, stored or not).
	nkey int
	// keep, when set, is the Keep set of the message being decoded: its
	// fields go to the map, to scratch or nowhere (see keepSet).
	keep    *keepSet
	scratch []kv
	// skipped holds the text of strings that are checked and dropped.
	skipped []byte
}

// syntaxError builds the "invalid JSON at offset N: ..." reason.
func (s *scanner) syntaxError(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *scanner) unexpected() error {
	if s.pos >= len(s.data) {
		return s.syntaxError("unexpected end of input")
	}
	return s.syntaxError("unexpected character %q", s.data[s.pos])
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// decodeObject scans data as exactly one JSON object (surrounding white space
// allowed) into out.
func (s *scanner) decodeObject(out map[string]any) error {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return errors.New("empty message")
	}
	if s.data[s.pos] != '{' {
		// Tell valid JSON of another kind ("not a JSON object") from text
		// that is not JSON at all, whose reason should say where it broke.
		if _, err := s.value(); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos != len(s.data) {
			return s.syntaxError("unexpected character %q after the value", s.data[s.pos])
		}
		return errNotObject
	}
	s.key = s.key[:0]
	s.nkey = 0
	if err := s.flatObject(out); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return s.syntaxError("unexpected character %q after the object", s.data[s.pos])
	}
	return nil
}

// flatObject scans the object at s.pos, whose members are stored under the
// prefix currently in s.key.
func (s *scanner) flatObject(out map[string]any) error {
	s.depth++
	if s.depth > maxDepth {
		return s.syntaxError("nested too deeply")
	}
	prefix := len(s.key)
	s.pos++ // '{'
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.unexpected()
		}
		s.key = s.key[:prefix]
		if prefix > 0 {
			s.key = append(s.key, '.')
		}
		var err error
		if s.key, err = s.memberName(s.key); err != nil {
			return err
		}
		switch {
		case s.pos < len(s.data) && s.data[s.pos] == '{':
			if s.keep != nil && len(s.key) > 0 && !s.keep.prefixes[string(s.key)] {
				// No wanted field below: check it, store nothing. (The
				// members of an object named "" take no prefix at all,
				// so any field may be below one.)
				if err := s.skipValue(); err != nil {
					return err
				}
			} else if err := s.flatObject(out); err != nil {
				return err
			}
		case s.keep != nil:
			if err := s.keptValue(out); err != nil {
				return err
			}
		default:
			v, err := s.value()
			if err != nil {
				return err
			}
			out[s.cache.keyAt(s.nkey, s.key)] = v
			s.nkey++
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.unexpected()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.key = s.key[:prefix]
			s.depth--
			return nil
		default:
			return s.unexpected()
		}
	}
}

// keptValue scans the value of the field named s.key under a Keep set: into
// out when kept, into s.scratch when only preprocessing reads it, checked
// and dropped otherwise.
func (s *scanner) keptValue(out map[string]any) error {
	name, class := s.cache.keyClassAt(s.nkey, s.key, s.keep)
	s.nkey++
	switch {
	case class == classSkip:
		return s.skipValue()
	case class == classScratch && s.pos < len(s.data) && (s.data[s.pos] == '-' || (s.data[s.pos] >= '0' && s.data[s.pos] <= '9')):
		f, err := s.float()
		if err != nil {
			return err
		}
		s.scratch = append(s.scratch, kv{k: name, f: f, num: true})
		return nil
	}
	v, err := s.value()
	if err != nil {
		return err
	}
	if class == classKeep {
		out[name] = v
	} else {
		s.scratch = append(s.scratch, kv{k: name, v: v})
	}
	return nil
}

// skipValue checks the JSON value at s.pos the way value does, failing
// with the same error at the same offset, without building it.
func (s *scanner) skipValue() error {
	if s.pos >= len(s.data) {
		return s.unexpected()
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		var err error
		s.skipped, err = s.appendString(s.skipped[:0])
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.float()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '[', c == '{':
		return s.skipComposite(c)
	}
	return s.unexpected()
}

// skipComposite is skipValue for an array (open '[') or object ('{'),
// following array and nestedObject step by step.
func (s *scanner) skipComposite(open byte) error {
	s.depth++
	if s.depth > maxDepth {
		return s.syntaxError("nested too deeply")
	}
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	s.pos++
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == closer {
		s.pos++
		s.depth--
		return nil
	}
	for {
		s.skipSpace()
		if open == '{' {
			if s.pos >= len(s.data) || s.data[s.pos] != '"' {
				return s.unexpected()
			}
			var err error
			if s.skipped, err = s.memberName(s.skipped[:0]); err != nil {
				return err
			}
		}
		if err := s.skipValue(); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.unexpected()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case closer:
			s.pos++
			s.depth--
			return nil
		default:
			return s.unexpected()
		}
	}
}

// value scans any JSON value. Objects found here (inside arrays) are kept as
// nested maps, the way encoding/json returns them, since array elements have
// no dotted name to flatten to.
func (s *scanner) value() (any, error) {
	if s.pos >= len(s.data) {
		return nil, s.unexpected()
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		return s.stringValue()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return true, s.literal("true")
	case c == 'f':
		return false, s.literal("false")
	case c == 'n':
		return nil, s.literal("null")
	case c == '[':
		return s.array()
	case c == '{':
		return s.nestedObject()
	}
	return nil, s.unexpected()
}

func (s *scanner) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		// Point at the first byte that differs, as a reader would.
		for i := 0; i < len(word); i++ {
			if s.pos >= len(s.data) || s.data[s.pos] != word[i] {
				return s.unexpected()
			}
			s.pos++
		}
	}
	s.pos += len(word)
	return nil
}

func (s *scanner) array() (any, error) {
	s.depth++
	if s.depth > maxDepth {
		return nil, s.syntaxError("nested too deeply")
	}
	s.pos++ // '['
	out := []any{}
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.depth--
		return out, nil
	}
	for {
		s.skipSpace()
		v, err := s.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		s.skipSpace()
		if s.pos >= len(s.data) {
			return nil, s.unexpected()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return out, nil
		default:
			return nil, s.unexpected()
		}
	}
}

func (s *scanner) nestedObject() (any, error) {
	s.depth++
	if s.depth > maxDepth {
		return nil, s.syntaxError("nested too deeply")
	}
	s.pos++ // '{'
	out := map[string]any{}
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.depth--
		return out, nil
	}
	var name []byte
	for {
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return nil, s.unexpected()
		}
		var err error
		if name, err = s.memberName(name[:0]); err != nil {
			return nil, err
		}
		v, err := s.value()
		if err != nil {
			return nil, err
		}
		out[string(name)] = v
		s.skipSpace()
		if s.pos >= len(s.data) {
			return nil, s.unexpected()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.depth--
			return out, nil
		default:
			return nil, s.unexpected()
		}
	}
}

// stringValue scans a string. Plain ASCII strings, the common case, are
// converted in one step without a scratch buffer.
func (s *scanner) stringValue() (any, error) {
	start := s.pos + 1
	for i := start; i < len(s.data); i++ {
		c := s.data[i]
		if c == '"' {
			s.pos = i + 1
			return s.cache.val(s.data[start:i]), nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
	}
	b, err := s.appendString(nil)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// appendString decodes the string at s.pos (which is '"') and appends its
// text to dst. Invalid UTF-8 and unpaired surrogates become U+FFFD, as
// encoding/json does, so the two agree on every input.
func (s *scanner) appendString(dst []byte) ([]byte, error) {
	s.pos++ // opening quote
	for {
		// Copy the run of bytes that need no attention in one go.
		start := s.pos
		for s.pos < len(s.data) {
			c := s.data[s.pos]
			if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				break
			}
			s.pos++
		}
		dst = append(dst, s.data[start:s.pos]...)
		if s.pos >= len(s.data) {
			return dst, s.syntaxError("unterminated string")
		}
		switch c := s.data[s.pos]; {
		case c == '"':
			s.pos++
			return dst, nil
		case c < 0x20:
			return dst, s.syntaxError("control character %q in string", c)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s.data[s.pos:s.pos+size]...)
			}
			s.pos += size
		default: // backslash
			var err error
			if dst, err = s.appendEscape(dst); err != nil {
				return dst, err
			}
		}
	}
}

func (s *scanner) appendEscape(dst []byte) ([]byte, error) {
	if s.pos+1 >= len(s.data) {
		s.pos++
		return dst, s.syntaxError("unterminated string")
	}
	s.pos++
	c := s.data[s.pos]
	s.pos++
	switch c {
	case '"', '\\', '/':
		return append(dst, c), nil
	case 'b':
		return append(dst, '\b'), nil
	case 'f':
		return append(dst, '\f'), nil
	case 'n':
		return append(dst, '\n'), nil
	case 'r':
		return append(dst, '\r'), nil
	case 't':
		return append(dst, '\t'), nil
	case 'u':
		r, ok := hex4(s.data[s.pos:])
		if !ok {
			return dst, s.syntaxError("invalid \\u escape")
		}
		s.pos += 4
		if utf16.IsSurrogate(r) {
			// A high surrogate must be followed by an escaped low one;
			// anything else leaves an unpaired half, which becomes U+FFFD.
			if len(s.data)-s.pos >= 6 && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
				if r2, ok := hex4(s.data[s.pos+2:]); ok {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						s.pos += 6
						return utf8.AppendRune(dst, dec), nil
					}
				}
			}
			r = utf8.RuneError
		}
		return utf8.AppendRune(dst, r), nil
	}
	s.pos--
	return dst, s.syntaxError("invalid escape \\%c", c)
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// number scans a JSON number. When the digits fit in 53 bits and the decimal
// exponent is small, one multiplication or division of two exact float64
// values gives the correctly rounded result (Clinger's fast path), which
// covers nearly every number in monitoring data; the rest go to strconv.
func (s *scanner) number() (any, error) {
	f, err := s.float()
	if err != nil {
		return nil, err
	}
	return boxFloat(f), nil
}

// float is number without the boxing.
func (s *scanner) float() (float64, error) {
	start := s.pos
	neg := false
	if s.data[s.pos] == '-' {
		neg = true
		s.pos++
	}
	var mant uint64
	digits := 0 // significant digits taken into mant
	exp10 := 0
	exact := true
	if s.pos >= len(s.data) {
		return 0, s.unexpected()
	}
	switch c := s.data[s.pos]; {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
			if digits < 19 {
				mant = mant*10 + uint64(s.data[s.pos]-'0')
				digits++
			} else {
				exact = false
			}
			s.pos++
		}
	default:
		return 0, s.unexpected()
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.pos >= len(s.data) || s.data[s.pos] < '0' || s.data[s.pos] > '9' {
			return 0, s.unexpected()
		}
		for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
			if digits < 19 {
				if mant != 0 || s.data[s.pos] != '0' {
					digits++
				}
				mant = mant*10 + uint64(s.data[s.pos]-'0')
				exp10--
			} else {
				exact = false
			}
			s.pos++
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		eneg := false
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			eneg = s.data[s.pos] == '-'
			s.pos++
		}
		if s.pos >= len(s.data) || s.data[s.pos] < '0' || s.data[s.pos] > '9' {
			return 0, s.unexpected()
		}
		e := 0
		for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
			if e < 100000 {
				e = e*10 + int(s.data[s.pos]-'0')
			}
			s.pos++
		}
		if eneg {
			e = -e
		}
		exp10 += e
	}
	if exact && mant < 1<<53 && exp10 >= -22 && exp10 <= 22 {
		f := float64(mant)
		if exp10 < 0 {
			f /= pow10[-exp10]
		} else {
			f *= pow10[exp10]
		}
		if neg {
			f = -f
		}
		return f, nil
	}
	f, err := strconv.ParseFloat(string(s.data[start:s.pos]), 64)
	if err != nil || math.IsInf(f, 0) {
		pos := s.pos
		s.pos = start
		e := s.syntaxError("number %s out of range", s.data[start:pos])
		s.pos = pos
		return 0, e
	}
	return f, nil
}

// cache interns what recurs from message to message of a source: field
// names, as strings, and short string values, already boxed in an interface,
// so that a repeated name or value (a service, a host, a path) costs no
// allocation. A cache belongs to one scanner, and a scanner to one goroutine
// at a time (the Processor keeps a few idle ones), so it needs no locks.
//
// Names: messages of one source nearly always carry the same fields in the
// same order, so keyAt first compares the name with the one at the same
// position in the previous message, which costs a comparison instead of a
// hash lookup; the keys map, which stops growing at maxCached, is the
// fallback.
//
// Values: a direct-mapped table of valSlots entries indexed by a hash of
// the text; a value that collides replaces the entry. The table never grows,
// so high-cardinality values (request ids) cannot turn it into a leak, and it
// is small enough (32 KiB) to stay in the CPU's cache: a lookup costs a hash
// and a comparison whether it hits or not. (A map of 16,384 values, big
// enough for the 10,000 services of the load scenarios, made every lookup a
// cache miss and cost more than the allocations it saved.)
type cache struct {
	keys  map[string]string
	order []string // the previous message's field names, in order
	// classes holds the Keep class of each name in order, for the keep
	// set classFor (classUnknown until looked up), so that a recurring
	// field costs no map lookup for its class either.
	classes  []uint8
	classFor *keepSet
	vals     *[valSlots]valEntry
	seed     maphash.Seed
}

type valEntry struct {
	s string
	v any
}

const (
	maxCached    = 1024
	maxKeyLen    = 64
	maxCachedVal = 32
	valSlots     = 1024 // a power of two
)

// keyAt returns the name b of the i-th field stored from the current
// message.
func (c *cache) keyAt(i int, b []byte) string {
	if i < len(c.order) && c.order[i] == string(b) {
		return c.order[i]
	}
	k := c.key(b)
	switch {
	case i < len(c.order):
		c.order[i] = k
		c.classes[i] = classUnknown
	case i == len(c.order) && i < maxCached:
		c.order = append(c.order, k)
		c.classes = append(c.classes, classUnknown)
	}
	return k
}

// keyClassAt is keyAt that also returns the name's class in ks.
func (c *cache) keyClassAt(i int, b []byte, ks *keepSet) (string, uint8) {
	if c.classFor != ks {
		// Keep changed: every remembered class is stale.
		for j := range c.classes {
			c.classes[j] = classUnknown
		}
		c.classFor = ks
	}
	k := c.keyAt(i, b)
	if i < len(c.classes) {
		if cl := c.classes[i]; cl != classUnknown {
			return k, cl
		}
		cl := ks.classOf(k)
		c.classes[i] = cl
		return k, cl
	}
	return k, ks.classOf(k)
}

func (c *cache) key(b []byte) string {
	if s, ok := c.keys[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(c.keys) < maxCached && len(b) <= maxKeyLen {
		if c.keys == nil {
			c.keys = make(map[string]string, 16)
		}
		c.keys[s] = s
	}
	return s
}

func (c *cache) val(b []byte) any {
	if len(b) > maxCachedVal {
		return string(b)
	}
	if c.vals == nil {
		c.vals = new([valSlots]valEntry)
		c.seed = maphash.MakeSeed()
	}
	e := &c.vals[maphash.Bytes(c.seed, b)&(valSlots-1)]
	if e.v != nil && e.s == string(b) {
		return e.v
	}
	s := string(b)
	e.s, e.v = s, s
	return e.v
}

// smallInts holds boxed float64 values of the integers 0..1023, so that the
// most common numbers in events (status codes, counts, small gauges) need no
// allocation when stored in a map[string]any. Filled once, read-only after.
var smallInts = func() (t [1024]any) {
	for i := range t {
		t[i] = float64(i)
	}
	return t
}()

func boxFloat(f float64) any {
	if f >= 0 && f < float64(len(smallInts)) && f == float64(int(f)) && !(f == 0 && math.Signbit(f)) {
		return smallInts[int(f)]
	}
	return f
}

// memberName appends the name of an object member (the scanner is at its
// opening quote) to dst and moves past the ':' after it and the space
// around that.
func (s *scanner) memberName(dst []byte) ([]byte, error) {
	dst, err := s.appendString(dst)
	if err != nil {
		return dst, err
	}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return dst, s.unexpected()
	}
	s.pos++
	s.skipSpace()
	return dst, nil
}
