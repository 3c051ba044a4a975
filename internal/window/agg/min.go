package agg

import "math"

// Min is the smallest value; NaN when none were pushed.
type Min struct{ m float64 }

// NewMin returns an empty Min.
func NewMin() *Min { return &Min{m: math.NaN()} }

// Push adds v.
func (m *Min) Push(v float64, _ int64) {
	// !(v >= m.m) is also true while m.m is NaN (nothing seen yet).
	if !(v >= m.m) {
		m.m = v
	}
}

// Value returns the minimum.
func (m *Min) Value() float64 { return m.m }

// Reset forgets all values.
func (m *Min) Reset() { m.m = math.NaN() }

var _ State = (*Min)(nil)
