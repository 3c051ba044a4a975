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
	var samples []prompb.Sample
	var hists []prompb.Histogram
	err := fields(body, func(num protowire.Number, typ protowire.Type, v []byte, off int) error {
		if num != 1 || typ != protowire.BytesType {
			return nil // metadata, or a field of a later version
		}
		c.lbls, samples, hists = c.lbls[:0], samples[:0], hists[:0]
		err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, voff int) error {
			if typ != protowire.BytesType {
				return nil
			}
			switch num {
			case 1:
				var l label
				err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, o int) error {
					if typ != protowire.BytesType {
						return nil
					}
					str := all[off+voff+o : off+voff+o+len(v)]
					switch num {
					case 1:
						l.name = str
					case 2:
						l.value = str
					}
					return nil
				})
				c.lbls = append(c.lbls, l)
				return err
			case 2:
				var smp prompb.Sample
				err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ int) error {
					switch {
					case num == 1 && typ == protowire.Fixed64Type:
						smp.Value = math.Float64frombits(binary.LittleEndian.Uint64(v))
					case num == 2 && typ == protowire.VarintType:
						x, _ := protowire.ConsumeVarint(v)
						smp.Timestamp = int64(x)
					}
					return nil
				})
				samples = append(samples, smp)
				return err
			case 4:
				var h prompb.Histogram
				if err := h.Unmarshal(v); err != nil {
					return err
				}
				hists = append(hists, h)
			}
			return nil
		})
		if err != nil {
			return err
		}
		c.series(len(samples), func(j int) (float64, int64) {
			return samples[j].Value, samples[j].Timestamp
		}, len(hists), func(j int) (float64, float64, int64) {
			h := &hists[j]
			if h.IsFloatHistogram() {
				return h.GetCountFloat(), h.Sum, h.Timestamp
			}
			return float64(h.GetCountInt()), h.Sum, h.Timestamp
		})
		return nil
	})
	if err != nil {
		return converted{}, fmt.Errorf("decoding the remote write 1.0 request (prometheus.WriteRequest): %w", err)
	}
	return c.done(), nil
}

// fields calls fn with each field of the protobuf message b: its number,
// wire type, value (a length-delimited field's contents, else the encoded
// value) and the value's offset in b.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, off int) error) error {
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return fmt.Errorf("at byte %d: %w", off, protowire.ParseError(n))
		}
		if num <= 0 {
			return fmt.Errorf("at byte %d: field number %d", off, num)
		}
		off += n
		var v []byte
		voff := off
		switch typ {
		case protowire.BytesType:
			var m int
			v, m = protowire.ConsumeBytes(b[off:])
			if m < 0 {
				return fmt.Errorf("at byte %d: %w", off, protowire.ParseError(m))
			}
			voff = off + m - len(v)
			off += m
		default:
			m := protowire.ConsumeFieldValue(num, typ, b[off:])
			if m < 0 {
				return fmt.Errorf("at byte %d: %w", off, protowire.ParseError(m))
			}
			v = b[off : off+m]
			off += m
		}
		if err := fn(num, typ, v, voff); err != nil {
			return err
		}
	}
	return nil
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
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		c.lbls = c.lbls[:0]
		if err := symbolize(&c.lbls, ts.LabelsRefs, syms); err != nil {
			c.reject(fmt.Sprintf("series %d: %v", i, err))
			continue
		}
		c.series(len(ts.Samples), func(j int) (float64, int64) {
			return ts.Samples[j].Value, ts.Samples[j].Timestamp
		}, len(ts.Histograms), func(j int) (float64, float64, int64) {
			h := &ts.Histograms[j]
			if h.IsFloatHistogram() {
				return h.GetCountFloat(), h.Sum, h.Timestamp
			}
			return float64(h.GetCountInt()), h.Sum, h.Timestamp
		})
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

// series turns the samples and histogram samples of the series in c.lbls
// into events; a series without a metric name becomes a rejected record.
func (c *converter) series(ns int, sample func(int) (float64, int64), nh int, hist func(int) (float64, float64, int64)) {
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
	for j := range ns {
		v, ts := sample(j)
		c.out.written.Samples++
		if c.n <= rawSeries {
			c.rawLine(name, formatFloat(v), ts)
		}
		if value.IsStaleNaN(v) {
			// The series ended; there is nothing to measure.
			continue
		}
		f := c.fields(name, 2, "metric", "value")
		f["value"] = v
		c.emit(f, ts)
	}
	for j := range nh {
		count, sum, ts := hist(j)
		c.out.written.Histograms++
		if c.n <= rawSeries {
			c.rawLine(name, "{count:"+formatFloat(count)+",sum:"+formatFloat(sum)+"}", ts)
		}
		if value.IsStaleNaN(sum) {
			continue
		}
		f := c.fields(name, 3, "metric", "count", "sum")
		f["count"], f["sum"] = count, sum
		c.emit(f, ts)
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

func formatFloat(f float64) string {
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
