package segment

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// appendFields appends the JSON encoding of an event's fields to dst. It is
// the hot half of storing raw events, so it replaces encoding/json's
// reflection with a switch over the types preprocessing produces (float64,
// string, bool, nil, []any and, inside arrays, map[string]any); anything
// else is written as null, since the events table can only hold JSON values.
// Keys are sorted, as encoding/json sorts them, so a stored row reads the same
// from one event to the next; kvs is scratch space for that, returned for
// reuse.
//
// The output is what encoding/json would decode to the same value
// (FuzzEncodeFields checks it), with two deliberate differences:
// NaN and infinities become null instead of failing the whole event, and
// '<', '>' and '&' are not escaped, because the text is stored, not put
// into HTML.
//
// The map is read once, into kvs, which is then sorted by insertion: events
// have a handful of fields, for which that beats looking every name up again
// (what an earlier version did to reuse the previous event's sorted names:
// two hashed lookups per field were a third of the encoder's time).
func appendFields(dst []byte, m map[string]any, kvs []fieldKV) ([]byte, []fieldKV) {
	kvs = kvs[:0]
	for k, v := range m {
		kvs = append(kvs, fieldKV{k, v})
	}
	if len(kvs) > 12 {
		slices.SortFunc(kvs, func(a, b fieldKV) int { return strings.Compare(a.k, b.k) })
	} else {
		for i := 1; i < len(kvs); i++ {
			for j := i; j > 0 && keyLess(kvs[j].k, kvs[j-1].k); j-- {
				kvs[j], kvs[j-1] = kvs[j-1], kvs[j]
			}
		}
	}
	dst = append(dst, '{')
	for i, kv := range kvs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, kv.k)
		dst = append(dst, ':')
		dst = appendJSONValue(dst, kv.v, 0)
	}
	clear(kvs) // do not keep the event's values alive
	return append(dst, '}'), kvs
}

// keyLess is a < b, deciding on the first byte inline when it can: field
// names mostly differ there.
func keyLess(a, b string) bool {
	if len(a) > 0 && len(b) > 0 && a[0] != b[0] {
		return a[0] < b[0]
	}
	return a < b
}

// fieldKV is one field, for sorting.
type fieldKV struct {
	k string
	v any
}

// maxEncodeDepth bounds the recursion through nested arrays and objects the
// way the scanner bounds it when decoding; deeper values are written as null.
const maxEncodeDepth = 10000

func appendJSONValue(dst []byte, v any, depth int) []byte {
	switch v := v.(type) {
	case float64:
		return appendJSONFloat(dst, v)
	case string:
		return appendJSONString(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	case nil:
		return append(dst, "null"...)
	case []any:
		if depth >= maxEncodeDepth {
			return append(dst, "null"...)
		}
		dst = append(dst, '[')
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONValue(dst, x, depth+1)
		}
		return append(dst, ']')
	case map[string]any:
		if depth >= maxEncodeDepth {
			return append(dst, "null"...)
		}
		// Objects inside arrays are rare; sorting their keys costs one
		// small allocation, which is fine off the common path.
		dst, _ = appendFields(dst, v, nil)
		return dst
	case float32:
		return appendJSONFloat(dst, float64(v))
	case int:
		return strconv.AppendInt(dst, int64(v), 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	}
	return append(dst, "null"...)
}

// appendJSONFloat writes f the way encoding/json does (ES6 number formatting:
// plain digits for 1e-6 ≤ |f| < 1e21, exponent form outside), and null for
// NaN and infinities, which JSON cannot hold.
func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	// Integers, the common case (status codes, counts, epoch times), need
	// no float formatting at all.
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		if f == 0 && math.Signbit(f) {
			return append(dst, "-0"...)
		}
		return strconv.AppendInt(dst, int64(f), 10)
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e9 {
		if b, ok := appendShortDecimal(dst, f, abs); ok {
			return b
		}
	}
	format := byte('f')
	if abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// pow10 holds 10^k exactly, for appendShortDecimal.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6}

// appendShortDecimal writes f, 1e-6 ≤ |f| < 1e9, with the fewest decimals
// (up to 6) that read back as f, which is what strconv's shortest 'f'
// formatting writes, in a fraction of its time; ok is false when f needs
// more decimals. Latencies in seconds, the common non-integer, are like
// 0.123. Why it is exact: n and 10^k are exact doubles (n < 2^53), so n/10^k
// is the double nearest the decimal n·10^-k, i.e. what parsing it gives;
// the smallest k for which that is f gives the fewest digits; and two
// candidates for one k would differ by 10^-k ≥ 1e-6, more than f's spacing
// below 1e9, so there is only one.
func appendShortDecimal(dst []byte, f, abs float64) ([]byte, bool) {
	for k := 1; k < len(pow10); k++ {
		n := float64(int64(abs*pow10[k] + 0.5)) // rounds: abs*10^k < 1e15
		if n/pow10[k] != abs {
			continue
		}
		if f < 0 {
			dst = append(dst, '-')
		}
		p := int64(pow10[k])
		i := int64(n)
		dst = strconv.AppendInt(dst, i/p, 10)
		dst = append(dst, '.')
		frac := i % p
		for d := p / 10; d > frac && d > 1; d /= 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, frac, 10), true
	}
	return dst, false
}

const hexDigits = "0123456789abcdef"

// load64 reads s[i:i+8] as a little-endian word (the compiler makes it one
// load).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// needsEscape reports whether a word of text has a byte that JSON escapes
// ('"', '\\', below 0x20) or one that is not ASCII, with the usual
// has-a-zero-byte bit tricks: x has a zero byte iff (x−0x01…)&^x&0x80… ≠ 0.
func needsEscape(w uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q := w ^ (lo * '"')
	b := w ^ (lo * '\\')
	return ((w-lo*0x20)&^w|(q-lo)&^q|(b-lo)&^b|w)&hi != 0
}

// appendJSONString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// with encoding/json; U+2028 and U+2029 are escaped so the text is also valid
// JavaScript, again as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	// Most strings (names, services, paths) need no escape at all: skip
	// eight such bytes at a time, then go byte by byte from the first word
	// that has one (or is not ASCII).
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if needsEscape(load64(s, i)) {
			break
		}
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendFields appends the JSON encoding of an event's fields to dst, the
// same text as a segment line holds, for an event stored elsewhere.
func AppendFields(dst []byte, m map[string]any) []byte {
	dst, _ = appendFields(dst, m, nil)
	return dst
}
