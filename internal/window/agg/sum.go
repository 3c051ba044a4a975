package agg

// Sum adds the values. Zero when none were pushed, because "nothing summed"
// is a meaningful total (no bytes sent), unlike an average of nothing.
type Sum struct{ s float64 }

// Push adds v.
func (s *Sum) Push(v float64, _ int64) { s.s += v }

// Value returns the sum.
func (s *Sum) Value() float64 { return s.s }

// Reset sets the sum to zero.
func (s *Sum) Reset() { s.s = 0 }

var _ State = (*Sum)(nil)
