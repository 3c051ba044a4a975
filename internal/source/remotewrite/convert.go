package remotewrite

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/promtext"
)

// rawSeries is how many series of a request the raw ring shows.
const rawSeries = 10

// converted is what one request turned into.
type converted struct {
	events   []*event.Event
	rejected []event.Rejected
	written  Written
	// raw is the request's first series as exposition-format lines, for
	// the raw ring: the body itself is binary.
	raw []byte
}

// label is one label of a series.
type label struct{ name, value string }

type converter struct {
	src  string
	now  time.Time
	out  converted
	slab []event.Event
	lbls []label
	n    int // series seen, for the raw ring
	// unordered is set once an event is older than the one before it.
	unordered bool
}

// newConverter returns a converter for a request of about samples samples
// (0: not known).
func newConverter(src string, now time.Time, samples int) *converter {
	c := &converter{src: src, now: now}
	// One allocation for all of a request's events, as most series carry
	// one sample each.
	c.slab = make([]event.Event, 0, max(samples, 64))
	c.out.events = make([]*event.Event, 0, samples)
	return c
}

// convertV1 decodes a remote write 1.0 prometheus.WriteRequest. It reads
// the wire format itself rather than through prompb's generated code, which
// allocates every label's strings and grows every slice as it goes: label
// names and values here are substrings of one string holding the whole
// body, and series are turned into events as they are read. Histogram
// samples, rare, go through prompb.
func convertV1(body []byte, src string, now time.Time) (converted, error) {
	c := newConverter(src, now, 0)
	// The body is never modified, so the labels can share its bytes; the
	// events then keep the body alive, as a push body's events do.
	all := unsafe.String(unsafe.SliceData(body), len(body))
	fail := func(err error) (converted, error) {
		return converted{}, fmt.Errorf("decoding the remote write 1.0 request (prometheus.WriteRequest): %w", err)
	}
	var samples []sample
	for req := (wire{b: body}); req.more(); {
		num, typ, ts, tsOff, err := req.next()
		if err != nil {
			return fail(err)
		}
		if num != 1 || typ != protowire.BytesType {
			continue // metadata, or a field of a later version
		}
		c.lbls, samples = c.lbls[:0], samples[:0]
		nFloat := 0
		for tr := (wire{b: ts}); tr.more(); {
			num, typ, v, vOff, err := tr.next()
			if err != nil {
				return fail(err)
			}
			if typ != protowire.BytesType {
				continue
			}
			switch num {
			case 1: // Label
				var l label
				for lr := (wire{b: v}); lr.more(); {
					num, typ, sv, sOff, err := lr.next()
					if err != nil {
						return fail(err)
					}
					if typ != protowire.BytesType {
						continue
					}
					at := tsOff + vOff + sOff
					switch num {
					case 1:
						l.name = all[at : at+len(sv)]
					case 2:
						l.value = all[at : at+len(sv)]
					}
				}
				c.lbls = append(c.lbls, l)
			case 2: // Sample
				var smp sample
				for sr := (wire{b: v}); sr.more(); {
					num, typ, fv, _, err := sr.next()
					if err != nil {
						return fail(err)
					}
					switch {
					case num == 1 && typ == protowire.Fixed64Type:
						smp.value = math.Float64frombits(binary.LittleEndian.Uint64(fv))
					case num == 2 && typ == protowire.VarintType:
						x, _ := protowire.ConsumeVarint(fv)
						smp.ts = int64(x)
					}
				}
				// Float samples first, histograms after, whatever
				// order they came in: the order prompb keeps them in.
				samples = slices.Insert(samples, nFloat, smp)
				nFloat++
			case 4: // Histogram
				var h prompb.Histogram
				if err := h.Unmarshal(v); err != nil {
					return fail(err)
				}
				smp := sample{hist: true, sum: h.Sum, ts: h.Timestamp, value: float64(h.GetCountInt())}
				if h.IsFloatHistogram() {
					smp.value = h.GetCountFloat()
				}
				samples = append(samples, smp)
			}
		}
		c.series(samples)
	}
	return c.done(), nil
}

// sample is a float sample, or a histogram sample's count (value) and sum.
type sample struct {
	value, sum float64
	ts         int64
	hist       bool
}

// wire reads the fields of a protobuf message.
type wire struct {
	b   []byte
	off int
}

func (w *wire) more() bool { return w.off < len(w.b) }

// next returns the next field: its number, wire type, value (a
// length-delimited field's contents, else the encoded value) and the
// value's offset in the message.
func (w *wire) next() (protowire.Number, protowire.Type, []byte, int, error) {
	num, typ, n := protowire.ConsumeTag(w.b[w.off:])
	if n < 0 {
		return 0, 0, nil, 0, fmt.Errorf("at byte %d: %w", w.off, protowire.ParseError(n))
	}
	w.off += n
	if typ == protowire.BytesType {
		v, m := protowire.ConsumeBytes(w.b[w.off:])
		if m < 0 {
			return 0, 0, nil, 0, fmt.Errorf("at byte %d: %w", w.off, protowire.ParseError(m))
		}
		voff := w.off + m - len(v)
		w.off += m
		return num, typ, v, voff, nil
	}
	m := protowire.ConsumeFieldValue(num, typ, w.b[w.off:])
	if m < 0 {
		return 0, 0, nil, 0, fmt.Errorf("at byte %d: %w", w.off, protowire.ParseError(m))
	}
	v, voff := w.b[w.off:w.off+m], w.off
	w.off += m
	return num, typ, v, voff, nil
}

// convertV2 decodes a remote write 2.0 io.prometheus.write.v2.Request, whose
// label names and values are indices into the request's symbols.
func convertV2(body []byte, src string, now time.Time) (converted, error) {
	var req writev2.Request
	if err := req.Unmarshal(body); err != nil {
		return converted{}, fmt.Errorf("decoding the remote write 2.0 request (%s): %w", ProtoV2, err)
	}
	n := 0
	for i := range req.Timeseries {
		n += len(req.Timeseries[i].Samples) + len(req.Timeseries[i].Histograms)
	}
	c := newConverter(src, now, n)
	syms := req.Symbols
	var samples []sample
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		c.lbls = c.lbls[:0]
		if err := symbolize(&c.lbls, ts.LabelsRefs, syms); err != nil {
			c.reject(fmt.Sprintf("series %d: %v", i, err))
			continue
		}
		samples = samples[:0]
		for _, smp := range ts.Samples {
			samples = append(samples, sample{value: smp.Value, ts: smp.Timestamp})
		}
		for j := range ts.Histograms {
			h := &ts.Histograms[j]
			smp := sample{hist: true, sum: h.Sum, ts: h.Timestamp, value: float64(h.GetCountInt())}
			if h.IsFloatHistogram() {
				smp.value = h.GetCountFloat()
			}
			samples = append(samples, smp)
		}
		c.series(samples)
	}
	return c.done(), nil
}

// symbolize appends the labels refs point at.
func symbolize(dst *[]label, refs []uint32, syms []string) error {
	if len(refs)%2 != 0 {
		return fmt.Errorf("odd number of label references (%d)", len(refs))
	}
	for k := 0; k < len(refs); k += 2 {
		n, v := refs[k], refs[k+1]
		if int(n) >= len(syms) || int(v) >= len(syms) {
			return fmt.Errorf("label reference %d or %d out of the %d symbols", n, v, len(syms))
		}
		*dst = append(*dst, label{syms[n], syms[v]})
	}
	return nil
}

// series turns the samples of the series in c.lbls into events; a series
// without a metric name becomes a rejected record.
func (c *converter) series(samples []sample) {
	name := ""
	for _, l := range c.lbls {
		if l.name == "__name__" {
			name = l.value
			break
		}
	}
	if name == "" {
		c.reject(fmt.Sprintf("series %s has no __name__ label", formatLabels(c.lbls)))
		return
	}
	c.n++
	for _, smp := range samples {
		if smp.hist {
			c.out.written.Histograms++
			if c.n <= rawSeries {
				c.rawLine(name, "{count:"+promtext.FormatValue(smp.value)+",sum:"+promtext.FormatValue(smp.sum)+"}", smp.ts)
			}
			if value.IsStaleNaN(smp.sum) {
				continue
			}
			f := c.fields(name, 3, "metric", "count", "sum")
			f["count"], f["sum"] = smp.value, smp.sum
			c.emit(f, smp.ts)
			continue
		}
		c.out.written.Samples++
		if c.n <= rawSeries {
			c.rawLine(name, promtext.FormatValue(smp.value), smp.ts)
		}
		if value.IsStaleNaN(smp.value) {
			// The series ended; there is nothing to measure.
			continue
		}
		f := c.fields(name, 2, "metric", "value")
		f["value"] = smp.value
		c.emit(f, smp.ts)
	}
}

// fields returns a new field map with the series' labels and metric; a
// label named like one of reserved is kept as label_<name>, as the http
// source does.
func (c *converter) fields(name string, extra int, reserved ...string) map[string]any {
	f := make(map[string]any, len(c.lbls)+extra)
	for _, l := range c.lbls {
		k := l.name
		if k == "__name__" {
			continue
		}
		for _, r := range reserved {
			if k == r {
				k = "label_" + k
				break
			}
		}
		f[k] = l.value
	}
	f["metric"] = name
	return f
}

func (c *converter) emit(f map[string]any, ts int64) {
	if len(c.slab) == cap(c.slab) {
		// Events already handed out keep pointing into the old slab.
		c.slab = make([]event.Event, 0, 2*cap(c.slab))
	}
	c.slab = append(c.slab, event.Event{Time: time.UnixMilli(ts).UTC(), Source: c.src, Fields: f})
	e := &c.slab[len(c.slab)-1]
	if n := len(c.out.events); n > 0 && e.Time.Before(c.out.events[n-1].Time) {
		c.unordered = true
	}
	c.out.events = append(c.out.events, e)
}

// done puts the events in time order. A request holds series after series,
// each with its samples in order; a sender catching up (after 429s, a
// restart or an outage) sends many samples per series, and in the order
// sent the second series' first sample would come after the first
// series' last one, which already moved event time on: every series but
// the first would be late for its windows.
func (c *converter) done() converted {
	if c.unordered {
		slices.SortStableFunc(c.out.events, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
	}
	return c.out
}

func (c *converter) reject(reason string) {
	raw := []byte(formatLabels(c.lbls))
	c.out.rejected = append(c.out.rejected, event.Rejected{Time: c.now, Source: c.src, Raw: raw[:min(len(raw), MaxRaw)], Reason: reason})
}

// rawLine adds `name{labels} value timestamp` to the raw view.
func (c *converter) rawLine(name, v string, ts int64) {
	if len(c.out.raw) >= MaxRaw {
		return
	}
	b := append(c.out.raw, name...)
	b = append(b, formatLabels(c.lbls)...)
	b = append(b, ' ')
	b = append(b, v...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, ts, 10)
	c.out.raw = append(b, '\n')
}

// formatLabels writes labels but __name__ as {a="x",b="y"}.
func formatLabels(lbls []label) string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, l := range lbls {
		if l.name == "__name__" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(l.name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(l.value))
	}
	b.WriteByte('}')
	return b.String()
}
