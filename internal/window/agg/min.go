package agg

import "math"

// Min is the smallest value; NaN when none were pushed.
type Min struct{ floats }

// NewMin returns an empty Min column.
func NewMin() *Min { return &Min{newFloats(math.NaN())} }

// Push adds v.
func (c *Min) Push(s int32, v float64, _ int64) {
	// !(v >= m) is also true while m is NaN (nothing seen yet).
	if !(v >= *c.p(s)) {
		*c.p(s) = v
	}
}

// Value returns the minimum.
func (c *Min) Value(s int32) float64 { return *c.p(s) }

// Merge keeps the smaller minimum.
func (c *Min) Merge(dst, src int32) {
	if v := *c.p(src); !math.IsNaN(v) {
		c.Push(dst, v, 0)
	}
}

var _ Column = (*Min)(nil)
