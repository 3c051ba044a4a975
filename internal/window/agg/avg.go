package agg

import "math"

// Avg is the arithmetic mean of the values; NaN when none were pushed.
type Avg struct{ sum, n float64 }

// Push adds v.
func (a *Avg) Push(v float64, _ int64) {
	a.sum += v
	a.n++
}

// Value returns the mean.
func (a *Avg) Value() float64 {
	if a.n == 0 {
		return math.NaN()
	}
	return a.sum / a.n
}

// Reset forgets all values.
func (a *Avg) Reset() { *a = Avg{} }

var _ State = (*Avg)(nil)
