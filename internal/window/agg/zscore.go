package agg

import "math"

// ZScore is (last(x) − avg(x)) / stddev(x) over the window: how many
// population standard deviations the latest value lies from the mean. NaN
// with fewer than two values or when stddev is 0 (every value equal), since
// then "how unusual" has no answer.
type ZScore struct {
	last Last
	w    welford
}

// NewZScore returns an empty ZScore.
func NewZScore() *ZScore { return &ZScore{last: Last{v: math.NaN()}} }

// Push adds v observed at time t (Unix ns).
func (z *ZScore) Push(v float64, t int64) {
	z.last.Push(v, t)
	z.w.add(v)
}

// Value returns the z-score of the latest value.
func (z *ZScore) Value() float64 {
	if z.w.n < 2 {
		return math.NaN()
	}
	sd := z.w.stddev()
	if sd == 0 {
		return math.NaN()
	}
	return (z.last.v - z.w.mean) / sd
}

// Reset forgets all values.
func (z *ZScore) Reset() {
	z.last.Reset()
	z.w = welford{}
}

var _ State = (*ZScore)(nil)
