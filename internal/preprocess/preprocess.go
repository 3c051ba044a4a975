package preprocess

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// DefaultTimeField is the field that holds an event's time unless the source
// names another one (CONTRACT.md "Events").
const DefaultTimeField = "ts"

// Processor applies one source's preprocessing (CONTRACT.md "Events" and the
// source keys time_field and fields). It is immutable after New apart from
// internal caches, and safe for concurrent use.
type Processor struct {
	source    string
	timeField string
	fields    []fieldRule
	// idle keeps up to maxIdle scanners, with their key and value caches,
	// between messages; see cache. Not a sync.Pool: the pool empties at
	// every garbage collection, which under load comes every few
	// milliseconds, and a cache refilled that often hardly ever hits.
	mu   sync.Mutex
	idle []*scanner
	// sizeHint is the field count of the last decoded event, preprocessing
	// included, used to size the next map so it rarely has to grow.
	sizeHint atomic.Int32
	// keep is the compiled Keep set; nil keeps every field.
	keep atomic.Pointer[keepSet]
}

// maxIdle bounds the scanners a Processor keeps (each holds a value table
// of a few hundred KiB); more decode concurrently only under a burst of
// parallel requests, and those extra scanners are dropped afterwards.
var maxIdle = 2 * runtime.GOMAXPROCS(0)

func (p *Processor) getScanner() *scanner {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		s := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return s
	}
	p.mu.Unlock()
	return &scanner{cache: &cache{}, key: make([]byte, 0, 64)}
}

func (p *Processor) putScanner(s *scanner) {
	s.data = nil // do not keep the message alive
	clear(s.scratch)
	s.scratch = s.scratch[:0]
	p.mu.Lock()
	if len(p.idle) < maxIdle {
		p.idle = append(p.idle, s)
	}
	p.mu.Unlock()
}

type fieldType int

const (
	typeAny fieldType = iota
	typeNumber
	typeString
	typeBool
)

type fieldRule struct {
	key      string
	typ      fieldType
	required bool
	min, max float64
	hasMin   bool
	hasMax   bool
	// factor converts the value to the target unit; 0 when there is no
	// conversion. as is the field that receives the converted value.
	factor float64
	as     string
}

// unit is a unit of measure: its dimension and its size in the dimension's
// base unit (seconds, bytes, fraction).
type unit struct {
	dim  string
	base float64
}

var units = map[string]unit{
	"ns": {"time", 1e-9}, "us": {"time", 1e-6}, "µs": {"time", 1e-6}, "μs": {"time", 1e-6},
	"ms": {"time", 1e-3}, "s": {"time", 1}, "m": {"time", 60}, "min": {"time", 60},
	"h": {"time", 3600}, "d": {"time", 86400},
	"b": {"bytes", 1}, "bytes": {"bytes", 1},
	"kb": {"bytes", 1e3}, "mb": {"bytes", 1e6}, "gb": {"bytes", 1e9}, "tb": {"bytes", 1e12},
	"kib": {"bytes", 1 << 10}, "mib": {"bytes", 1 << 20}, "gib": {"bytes", 1 << 30}, "tib": {"bytes", 1 << 40},
	"ratio": {"fraction", 1}, "fraction": {"fraction", 1}, "percent": {"fraction", 0.01}, "%": {"fraction", 0.01},
}

func lookupUnit(name string) (unit, bool) {
	u, ok := units[name]
	if !ok {
		u, ok = units[strings.ToLower(name)]
	}
	return u, ok
}

// New compiles the preprocessing of one source. It fails on a configuration
// that cannot work: an unknown type or unit, a unit without a target, or
// units of different dimensions.
func New(cfg config.Source) (*Processor, error) {
	p := &Processor{source: cfg.Name, timeField: cfg.TimeField}
	if p.timeField == "" {
		p.timeField = DefaultTimeField
	}
	for key, f := range cfg.Fields {
		r := fieldRule{key: key, required: f.Required}
		switch f.Type {
		case "":
		case "number":
			r.typ = typeNumber
		case "string":
			r.typ = typeString
		case "bool":
			r.typ = typeBool
		default:
			return nil, fmt.Errorf("field %s: unknown type %q (want number, string or bool)", key, f.Type)
		}
		if f.Min != nil {
			r.min, r.hasMin = *f.Min, true
		}
		if f.Max != nil {
			r.max, r.hasMax = *f.Max, true
		}
		if f.Unit != "" || f.To != "" {
			from, ok := lookupUnit(f.Unit)
			if !ok {
				return nil, fmt.Errorf("field %s: unknown unit %q", key, f.Unit)
			}
			to, ok := lookupUnit(f.To)
			if !ok {
				return nil, fmt.Errorf("field %s: unknown target unit %q", key, f.To)
			}
			if from.dim != to.dim {
				return nil, fmt.Errorf("field %s: cannot convert %s (%s) to %s (%s)", key, f.Unit, from.dim, f.To, to.dim)
			}
			if r.typ != typeAny && r.typ != typeNumber {
				return nil, fmt.Errorf("field %s: a unit needs type number", key)
			}
			// A unit only makes sense for numbers, so it implies the type.
			r.typ = typeNumber
			r.factor = from.base / to.base
			r.as = f.As
			if r.as == "" {
				r.as = key
			}
		}
		p.fields = append(p.fields, r)
	}
	// Map order is random; a fixed order makes Apply deterministic when one
	// rule's "as" target is another rule's input.
	sort.Slice(p.fields, func(i, j int) bool { return p.fields[i].key < p.fields[j].key })
	return p, nil
}

// TimeField returns the name of the field that holds the event time.
func (p *Processor) TimeField() string { return p.timeField }

// Decode turns one JSON object message into an event of this source: fields
// flattened with dots ({"http":{"status":500}} → "http.status"), numbers as
// float64, arrays as []any, then Apply. A message that is not a single JSON
// object returns an error whose text is the reason stored in the rejected
// table ("not a JSON object", "invalid JSON at offset 12: ..."). Raw is kept
// as given, not copied: the caller must not modify it afterwards.
func (p *Processor) Decode(raw []byte, arrival time.Time) (*event.Event, error) {
	s := p.getScanner()
	defer p.putScanner(s)
	e := &event.Event{}
	if err := p.decodeInto(s, raw, arrival, e); err != nil {
		return nil, err
	}
	return e, nil
}

// DecodeFields scans one JSON object message into flattened fields without
// building an event or applying preprocessing, for sources that assemble
// events themselves. Its errors are those of Decode.
func (p *Processor) DecodeFields(raw []byte) (map[string]any, error) {
	s := p.getScanner()
	defer p.putScanner(s)
	return p.scanFields(s, raw)
}

func (p *Processor) scanFields(s *scanner, raw []byte) (map[string]any, error) {
	fields := make(map[string]any, int(p.sizeHint.Load()))
	s.data, s.pos, s.depth, s.keep = raw, 0, 0, nil
	if err := s.decodeObject(fields); err != nil {
		return nil, err
	}
	return fields, nil
}

func (p *Processor) decodeInto(s *scanner, raw []byte, arrival time.Time, e *event.Event) error {
	ks := p.keep.Load()
	fields := make(map[string]any, int(p.sizeHint.Load()))
	s.data, s.pos, s.depth, s.keep = raw, 0, 0, ks
	s.scratch = s.scratch[:0]
	if err := s.decodeObject(fields); err != nil {
		return err
	}
	*e = event.Event{Source: p.source, Raw: raw, Fields: fields}
	p.apply(e, arrival, ks, s)
	if n := int32(len(fields)); n != p.sizeHint.Load() {
		p.sizeHint.Store(n)
	}
	return nil
}

// Decoder decodes the messages of one body (a request, a poll) on one
// goroutine with one scanner, taken once instead of once per message. It is
// not safe for concurrent use; Release returns the scanner when done.
type Decoder struct {
	p *Processor
	s *scanner
}

// Decoder returns a Decoder for this source's messages.
func (p *Processor) Decoder() *Decoder { return &Decoder{p: p, s: p.getScanner()} }

// Decode is Processor.Decode into e, which the caller provides (so that a
// batch of events can live in one slice). On an error e is left as it was.
func (d *Decoder) Decode(raw []byte, arrival time.Time, e *event.Event) error {
	return d.p.decodeInto(d.s, raw, arrival, e)
}

// Release gives the Decoder's scanner back to the Processor; the Decoder
// must not be used afterwards.
func (d *Decoder) Release() {
	if d.s != nil {
		d.p.putScanner(d.s)
		d.s = nil
	}
}

// Apply normalises an event in place and never drops it.
//
// Time: from the time field (an RFC 3339 string, or a Unix number whose
// magnitude says s, ms, µs or ns; a numeric string counts as a number). When
// the field is absent, a time the source already set (a broker timestamp, the
// host sampler's clock) stands; otherwise the event gets arrival and
// FlagNoTimestamp. A time field that cannot be read also gets FlagBadType.
// A time outside MinTime..MaxTime (from the field or the source) is set to
// the nearer bound and gets FlagOutOfRange: windows count in int64
// nanoseconds, which overflow beyond; at MaxTime a pipeline flags the event
// future, at MinTime late, and the raw bytes keep what was sent.
//
// Then, per configured field in name order: a null counts as absent; required
// and absent → FlagMissingField; type check and conversion ("12" → 12 for
// type number, numbers and bools → text for type string, "true" → true for
// type bool; failure → FlagBadType with the value kept); min/max on the value
// as sent (outside → FlagOutOfRange, kept); unit conversion (unit ms, to s,
// as latency → field latency = value/1000, the original kept; without as the
// field itself is converted).
func (p *Processor) Apply(e *event.Event, arrival time.Time) {
	if e.Fields == nil {
		e.Fields = map[string]any{}
	}
	p.apply(e, arrival, nil, nil)
}

// apply is Apply over the fields of a decoding with Keep: ks says which of
// the fields preprocessing reads and writes live in e.Fields and which in
// s.scratch (the ones not kept). With ks nil every field is in e.Fields
// and s is not used.
func (p *Processor) apply(e *event.Event, arrival time.Time, ks *keepSet, s *scanner) {
	var scratch []kv
	timeIn := true
	if ks != nil {
		scratch, timeIn = s.scratch, ks.timeIn
	}
	tv, tf, tnum, tok := lookup(e.Fields, scratch, timeIn, p.timeField)
	p.applyTime(e, arrival, tv, tf, tnum, tok)
	for i := range p.fields {
		r := &p.fields[i]
		keyIn, asIn := true, true
		if ks != nil {
			keyIn, asIn = ks.keyIn[i], ks.asIn[i]
		}
		v, f, num, ok := lookup(e.Fields, scratch, keyIn, r.key)
		if !ok || (v == nil && !num) {
			if r.required {
				e.Flags |= event.FlagMissingField
			}
			continue
		}
		// A number needs no conversion but to text; the rest go through
		// convert with their boxed value.
		if !num || r.typ == typeString || r.typ == typeBool {
			if v == nil {
				v = boxFloat(f)
			}
			cv, changed, ok := convert(v, r.typ)
			if !ok {
				e.Flags |= event.FlagBadType
				continue
			}
			if changed {
				scratch = store(e.Fields, scratch, keyIn, r.key, cv)
				v = cv
			}
			f, num = v.(float64)
		}
		if num {
			if (r.hasMin && f < r.min) || (r.hasMax && f > r.max) {
				e.Flags |= event.FlagOutOfRange
			}
			if r.factor != 0 {
				if asIn {
					e.Fields[r.as] = f * r.factor
				} else {
					scratch = append(scratch, kv{k: r.as, f: f * r.factor, num: true})
				}
			}
		}
	}
	if ks != nil {
		s.scratch = scratch // keep what it grew to for the next message
	}
}

// store sets field k in the event's map when inMap, else in the scratch
// list, which it returns.
func store(m map[string]any, scratch []kv, inMap bool, k string, v any) []kv {
	if inMap {
		m[k] = v
		return scratch
	}
	return append(scratch, kv{k: k, v: v})
}

func (p *Processor) applyTime(e *event.Event, arrival time.Time, v any, f float64, num, ok bool) {
	if !ok || (v == nil && !num) {
		if e.Time.IsZero() {
			e.Time = arrival
			e.Flags |= event.FlagNoTimestamp
		} else if t, out := clampTime(e.Time); out {
			e.Time = t
			e.Flags |= event.FlagOutOfRange
		}
		return
	}
	var t time.Time
	var out bool
	if num {
		t, ok, out = unixTime(f) // ParseTime of a number, without boxing it
	} else {
		t, ok, out = parseTime(v)
	}
	if ok {
		e.Time = t
		if out {
			e.Flags |= event.FlagOutOfRange
		}
		return
	}
	if e.Time.IsZero() {
		e.Time = arrival
		e.Flags |= event.FlagNoTimestamp
	}
	e.Flags |= event.FlagBadType
}

// ParseTime reads an event time: an RFC 3339 string, or a Unix time as a
// number (or numeric string) whose magnitude tells its unit: below 1e11
// seconds, below 1e14 milliseconds, below 1e17 microseconds, else
// nanoseconds. Those bounds keep every unit's plausible range (1973 to 5138)
// apart. Times are returned in UTC, and within MinTime..MaxTime: a time
// outside is set to the nearer bound.
func ParseTime(v any) (time.Time, bool) {
	t, ok, _ := parseTime(v)
	return t, ok
}

// The event times lookout holds. Windows compute in nanoseconds since 1970
// in an int64, which run out in September 1677 and April 2262; the bounds
// leave months of room for the arithmetic of windows near them.
var (
	// MinTime is the earliest event time: 1678-01-01 UTC.
	MinTime = time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)
	// MaxTime is the latest event time: 2262-01-01 UTC.
	MaxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)

	minSec, maxSec = float64(MinTime.Unix()), float64(MaxTime.Unix())
)

// clampTime returns t set to the nearer bound when it is outside
// MinTime..MaxTime, and whether it was.
func clampTime(t time.Time) (time.Time, bool) {
	if t.Before(MinTime) {
		return MinTime, true
	}
	if t.After(MaxTime) {
		return MaxTime, true
	}
	return t, false
}

// parseTime is ParseTime that also reports whether the time was outside
// MinTime..MaxTime (and so set to a bound).
func parseTime(v any) (t time.Time, ok, out bool) {
	switch x := v.(type) {
	case float64:
		return unixTime(x)
	case string:
		if pt, err := time.Parse(time.RFC3339Nano, x); err == nil {
			t, out = clampTime(pt.UTC())
			return t, true, out
		}
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return unixTime(f)
		}
	case time.Time:
		if x.IsZero() {
			return x, false, false
		}
		t, out = clampTime(x)
		return t, true, out
	}
	return time.Time{}, false, false
}

// unixTime reads a Unix time whose magnitude tells its unit (see
// ParseTime). NaN is no time; any other number is one, set to the nearer
// bound when outside MinTime..MaxTime (out), infinities included.
func unixTime(v float64) (t time.Time, ok, out bool) {
	if v != v {
		return time.Time{}, false, false
	}
	a := math.Abs(v)
	var perSec float64
	switch {
	case a < 1e11:
		perSec = 1
	case a < 1e14:
		perSec = 1e3
	case a < 1e17:
		perSec = 1e6
	default:
		perSec = 1e9
	}
	sec := math.Floor(v / perSec)
	if sec < minSec {
		return MinTime, true, true
	}
	if sec >= maxSec {
		return MaxTime, true, sec > maxSec || v/perSec > maxSec
	}
	ns := math.Round((v - sec*perSec) * (1e9 / perSec))
	return time.Unix(int64(sec), int64(ns)).UTC(), true, false
}

// convert checks v against a declared type, converting what has an obvious
// reading. It reports whether the value was converted (so the caller stores
// it; an unchanged value is not stored again, which would box it again) and
// whether the result is of the type.
func convert(v any, typ fieldType) (out any, changed, ok bool) {
	switch typ {
	case typeNumber:
		switch t := v.(type) {
		case float64:
			return v, false, true
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return v, false, false
			}
			return f, true, true
		}
	case typeString:
		switch t := v.(type) {
		case string:
			return v, false, true
		case float64:
			return strconv.FormatFloat(t, 'f', -1, 64), true, true
		case bool:
			return strconv.FormatBool(t), true, true
		}
	case typeBool:
		switch t := v.(type) {
		case bool:
			return v, false, true
		case string:
			b, err := strconv.ParseBool(t)
			if err != nil {
				return v, false, false
			}
			return b, true, true
		}
	default:
		return v, false, true
	}
	return v, false, false
}
