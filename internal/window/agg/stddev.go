package agg

import "math"

// Stddev is the population standard deviation of the values; NaN when none
// were pushed. It keeps Welford's running mean and sum of squared deviations,
// which stay accurate when the values are large and close together
// (latencies around an offset), where sum-of-squares minus square-of-sum
// would cancel catastrophically; panes merge with Chan's parallel formula.
type Stddev struct{ floats } // n, mean, m2

// NewStddev returns an empty Stddev column.
func NewStddev() *Stddev { return &Stddev{newFloats(0, 0, 0)} }

// Push adds v.
func (c *Stddev) Push(s int32, v float64, _ int64) { welfordAdd(c.at(s), v) }

// Remove takes back v (Welford in reverse). Rounding drifts slowly with
// many removals; the {count: N} engine recomputes from its ring every N
// removals.
func (c *Stddev) Remove(s int32, v float64, _ int64) { welfordRemove(c.at(s), v) }

// Value returns the population standard deviation.
func (c *Stddev) Value(s int32) float64 {
	x := c.at(s)
	if x[0] == 0 {
		return math.NaN()
	}
	return welfordStddev(x)
}

// Merge folds src's moments into dst's.
func (c *Stddev) Merge(dst, src int32) { welfordMerge(c.at(dst), c.at(src)) }

var (
	_ Column  = (*Stddev)(nil)
	_ Remover = (*Stddev)(nil)
)

// welford* work on [n, mean, m2].
func welfordAdd(w []float64, v float64) {
	w[0]++
	d := v - w[1]
	w[1] += d / w[0]
	w[2] += d * (v - w[1])
}

func welfordRemove(w []float64, v float64) {
	if w[0] <= 1 {
		w[0], w[1], w[2] = 0, 0, 0
		return
	}
	w[0]--
	d := v - w[1]
	w[1] -= d / w[0]
	w[2] -= d * (v - w[1])
}

func welfordMerge(d, x []float64) {
	if x[0] == 0 {
		return
	}
	if d[0] == 0 {
		copy(d, x)
		return
	}
	n := d[0] + x[0]
	delta := x[1] - d[1]
	d[1] += delta * x[0] / n
	d[2] += x[2] + delta*delta*d[0]*x[0]/n
	d[0] = n
}

// welfordStddev is the population standard deviation; callers check n > 0.
func welfordStddev(w []float64) float64 {
	v := w[2] / w[0]
	if v < 0 { // rounding can leave a tiny negative
		v = 0
	}
	return math.Sqrt(v)
}
