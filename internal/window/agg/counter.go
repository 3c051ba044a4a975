package agg

import "math"

// MaxSeries is how many series one rate or increase column follows at most.
// A sample of a series beyond it is not followed: it adds nothing, since
// without its series' previous sample there is no delta to add. It bounds
// memory against a label with unbounded values (a request id).
const MaxSeries = 1 << 20

// Counter is rate(x) and increase(x): how much a counter grew in the window,
// summed over the window group's series, and for rate that divided by the
// window's length in seconds.
//
// Every sample adds the delta from the previous sample of its series, which
// may lie in an earlier window: so nothing is lost between windows, and the
// increases of consecutive windows add up to the counter's whole increase.
// A value below the previous one is a counter reset, as in Prometheus: the
// counter restarted from 0, so the delta is the new value. A series' first
// sample adds nothing (there is nothing before it to compare with), and a
// sample not later than its series' latest one is left out, as Prometheus
// refuses out-of-order and duplicate samples.
//
// The per-slot state is two numbers, the summed deltas and how many there
// were (the value is NaN when there were none: no two samples of any series
// to compare); the latest sample of each series lives in the column, outside
// the slots, because it outlives the window it was in.
type Counter struct {
	floats
	rate bool
	secs float64 // the window's length in seconds, for rate

	index   map[string]int32 // series key → index into last
	last    []sample
	free    []int32
	dropped int64 // samples of series beyond MaxSeries
}

// sample is the latest sample of one series.
type sample struct {
	v float64
	t int64
}

// NewIncrease returns an empty increase column.
func NewIncrease() *Counter { return newCounter(false, 0) }

// NewRate returns an empty rate column for windows of secs seconds.
func NewRate(secs float64) *Counter { return newCounter(true, secs) }

func newCounter(rate bool, secs float64) *Counter {
	return &Counter{floats: newFloats(0, 0), rate: rate, secs: secs, index: map[string]int32{}}
}

// Push adds a sample of the one series that has no key: the group's.
func (c *Counter) Push(s int32, v float64, t int64) { c.PushSample(s, nil, v, t) }

// PushSample adds the sample v at time t (Unix ns) of the series named
// series to slot s: the delta from the series' previous sample, if it has
// one. series is only read during the call.
func (c *Counter) PushSample(s int32, series []byte, v float64, t int64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	i, ok := c.index[string(series)]
	if !ok {
		if len(c.index) >= MaxSeries {
			c.dropped++
			return
		}
		if n := len(c.free); n > 0 {
			i, c.free = c.free[n-1], c.free[:n-1]
			c.last[i] = sample{v, t}
		} else {
			i = int32(len(c.last))
			c.last = append(c.last, sample{v, t})
		}
		c.index[string(series)] = i
		return
	}
	p := &c.last[i]
	if t <= p.t {
		return
	}
	d := v - p.v
	if v < p.v {
		d = v // a reset: the counter started again from 0
	}
	p.v, p.t = v, t
	x := c.at(s)
	x[0] += d
	x[1]++
}

// Value returns the increase, or the rate per second; NaN when no series
// had two samples to compare.
func (c *Counter) Value(s int32) float64 {
	x := c.at(s)
	switch {
	case x[1] == 0:
		return math.NaN()
	case c.rate:
		return x[0] / c.secs
	}
	return x[0]
}

// Merge adds src's deltas to dst's: a window's increase is the sum of its
// panes'.
func (c *Counter) Merge(dst, src int32) {
	d, x := c.at(dst), c.at(src)
	d[0] += x[0]
	d[1] += x[1]
}

// Forget drops the series whose latest sample is older than before (Unix
// ns): series that stopped reporting, whose memory would otherwise grow
// with every series ever seen. A dropped series that comes back starts
// again from its first sample.
func (c *Counter) Forget(before int64) {
	for k, i := range c.index {
		if c.last[i].t < before {
			delete(c.index, k)
			c.free = append(c.free, i)
		}
	}
}

// Series returns how many series the column follows.
func (c *Counter) Series() int { return len(c.index) }

// Dropped returns how many samples were left out because their series
// would have been one beyond MaxSeries.
func (c *Counter) Dropped() int64 { return c.dropped }

// SeriesColumn is implemented by columns whose observations belong to
// series within a slot's group (rate, increase): the engine hands them each
// sample with its series key instead of calling Push.
type SeriesColumn interface {
	PushSample(s int32, series []byte, v float64, t int64)
	// Forget drops the series not seen since before (Unix ns).
	Forget(before int64)
}

var (
	_ Column       = (*Counter)(nil)
	_ SeriesColumn = (*Counter)(nil)
	_ Packer       = (*Counter)(nil)
)
