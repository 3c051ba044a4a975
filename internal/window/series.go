package window

import (
	"slices"
	"strings"
)

// Counters (rate, increase) follow series within a group. An event is a
// sample when its field metric is a string, as the Prometheus text format,
// remote write and OTLP metrics make it: its series is the group, metric and
// every other field except those holding the sample's values (valueField,
// and the fields the aggregate's argument reads), which are its labels and
// attributes. Any other event's series is its group: the group is one
// counter.

// valueField reports whether a field of a sample holds one of its values
// rather than a label: value (Prometheus, remote write, OTLP gauges and
// sums), and the statistics of OTLP histogram and summary points (count,
// sum, avg, min, max, the buckets le_*, the quantiles p50, p90, p99 and
// q<quantile>), which change from sample to sample of one series.
func valueField(k string) bool {
	switch k {
	case "value", "count", "sum", "avg", "min", "max", "p50", "p90", "p99":
		return true
	}
	return strings.HasPrefix(k, "le_") || len(k) > 1 && k[0] == 'q' && k[1] >= '0' && k[1] <= '9'
}

// seriesKey returns the series key of an event in slot s for a counter
// whose argument reads args; valid until the next call.
func (p *Pipeline) seriesKey(s int32, args []string, fields map[string]any) []byte {
	group := p.groups[p.panes[s].g].key
	metric, ok := fields["metric"].(string)
	if !ok {
		// 0, 0 never starts a sample's key (appendKey follows a 0 with
		// 0xff or 1), so a group cannot be taken for a sample's series.
		p.seriesBuf = append(append(p.seriesBuf[:0], 0, 0), group...)
		return p.seriesBuf
	}
	labels := p.seriesLabels[:0]
	for k, v := range fields {
		if k == "metric" || valueField(k) || slices.Contains(args, k) {
			continue
		}
		labels = append(labels, label{k, v})
	}
	slices.SortFunc(labels, func(a, b label) int { return strings.Compare(a.name, b.name) })
	buf := appendKeyString(p.seriesBuf[:0], group)
	buf = appendKeyString(buf, metric)
	for _, l := range labels {
		buf = appendKeyString(buf, l.name)
		if v, ok := l.v.(string); ok {
			buf = appendKeyString(buf, v)
			continue
		}
		p.seriesVal = appendValue(p.seriesVal[:0], l.v)
		buf = appendKey(buf, p.seriesVal)
	}
	clear(labels) // hold no event's values
	p.seriesLabels, p.seriesBuf = labels[:0], buf
	return buf
}

// label is one label of a sample, while its series key is built.
type label struct {
	name string
	v    any
}

// appendKeyString is appendKey of a string, without converting it.
func appendKeyString(buf []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == 0 {
			buf = append(buf, 0, 0xff)
		} else {
			buf = append(buf, c)
		}
	}
	return append(buf, 0, 1)
}

// forgetSeries drops, from every counter column, the series that sent no
// sample for max(idle_timeout, window size + update_for): those that stopped
// reporting, as groups without events are dropped. Sweeping every series
// costs a pass over them all, so it runs once per half of that time.
func (p *Pipeline) forgetSeries() {
	if !p.hasSeries {
		return
	}
	horizon := max(p.idle, p.size+p.keep)
	if p.closed-p.lastForget < horizon/2 {
		return
	}
	p.lastForget = p.closed
	for _, c := range p.seriesCols {
		if c != nil {
			c.Forget(p.closed - horizon)
		}
	}
}
