// Package promtext parses the Prometheus text exposition format (0.0.4) and
// OpenMetrics 1.0 into samples, one callback per sample line, without
// building metric families: a scrape costs one pass over the body, no
// per-sample allocation beyond what the caller keeps.
//
// The text format is read exactly as expfmt's TextParser with UTF-8 name
// validation reads it: the same inputs are accepted and rejected, and a
// line means the same sample, down to the state expfmt carries from one line
// to the next for summaries and histograms. The fuzz test holds the two
// side by side. OpenMetrics is read on its own grammar, with exemplars.
package promtext

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Format is an exposition format.
type Format uint8

// The formats Parse reads.
const (
	Text        Format = iota // text/plain;version=0.0.4
	OpenMetrics               // application/openmetrics-text;version=1.0.0
)

// Sniff tells the format of a body whose Content-Type is not known: an
// OpenMetrics exposition must end with a `# EOF` line, which in the text
// format is an ordinary comment nobody writes last.
func Sniff(body []byte) Format {
	b := bytes.TrimRight(body, "\n")
	if bytes.HasSuffix(b, []byte("\n# EOF")) || bytes.Equal(b, []byte("# EOF")) {
		return OpenMetrics
	}
	return Text
}

// FormatOf picks the format of a response by its Content-Type: OpenMetrics
// for application/openmetrics-text, the text format for anything else, as
// Prometheus falls back to it.
func FormatOf(contentType string) Format {
	ct := strings.TrimSpace(contentType)
	if len(ct) >= len("application/openmetrics-text") && strings.EqualFold(ct[:len("application/openmetrics-text")], "application/openmetrics-text") {
		return OpenMetrics
	}
	return Text
}

// Type is a metric family's type.
type Type uint8

// The types of families; a sample of a family without a TYPE line is
// Untyped (OpenMetrics: unknown).
const (
	Untyped Type = iota
	Counter
	Gauge
	Summary
	Histogram
	GaugeHistogram
	Info
	StateSet
)

// Role says what a sample line is within its family.
type Role uint8

// The roles of a sample.
const (
	// Value is a plain sample: a counter, gauge or untyped value, or any
	// OpenMetrics sample.
	Value Role = iota
	// Bucket is a text-format histogram bucket; Bound is its le.
	Bucket
	// Quantile is a text-format summary quantile; Bound is its quantile.
	Quantile
	// Sum is a summary's or histogram's _sum.
	Sum
	// Count is a summary's or histogram's _count.
	Count
	// None is a summary or histogram line that carries neither, as one
	// without a quantile or le label: its value is dropped, but it makes
	// its Group exist, as expfmt makes the metric.
	None
)

// Label is one label pair.
type Label struct {
	Name, Value string
}

// Exemplar is an OpenMetrics exemplar: `# {trace_id="..."} 0.5 1.7e9`.
type Exemplar struct {
	Labels []Label
	Value  float64
	// Timestamp is in milliseconds when HasTimestamp.
	Timestamp    int64
	HasTimestamp bool
}

// Sample is one sample line. Its strings and slices point into the body
// and the parser's buffers: they are valid during the callback only (until
// Parse returns for Family); copy what you keep.
type Sample struct {
	// Family is the name of the family the sample belongs to, and Type its
	// type; Name is the sample's own name (lat_bucket of family lat).
	Family string
	Type   Type
	Name   string
	// Labels are the line's labels; for a summary's quantile and a
	// histogram's le, see Role and Bound.
	Labels []Label
	Role   Role
	// Bound is a Bucket's le or a Quantile's quantile.
	Bound float64
	// Group numbers the summaries and histograms of a text-format body in
	// the order expfmt makes its metrics: lines of one group are one
	// metric. It is -1 for other samples.
	Group int
	Value float64
	// Timestamp is in milliseconds since the epoch when HasTimestamp.
	Timestamp    int64
	HasTimestamp bool
	// Exemplar is the OpenMetrics exemplar of the line, or nil.
	Exemplar *Exemplar
}

// ParseError is a syntax error, with its 1-based line.
type ParseError struct {
	Line int
	Msg  string
}

// Error implements error.
func (e *ParseError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// family is what the text format remembers of a family.
type family struct {
	name   string
	typ    Type
	typSet bool
	help   bool
	unit   bool
	// ord numbers the family while Flatten orders families.
	ord int
	// kind is 's' for a summary, 'h' for a histogram, else 0: what the
	// text format's lines test most.
	kind byte
	// The names of a summary's or histogram's samples, made when Flatten
	// first needs them.
	sumName, countName, bucketName string
}

// groupType is expfmt's test for the families whose lines merge into
// metrics; a family without a type counts as a counter there.
func (f *family) groupType() bool { return f != nil && f.kind != 0 }

func (f *family) summary() bool { return f != nil && f.kind == 's' }

func (f *family) histogram() bool { return f != nil && f.kind == 'h' }

func (f *family) setType(t Type) {
	f.typ, f.typSet, f.kind = t, true, 0
	switch t {
	case Summary:
		f.kind = 's'
	case Histogram, GaugeHistogram:
		f.kind = 'h'
	}
}

// Parser parses bodies; its buffers are reused from one Parse to the next.
// The zero value is ready. A Parser must not be used concurrently.
type Parser struct {
	fams map[string]*family
	cur  *family

	// What the names of the last lines resolved to, for the next lines of
	// those names.
	recent [4]resolved
	flags  uint8

	// Summary and histogram state that expfmt carries across lines: the
	// labels (with __name__) that make the group key, and the last
	// quantile and le read.
	curLabels      []Label
	curFam         *family // the __name__ of the group key
	curLabelsMade  bool
	curQuantile    float64
	curBucket      float64
	groups         map[string]int
	key, lastKey   []byte
	lastGroup      int
	labels         []Label
	sampleName     string
	next           int // where the next line starts, when textValue found it
	prevLabel      [8]labelWord
	names          map[string]string
	scratch        []byte
	sample         Sample
	exemplar       Exemplar
	exemplarLabels []Label
	line           int
	flat           Flat
	fs             flatState
	// slab holds the families, reused from one Parse to the next.
	slab []*family
}

// newFamily makes the family of a name, reusing one of an earlier Parse.
func (p *Parser) newFamily(name string) *family {
	var f *family
	if len(p.slab) < cap(p.slab) && p.slab[:len(p.slab)+1][len(p.slab)] != nil {
		p.slab = p.slab[:len(p.slab)+1]
		f = p.slab[len(p.slab)-1]
		*f = family{}
	} else {
		f = &family{}
		p.slab = append(p.slab, f)
	}
	f.name = p.intern(name)
	p.fams[f.name] = f
	return f
}

// resolved is what a sample name resolved to.
type resolved struct {
	name  string
	fam   *family
	flags uint8
	plain bool // name is as an unquoted token reads it
}

const (
	flagSummaryCount = 1 << iota
	flagSummarySum
	flagHistogramCount
	flagHistogramSum
)

var errEOFMidLine = errors.New("unexpected end of input stream")

func (p *Parser) reset() {
	if p.fams == nil {
		p.fams = map[string]*family{}
		p.groups = map[string]int{}
	}
	clear(p.fams)
	clear(p.groups)
	p.slab = p.slab[:0]
	if p.names == nil {
		p.names = map[string]string{}
	}
	p.cur = nil
	p.forget()
	p.curLabels = p.curLabels[:0]
	p.curFam = nil
	p.curLabelsMade = false
	p.curQuantile = math.NaN()
	p.curBucket = math.NaN()
	p.lastKey = p.lastKey[:0]
	p.lastGroup = -1
	p.scratch = p.scratch[:0]
	p.line = 0
}

// Parse reads body in format f and calls fn for each sample, in the order of
// the lines. It stops at the first syntax error and returns it; samples
// already passed to fn stay passed.
func (p *Parser) Parse(body []byte, f Format, fn func(*Sample)) error {
	p.reset()
	if f == OpenMetrics {
		return p.parseOpenMetrics(body, fn)
	}
	return p.parseText(body, fn)
}

func (p *Parser) errorf(format string, args ...any) error {
	return &ParseError{Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func skipBlanks(ln []byte, j int) int {
	for isBlank(ln[j]) {
		j++
	}
	return j
}

// parseText reads the text format line by line. Every line it hands on ends
// in '\n': expfmt fails on input that ends inside a line, so a last line
// without one is an error unless it is blank.
func (p *Parser) parseText(body []byte, fn func(*Sample)) error {
	// Lines are read in place: each scan stops at the '\n' that ends every
	// line of body once the tail after the last one is cut off.
	last := bytes.LastIndexByte(body, '\n')
	tail := body[last+1:]
	body = body[:last+1]
	for len(body) > 0 {
		p.line++
		p.next = -1
		if err := p.textLine(body, fn); err != nil {
			return err
		}
		if p.next < 0 { // a comment or a blank line
			p.next = bytes.IndexByte(body, '\n') + 1
		}
		body = body[p.next:]
	}
	for _, c := range tail {
		if !isBlank(c) {
			return &ParseError{Line: p.line + 1, Msg: errEOFMidLine.Error()}
		}
	}
	return nil
}

// intern returns a stable copy of s, the same one each time.
func (p *Parser) intern(s string) string {
	if v, ok := p.names[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if len(p.names) < 1<<16 {
		p.names[v] = v
	}
	return v
}

func (p *Parser) textLine(ln []byte, fn func(*Sample)) error {
	j := skipBlanks(ln, 0)
	switch ln[j] {
	case '\n':
		return nil
	case '#':
		return p.textComment(ln, j)
	}
	inBraces := ln[j] == '{'
	namePresent := false
	metricMade := false
	p.labels = p.labels[:0]
	var name string
	if r := p.recentAt(ln, j); !inBraces && r != nil {
		// The name of a recent line again, the common case: the scan
		// below would read the same token and find the same family.
		p.cur, p.flags, name = r.fam, r.flags, r.name
		p.untypedIfUnset()
		metricMade = true
		j += len(r.name)
		if isBlank(ln[j]) {
			j = skipBlanks(ln, j)
		}
	} else if !inBraces {
		tok, k, err := p.metricName(ln, j)
		if err != nil {
			return err
		}
		if tok == "" {
			return p.errorf("invalid metric name")
		}
		if err := p.setFamily(tok); err != nil {
			return err
		}
		name = p.sampleName
		p.untypedIfUnset()
		metricMade = true
		j = k
		if isBlank(ln[j]) {
			j = skipBlanks(ln, j)
		}
	}
	if p.cur.groupType() {
		p.curLabels = p.curLabels[:0]
		p.curFam = p.cur
		p.curLabelsMade = true
		p.curQuantile = math.NaN()
		p.curBucket = math.NaN()
	}
	if ln[j] == '{' {
		// The kind of the line's family, or of the last line's while a
		// name in braces is still to come.
		var kind byte
		if p.cur != nil {
			kind = p.cur.kind
		}
		li := 0
	labels:
		for {
			j = skipBlanks(ln, j+1)
			if ln[j] == '}' {
				if !metricMade {
					return p.errorf("invalid metric name")
				}
				j = skipBlanks(ln, j+1)
				break
			}
			var tok []byte
			k := j
			if n := p.labelAt(li, ln, j); n > 0 {
				k += n
				tok = ln[j:k] // the last line's label name here
			} else {
				for plainLabel[ln[k]] {
					k++
				}
				if k > j && ln[j] > '9' && ln[k] != '"' {
					tok = ln[j:k] // unquoted, the common case
					p.keepLabel(li, ln, j, k-j)
				} else {
					var err error
					if tok, k, err = p.labelName(ln, j); err != nil {
						return err
					}
				}
			}
			li++
			if len(tok) == 0 {
				return p.errorf("invalid label name")
			}
			j = k
			if isBlank(ln[j]) {
				j = skipBlanks(ln, j)
			}
			if ln[j] != '=' {
				if !inBraces {
					return p.errorf("expected '=' after label name, found %q", ln[j])
				}
				if namePresent {
					return p.errorf("multiple metric names")
				}
				switch ln[j] {
				case ',', '}':
					tn := str(tok)
					if err := p.setFamily(tn); err != nil {
						return err
					}
					name = p.sampleName
					p.untypedIfUnset()
					kind = p.cur.kind
					metricMade = true
					namePresent = true
					if ln[j] == ',' {
						continue
					}
					j = skipBlanks(ln, j+1)
					break labels
				default:
					return p.errorf("unexpected end of metric name %q", ln[j])
				}
			}
			lname := str(tok)
			if lname == "__name__" {
				return p.errorf("label name %q is reserved", "__name__")
			}
			// A summary's quantile and a histogram's le are not labels of
			// the metric.
			bound := ""
			if kind != 0 {
				bound = "le"
				if kind == 's' {
					bound = "quantile"
				}
			}
			keep := lname != bound
			if keep {
				for _, l := range p.labels {
					if l.Name == lname {
						return p.errorf("duplicate label names")
					}
				}
			}
			// Value.
			j = skipBlanks(ln, j+1)
			if ln[j] != '"' {
				return p.errorf("expected '\"' at start of label value, found %q", ln[j])
			}
			// The common value, with no escapes, inline; else labelValue.
			var val string
			ascii := byte(0)
			k2 := j + 1
			for k2+8 <= len(ln) && !specialWord(binary.LittleEndian.Uint64(ln[k2:])) {
				k2 += 8
			}
			for !valueStop[ln[k2]] {
				ascii |= ln[k2]
				k2++
			}
			if ln[k2] == '"' {
				val = str(ln[j+1 : k2])
			} else {
				var err error
				var isASCII bool
				if val, k2, isASCII, err = p.labelValue(ln, j+1); err != nil {
					return err
				}
				if !isASCII {
					ascii = 0x80
				}
			}
			j = k2
			if ascii >= 0x80 && !utf8.ValidString(val) {
				return p.errorf("invalid label value %q", val)
			}
			if keep {
				p.labels = append(p.labels, Label{str(tok), val})
			}
			if kind != 0 {
				if !keep {
					v, ok := parseFloat(val)
					if !ok {
						return p.errorf("expected float as value for %q label, got %q", bound, val)
					}
					if kind == 's' {
						p.curQuantile = v
					} else {
						p.curBucket = v
					}
				} else {
					if !p.curLabelsMade {
						// expfmt writes to a map it never made here and
						// panics; an error is the kinder answer.
						return p.errorf("labels of %q before its name", p.cur.name)
					}
					p.setCurLabel(lname, val)
				}
			}
			j = skipBlanks(ln, j+1)
			switch ln[j] {
			case ',':
				continue
			case '}':
				if !metricMade {
					return p.errorf("invalid metric name")
				}
				j = skipBlanks(ln, j+1)
				break labels
			default:
				return p.errorf("unexpected end of label value %q", val)
			}
		}
	}
	return p.textValue(ln, j, name, fn)
}

func (p *Parser) untypedIfUnset() {
	if !p.cur.typSet {
		p.cur.setType(Untyped)
	}
}

func (p *Parser) setCurLabel(name, val string) {
	for i := range p.curLabels {
		if p.curLabels[i].Name == name {
			p.curLabels[i].Value = val
			return
		}
	}
	p.curLabels = append(p.curLabels, Label{name, val})
}

// group finds or makes the summary or histogram metric the line belongs to,
// keyed as expfmt keys it: by the labels other than quantile or le, with the
// __name__ of the family the line began in.
func (p *Parser) group(kind byte) int {
	// Insertion sort: a handful of labels.
	ls := p.curLabels
	for i := 1; i < len(ls); i++ {
		for k := i; k > 0 && ls[k].Name < ls[k-1].Name; k-- {
			ls[k], ls[k-1] = ls[k-1], ls[k]
		}
	}
	// Families are unique by name within a body, so the family's address
	// stands for its __name__.
	p.key = binary.LittleEndian.AppendUint64(append(p.key[:0], kind), uint64(uintptr(unsafe.Pointer(p.curFam))))
	for _, l := range ls {
		// Names and values are valid UTF-8, where 0xff and 0xfe never occur.
		p.key = append(p.key, l.Name...)
		p.key = append(p.key, 0xff)
		p.key = append(p.key, l.Value...)
		p.key = append(p.key, 0xfe)
	}
	if p.lastGroup >= 0 && bytes.Equal(p.key, p.lastKey) {
		return p.lastGroup
	}
	id, ok := p.groups[str(p.key)]
	if !ok {
		id = len(p.groups)
		p.groups[string(p.key)] = id
	}
	p.lastKey = append(p.lastKey[:0], p.key...)
	p.lastGroup = id
	return id
}

func (p *Parser) textValue(ln []byte, j int, name string, fn func(*Sample)) error {
	s := &p.sample
	s.Family, s.Type, s.Name, s.Labels = p.cur.name, p.cur.typ, name, p.labels
	s.Role, s.Bound, s.Group, s.Timestamp, s.HasTimestamp, s.Exemplar = Value, 0, -1, 0, false, nil
	if p.cur.kind != 0 {
		s.Group = p.group(p.cur.kind)
	}
	v, n, ok := fastFloat(ln[j:])
	k := j + n
	if !ok || !wsStop[ln[k]] {
		k = j
		for !wsStop[ln[k]] {
			k++
		}
		if v, ok = parseFloat(str(ln[j:k])); !ok {
			return p.errorf("expected float as value, got %q", ln[j:k])
		}
	}
	s.Value = v
	switch {
	case p.cur.kind == 's':
		switch {
		case p.flags&flagSummaryCount != 0:
			s.Role = Count
		case p.flags&flagSummarySum != 0:
			s.Role = Sum
		case !math.IsNaN(p.curQuantile):
			s.Role, s.Bound = Quantile, p.curQuantile
		default:
			s.Role = None
		}
	case p.cur.kind == 'h':
		switch {
		case p.flags&flagHistogramCount != 0:
			s.Role = Count
		case p.flags&flagHistogramSum != 0:
			s.Role = Sum
		case !math.IsNaN(p.curBucket):
			s.Role, s.Bound = Bucket, p.curBucket
		default:
			s.Role = None
		}
		if s.Role == Count || s.Role == Bucket {
			if u := uint64(v); v != float64(u) && v < 0 {
				return p.errorf("negative count or bucket population for histogram %q", p.cur.name)
			}
		}
	}
	if ln[k] != '\n' {
		k = skipBlanks(ln, k+1)
		t := k
		for !isBlank(ln[k]) && ln[k] != '\n' {
			k++
		}
		ts, ok := parseInt(ln[t:k])
		if !ok {
			return p.errorf("expected integer as timestamp, got %q", ln[t:k])
		}
		if ln[k] != '\n' {
			return p.errorf("spurious string after timestamp: %q", ln[k:k+bytes.IndexByte(ln[k:], '\n')])
		}
		s.Timestamp, s.HasTimestamp = ts, true
	}
	p.next = k + 1
	fn(s)
	return nil
}

// setFamily resolves a sample or comment name to its family as expfmt does:
// the family of that exact name, else the summary or histogram whose _sum,
// _count (or _bucket) it is, else a new family.
func (p *Parser) setFamily(name string) error {
	for i := range p.recent {
		if r := &p.recent[i]; r.fam != nil && r.name == name {
			p.cur, p.flags, p.sampleName = r.fam, r.flags, r.name
			return nil
		}
	}
	p.flags = 0
	if name == "" || !utf8.ValidString(name) {
		return p.errorf("invalid metric name %q", name)
	}
	if f := p.fams[name]; f != nil {
		p.cur, p.sampleName = f, f.name
		p.remember(name)
		return nil
	}
	isCount := len(name) > 6 && name[len(name)-6:] == "_count"
	isSum := len(name) > 4 && name[len(name)-4:] == "_sum"
	isBucket := len(name) > 7 && name[len(name)-7:] == "_bucket"
	base := name
	switch {
	case isCount:
		base = name[:len(name)-6]
	case isSum:
		base = name[:len(name)-4]
	}
	if f := p.fams[base]; f != nil && f.kind == 's' {
		p.cur = f
		if isCount {
			p.flags |= flagSummaryCount
		}
		if isSum {
			p.flags |= flagSummarySum
		}
		p.remember(name)
		return nil
	}
	if isBucket {
		base = name[:len(name)-7]
	}
	if f := p.fams[base]; f != nil && f.kind == 'h' {
		p.cur = f
		if isCount {
			p.flags |= flagHistogramCount
		}
		if isSum {
			p.flags |= flagHistogramSum
		}
		p.remember(name)
		return nil
	}
	f := p.newFamily(name)
	p.cur, p.sampleName = f, f.name
	p.remember(name)
	return nil
}

func (p *Parser) remember(name string) {
	if name != p.cur.name {
		p.sampleName = p.intern(name)
	}
	copy(p.recent[1:], p.recent[:len(p.recent)-1])
	r := &p.recent[0]
	*r = resolved{name: p.sampleName, fam: p.cur, flags: p.flags}
	c := r.name[0]
	r.plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'
	for i := 1; i < len(r.name) && r.plain; i++ {
		r.plain = nameTable[r.name[i]] && r.name[i] != '"'
	}
}

// recentAt returns the recent resolution whose name the line has at j, as
// an unquoted name token, or nil.
func (p *Parser) recentAt(ln []byte, j int) *resolved {
	for i := range p.recent {
		r := &p.recent[i]
		if L := len(r.name); r.fam != nil && r.plain && L < len(ln)-j && str(ln[j:j+L]) == r.name && !nameTable[ln[j+L]] {
			return r
		}
	}
	return nil
}

// forget drops the recent resolutions, for a new body. Within one body a
// resolution never changes: a name of an existing family resolves to it
// whatever comes later, a name resolved by its suffix has no family of its
// own (and gets none, as it resolves), and a family's type, once set,
// stays.
func (p *Parser) forget() {
	p.recent = [len(p.recent)]resolved{}
}

// textComment reads a line whose first non-blank byte, at j, is '#'.
func (p *Parser) textComment(ln []byte, j int) error {
	j = skipBlanks(ln, j+1)
	if ln[j] == '\n' {
		return nil
	}
	k := j
	for !isBlank(ln[k]) && ln[k] != '\n' {
		k++
	}
	if ln[k] == '\n' {
		return nil
	}
	keyword := str(ln[j:k])
	if keyword != "HELP" && keyword != "TYPE" {
		return nil
	}
	j = skipBlanks(ln, k+1)
	tok, k, err := p.metricName(ln, j)
	if err != nil {
		return err
	}
	j = k
	if ln[j] == '\n' {
		return nil
	}
	if !isBlank(ln[j]) {
		return p.errorf("invalid metric name in comment")
	}
	if err := p.setFamily(tok); err != nil {
		return err
	}
	j = skipBlanks(ln, j+1)
	if ln[j] == '\n' {
		return nil
	}
	rest := ln[j : j+bytes.IndexByte(ln[j:], '\n')]
	if keyword == "HELP" {
		if p.cur.help {
			return p.errorf("second HELP line for metric name %q", p.cur.name)
		}
		for i := bytes.IndexByte(rest, '\\'); i >= 0 && i < len(rest); i++ {
			if rest[i] == '\\' {
				if i+1 == len(rest) || (rest[i+1] != '\\' && rest[i+1] != 'n' && rest[i+1] != '"') {
					return p.errorf("invalid escape sequence in HELP")
				}
				i++
			}
		}
		p.cur.help = true
		return nil
	}
	if p.cur.typSet {
		return p.errorf("second TYPE line for metric name %q, or TYPE reported after samples", p.cur.name)
	}
	var t Type
	var buf [16]byte
	switch upper(&buf, rest) {
	case "COUNTER":
		t = Counter
	case "GAUGE":
		t = Gauge
	case "SUMMARY":
		t = Summary
	case "UNTYPED":
		t = Untyped
	case "HISTOGRAM":
		t = Histogram
	case "GAUGE_HISTOGRAM", "GAUGEHISTOGRAM":
		t = GaugeHistogram
	default:
		return p.errorf("unknown metric type %q", rest)
	}
	p.cur.setType(t)
	return nil
}

// upper is strings.ToUpper, without allocating for the ASCII types.
func upper(buf *[16]byte, b []byte) string {
	if len(b) > len(buf) {
		return strings.ToUpper(string(b))
	}
	for i, c := range b {
		if c >= 0x80 {
			return strings.ToUpper(string(b))
		}
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	return str(buf[:len(b)])
}

// nameTable marks the bytes of an unquoted name after its first: letters,
// digits, '_', ':' and '"' (which starts a quoted part, as in expfmt).
var nameTable, labelTable [256]bool

// plainLabel is labelTable without '"'; valueStop marks the bytes that end
// the plain part of a label value.
var plainLabel, plainName, valueStop, wsStop [256]bool

// specialWord reports whether any of the eight bytes of w ends the plain
// part of a label value ('"', '\\', '\n') or is not ASCII.
func specialWord(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, b, n := w^(ones*'"'), w^(ones*'\\'), w^(ones*'\n')
	return (w|(q-ones)&^q|(b-ones)&^b|(n-ones)&^n)&highs != 0
}

// labelWord is a label name of at most 8 bytes as a little-endian word.
type labelWord struct {
	w uint64
	n int
}

func wordMask(n int) uint64 {
	if n >= 8 {
		return ^uint64(0)
	}
	return uint64(1)<<(8*n) - 1
}

// labelAt returns the length of the label name the line has at j when it
// is the one the last line had in place i, as an unquoted token, else 0.
func (p *Parser) labelAt(i int, ln []byte, j int) int {
	if i >= len(p.prevLabel) || j+8 > len(ln) {
		return 0
	}
	c := p.prevLabel[i]
	if c.n == 0 || binary.LittleEndian.Uint64(ln[j:])&wordMask(c.n) != c.w {
		return 0
	}
	if next := ln[j+c.n]; plainLabel[next] || next == '"' {
		return 0
	}
	return c.n
}

// keepLabel remembers the unquoted label name ln[j:j+n] of place i.
func (p *Parser) keepLabel(i int, ln []byte, j, n int) {
	if i >= len(p.prevLabel) {
		return
	}
	if n > 8 || j+8 > len(ln) {
		p.prevLabel[i].n = 0
		return
	}
	p.prevLabel[i] = labelWord{binary.LittleEndian.Uint64(ln[j:]) & wordMask(n), n}
}

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		l := (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_' || b == '"' || (b >= '0' && b <= '9')
		labelTable[c] = l
		plainLabel[c] = l && b != '"'
		plainName[c] = (l || b == ':') && b != '"'
		valueStop[c] = b == '"' || b == '\\' || b == '\n'
		wsStop[c] = b == ' ' || b == '\t' || b == '\n'
		nameTable[c] = l || b == ':'
	}
}

// metricName reads a metric name at ln[j] as expfmt does: unquoted letters,
// digits, '_' and ':', or quoted, where every ASCII byte but an unescaped
// '"' belongs to the name (a byte of 0x80 or more ends it). It returns the
// name and the index of the byte after it; a name that cannot start at j is
// empty, with j unchanged.
func (p *Parser) metricName(ln []byte, j int) (string, int, error) {
	k := j
	for plainName[ln[k]] {
		k++
	}
	if k > j && ln[j] > '9' && ln[k] != '"' {
		return str(ln[j:k]), k, nil // unquoted, the common case
	}
	return p.name(ln, j, &nameTable, ':', ' ')
}

func (p *Parser) labelName(ln []byte, j int) ([]byte, int, error) {
	s, k, err := p.name(ln, j, &labelTable, 0, '=')
	if err != nil {
		return nil, 0, err
	}
	if s == "" {
		return nil, k, nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s)), k, nil
}

func (p *Parser) name(ln []byte, j int, table *[256]bool, extraStart, stop byte) (string, int, error) {
	c := ln[j]
	if !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '"' || (extraStart != 0 && c == extraStart)) {
		return "", j, nil
	}
	// Fast path: unquoted.
	k := j
	for table[ln[k]] && ln[k] != '"' {
		k++
	}
	if ln[k] != '"' {
		return str(ln[j:k]), k, nil
	}
	// Slow path, byte by byte as expfmt: the current byte goes through the
	// switch, then the next is read and checked for continuation.
	start := len(p.scratch)
	p.scratch = append(p.scratch, ln[j:k]...)
	quoted, escaped := false, false
	i := k
	for {
		c := ln[i]
		if escaped {
			switch c {
			case '\\', '"':
				p.scratch = append(p.scratch, c)
			case 'n':
				p.scratch = append(p.scratch, '\n')
			default:
				return "", 0, p.errorf("invalid escape sequence '\\%c'", c)
			}
			escaped = false
		} else {
			switch c {
			case '"':
				quoted = !quoted
				if !quoted {
					return str(p.scratch[start:]), i + 1, nil
				}
			case '\n':
				return "", 0, p.errorf("name contains unescaped new-line")
			case '\\':
				escaped = true
			default:
				p.scratch = append(p.scratch, c)
			}
		}
		i++
		c = ln[i]
		if quoted {
			if c >= 0x80 {
				return str(p.scratch[start:]), i, nil
			}
		} else if !table[c] || c == stop {
			return str(p.scratch[start:]), i, nil
		}
	}
}

// labelValue reads a quoted label value whose first byte is at ln[j]. It
// returns the value, the index of the closing quote and whether the value
// is all ASCII (so valid UTF-8 without a look).
func (p *Parser) labelValue(ln []byte, j int) (string, int, bool, error) {
	var or byte
	for i := j; ; i++ {
		c := ln[i]
		if c == '"' {
			return str(ln[j:i]), i, or < 0x80, nil
		}
		if c == '\\' || c == '\n' {
			break
		}
		or |= c
	}
	start := len(p.scratch)
	for i := j; ; i++ {
		c := ln[i]
		switch c {
		case '"':
			return str(p.scratch[start:]), i, false, nil
		case '\n':
			return "", 0, false, p.errorf("label value contains unescaped new-line")
		case '\\':
			i++
			switch ln[i] {
			case '"', '\\':
				p.scratch = append(p.scratch, ln[i])
			case 'n':
				p.scratch = append(p.scratch, '\n')
			default:
				return "", 0, false, p.errorf("invalid escape sequence '\\%c'", ln[i])
			}
		default:
			p.scratch = append(p.scratch, c)
		}
	}
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses a sample value as expfmt does: strconv.ParseFloat
// without hexadecimal floats or underscores. Decimals of up to 15 digits
// with an exponent of at most 22 either way take a short path whose result
// is what ParseFloat gives: the digits are an exact integer, the power of
// ten is exact, and one multiplication or division rounds correctly.
func parseFloat(s string) (float64, bool) {
	if v, n, ok := fastFloat(unsafe.Slice(unsafe.StringData(s), len(s))); ok && n == len(s) {
		return v, true
	}
	if strings.ContainsAny(s, "pP_") {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// fastFloat reads the decimal number that b begins with, when the short
// path can: it returns the value and how many bytes it read, or false.
func fastFloat(b []byte) (float64, int, bool) {
	i, neg := 0, false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, i = b[0] == '-', 1
	}
	var m uint64
	start := i
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		m = m*10 + uint64(c)
	}
	digits, frac := i-start, 0
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for ; i < len(b); i++ {
			c := b[i] - '0'
			if c > 9 {
				break
			}
			m = m*10 + uint64(c)
		}
		frac = i - fs
		digits += frac
	}
	if digits == 0 || digits > 15 {
		return 0, 0, false
	}
	e10 := -frac
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		k, eneg := i+1, false
		if k < len(b) && (b[k] == '-' || b[k] == '+') {
			eneg, k = b[k] == '-', k+1
		}
		ks, x := k, 0
		for ; k < len(b) && k-ks < 4; k++ {
			c := b[k] - '0'
			if c > 9 {
				break
			}
			x = x*10 + int(c)
		}
		if k == ks {
			return 0, 0, false
		}
		if eneg {
			x = -x
		}
		e10, i = e10+x, k
	}
	if e10 < -22 || e10 > 22 {
		return 0, 0, false
	}
	v := float64(m)
	if e10 < 0 {
		v /= pow10[-e10]
	} else {
		v *= pow10[e10]
	}
	if neg {
		v = -v
	}
	return v, i, true
}

// parseInt parses a timestamp as strconv.ParseInt(s, 10, 64).
func parseInt(b []byte) (int64, bool) {
	if n := len(b); n > 0 && n <= 18 {
		i, neg := 0, false
		if b[0] == '-' || b[0] == '+' {
			neg, i = b[0] == '-', 1
		}
		if i < n {
			var v int64
			for ; i < n; i++ {
				c := b[i]
				if c < '0' || c > '9' {
					return 0, false
				}
				v = v*10 + int64(c-'0')
			}
			if neg {
				v = -v
			}
			return v, true
		}
	}
	v, err := strconv.ParseInt(str(b), 10, 64)
	return v, err == nil
}

// FormatValue writes a sample value as the exposition format does: +Inf,
// -Inf and NaN by name, other numbers in their shortest form.
func FormatValue(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
