package otlp

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/internal/event"
)

// quantiles are the quantiles estimated from each histogram point's buckets,
// as fields p50, p90 and p99.
var quantiles = []struct {
	field string
	q     float64
}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}}

// converted is what one request turned into.
type converted struct {
	events   []*event.Event
	rejected []event.Rejected
}

// convert turns every data point of req into an event of source src. A point
// that cannot become one (no value, a NaN, a metric without a name or data)
// becomes a rejected record instead, counted in partial_success.
func convert(req *colmetricpb.ExportMetricsServiceRequest, src string, now time.Time) converted {
	c := &converter{src: src, now: now}
	for _, rm := range req.GetResourceMetrics() {
		res := map[string]any{}
		putAttrs(res, "", rm.GetResource().GetAttributes())
		for _, sm := range rm.GetScopeMetrics() {
			base := make(map[string]any, len(res)+1)
			for k, v := range res {
				base[k] = v
			}
			if n := sm.GetScope().GetName(); n != "" {
				base["scope"] = n
			}
			for _, m := range sm.GetMetrics() {
				c.metric(base, m)
			}
		}
	}
	return c.out
}

type converter struct {
	src string
	now time.Time
	out converted
}

func (c *converter) metric(base map[string]any, m *metricpb.Metric) {
	if m.GetName() == "" {
		c.reject(m, "metric without a name")
		return
	}
	point := func(attrs []*commonpb.KeyValue) map[string]any {
		f := make(map[string]any, len(base)+len(attrs)+8)
		for k, v := range base {
			f[k] = v
		}
		putAttrs(f, "", attrs)
		f["metric"] = m.GetName()
		if u := m.GetUnit(); u != "" {
			f["unit"] = u
		}
		return f
	}
	switch d := m.GetData().(type) {
	case *metricpb.Metric_Gauge:
		for _, p := range d.Gauge.GetDataPoints() {
			c.number(m, point(p.GetAttributes()), p)
		}
	case *metricpb.Metric_Sum:
		for _, p := range d.Sum.GetDataPoints() {
			f := point(p.GetAttributes())
			f["monotonic"] = d.Sum.GetIsMonotonic()
			f["temporality"] = temporality(d.Sum.GetAggregationTemporality())
			c.number(m, f, p)
		}
	case *metricpb.Metric_Histogram:
		for _, p := range d.Histogram.GetDataPoints() {
			f := point(p.GetAttributes())
			f["temporality"] = temporality(d.Histogram.GetAggregationTemporality())
			c.histogram(m, f, p)
		}
	case *metricpb.Metric_ExponentialHistogram:
		for _, p := range d.ExponentialHistogram.GetDataPoints() {
			f := point(p.GetAttributes())
			f["temporality"] = temporality(d.ExponentialHistogram.GetAggregationTemporality())
			f["count"] = float64(p.GetCount())
			putStats(f, p.GetCount(), p.Sum, p.Min, p.Max)
			c.emit(m, f, p.GetTimeUnixNano(), p)
		}
	case *metricpb.Metric_Summary:
		for _, p := range d.Summary.GetDataPoints() {
			f := point(p.GetAttributes())
			f["count"] = float64(p.GetCount())
			sum := p.GetSum()
			putStats(f, p.GetCount(), &sum, nil, nil)
			for _, q := range p.GetQuantileValues() {
				f["q"+strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)] = q.GetValue()
			}
			c.emit(m, f, p.GetTimeUnixNano(), p)
		}
	default:
		c.reject(m, fmt.Sprintf("metric %s has no data points of a known type", m.GetName()))
	}
}

func (c *converter) number(m *metricpb.Metric, f map[string]any, p *metricpb.NumberDataPoint) {
	switch v := p.GetValue().(type) {
	case *metricpb.NumberDataPoint_AsDouble:
		f["value"] = v.AsDouble
	case *metricpb.NumberDataPoint_AsInt:
		f["value"] = float64(v.AsInt)
	default:
		c.reject(p, fmt.Sprintf("metric %s: data point without a value", m.GetName()))
		return
	}
	c.emit(m, f, p.GetTimeUnixNano(), p)
}

func (c *converter) histogram(m *metricpb.Metric, f map[string]any, p *metricpb.HistogramDataPoint) {
	bounds, counts := p.GetExplicitBounds(), p.GetBucketCounts()
	if len(counts) != 0 && len(counts) != len(bounds)+1 {
		c.reject(p, fmt.Sprintf("metric %s: %d bucket counts for %d bounds (want bounds + 1)", m.GetName(), len(counts), len(bounds)))
		return
	}
	f["count"] = float64(p.GetCount())
	putStats(f, p.GetCount(), p.Sum, p.Min, p.Max)
	var cum uint64
	for i, n := range counts {
		cum += n
		f["le_"+boundName(bounds, i)] = float64(cum)
	}
	if cum > 0 {
		for _, q := range quantiles {
			f[q.field] = bucketQuantile(q.q, bounds, counts, p.Min, p.Max)
		}
	}
	c.emit(m, f, p.GetTimeUnixNano(), p)
}

// putStats sets sum, min, max and avg where the point has them.
func putStats(f map[string]any, count uint64, sum, lo, hi *float64) {
	if sum != nil {
		f["sum"] = *sum
		if count > 0 {
			f["avg"] = *sum / float64(count)
		}
	}
	if lo != nil {
		f["min"] = *lo
	}
	if hi != nil {
		f["max"] = *hi
	}
}

// boundName names bucket i by its upper bound, usable as a field name in
// expressions: 0.25 → "0_25", the last bucket → "inf".
func boundName(bounds []float64, i int) string {
	if i >= len(bounds) {
		return "inf"
	}
	s := strconv.FormatFloat(bounds[i], 'g', -1, 64)
	return strings.NewReplacer(".", "_", "-", "neg", "+", "").Replace(s)
}

// bucketQuantile estimates quantile q from explicit-bucket counts by linear
// interpolation inside the bucket holding the rank, as Prometheus's
// histogram_quantile does. The point's min and max, when present, stand in
// for the open ends of the first and last buckets and bound the result.
func bucketQuantile(q float64, bounds []float64, counts []uint64, lo, hi *float64) float64 {
	var total uint64
	for _, n := range counts {
		total += n
	}
	rank := q * float64(total)
	var cum float64
	for i, n := range counts {
		if n == 0 || cum+float64(n) < rank {
			cum += float64(n)
			continue
		}
		var lower, upper float64
		switch {
		case i == 0 && lo != nil:
			lower = *lo
		case i == 0:
			lower = math.Min(0, bounds0(bounds))
		default:
			lower = bounds[i-1]
		}
		switch {
		case i < len(bounds):
			upper = bounds[i]
		case hi != nil:
			upper = *hi
		default:
			// The +Inf bucket has no upper end: its lower one is the
			// best estimate, as in Prometheus.
			return lower
		}
		v := lower + (upper-lower)*(rank-cum)/float64(n)
		if lo != nil {
			v = math.Max(v, *lo)
		}
		if hi != nil {
			v = math.Min(v, *hi)
		}
		return v
	}
	return math.NaN()
}

func bounds0(bounds []float64) float64 {
	if len(bounds) == 0 {
		return 0
	}
	return bounds[0]
}

func temporality(t metricpb.AggregationTemporality) string {
	switch t {
	case metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA:
		return "delta"
	case metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE:
		return "cumulative"
	}
	return "unspecified"
}

// emit finishes an event: its time is the point's, and a point holding a
// NaN or an infinity is rejected, because neither can be stored as JSON nor
// aggregated meaningfully.
func (c *converter) emit(m *metricpb.Metric, f map[string]any, tsNano uint64, p proto.Message) {
	for k, v := range f {
		if x, ok := v.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
			c.reject(p, fmt.Sprintf("metric %s: %s is %v", m.GetName(), k, x))
			return
		}
	}
	e := &event.Event{Source: c.src, Fields: f}
	if tsNano > 0 && tsNano <= math.MaxInt64 {
		e.Time = time.Unix(0, int64(tsNano)).UTC()
	}
	e.Raw, _ = json.Marshal(f)
	c.out.events = append(c.out.events, e)
}

func (c *converter) reject(m proto.Message, reason string) {
	raw, _ := protojson.Marshal(m)
	c.out.rejected = append(c.out.rejected, event.Rejected{Time: c.now, Source: c.src, Raw: raw[:min(len(raw), MaxRaw)], Reason: reason})
}

// putAttrs adds OTLP attributes to f under their own keys: a key-value list
// is flattened with dots like a nested JSON object, an array becomes []any,
// bytes become base64 text and integers float64, as in every other event.
func putAttrs(f map[string]any, prefix string, attrs []*commonpb.KeyValue) {
	for _, kv := range attrs {
		k := prefix + kv.GetKey()
		if l, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_KvlistValue); ok {
			putAttrs(f, k+".", l.KvlistValue.GetValues())
			continue
		}
		f[k] = anyValue(kv.GetValue())
	}
}

func anyValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return float64(x.IntValue)
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		out := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, el := range x.ArrayValue.GetValues() {
			out = append(out, anyValue(el))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		m := map[string]any{}
		putAttrs(m, "", x.KvlistValue.GetValues())
		return m
	}
	return nil
}
