package agg

import "math"

// Stddev is the population standard deviation of the values; NaN when none
// were pushed. It uses Welford's online update, which stays accurate when the
// values are large and close together (latencies around an offset), where
// sum-of-squares minus square-of-sum would cancel catastrophically.
type Stddev struct{ w welford }

// Push adds v.
func (s *Stddev) Push(v float64, _ int64) { s.w.add(v) }

// Value returns the population standard deviation.
func (s *Stddev) Value() float64 {
	if s.w.n == 0 {
		return math.NaN()
	}
	return s.w.stddev()
}

// Reset forgets all values.
func (s *Stddev) Reset() { s.w = welford{} }

var _ State = (*Stddev)(nil)

// welford keeps a running mean and sum of squared deviations.
type welford struct{ n, mean, m2 float64 }

func (w *welford) add(v float64) {
	w.n++
	d := v - w.mean
	w.mean += d / w.n
	w.m2 += d * (v - w.mean)
}

// stddev is the population standard deviation; callers check n > 0.
func (w *welford) stddev() float64 {
	v := w.m2 / w.n
	if v < 0 { // rounding can leave a tiny negative
		v = 0
	}
	return math.Sqrt(v)
}
