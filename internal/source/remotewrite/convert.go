package remotewrite

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

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

func newConverter(src string, now time.Time, samples int) *converter {
	c := &converter{src: src, now: now}
	// One allocation for all of a request's events, as most series carry
	// one sample each.
	c.slab = make([]event.Event, 0, samples)
	c.out.events = make([]*event.Event, 0, samples)
	return c
}

// convertV1 decodes a remote write 1.0 prompb.WriteRequest.
func convertV1(body []byte, src string, now time.Time) (converted, error) {
	var req prompb.WriteRequest
	if err := req.Unmarshal(body); err != nil {
		return converted{}, fmt.Errorf("decoding the remote write 1.0 request (prometheus.WriteRequest): %w", err)
	}
	n := 0
	for i := range req.Timeseries {
		n += len(req.Timeseries[i].Samples) + len(req.Timeseries[i].Histograms)
	}
	c := newConverter(src, now, n)
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		c.lbls = c.lbls[:0]
		for _, l := range ts.Labels {
			c.lbls = append(c.lbls, label{l.Name, l.Value})
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
