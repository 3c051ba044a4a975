package agg

import "math"

// Max is the largest value; NaN when none were pushed.
type Max struct{ m float64 }

// NewMax returns an empty Max.
func NewMax() *Max { return &Max{m: math.NaN()} }

// Push adds v.
func (m *Max) Push(v float64, _ int64) {
	// !(v <= m.m) is also true while m.m is NaN (nothing seen yet).
	if !(v <= m.m) {
		m.m = v
	}
}

// Value returns the maximum.
func (m *Max) Value() float64 { return m.m }

// Reset forgets all values.
func (m *Max) Reset() { m.m = math.NaN() }

var _ State = (*Max)(nil)
