package agg

import "math"

// Max is the largest value; NaN when none were pushed.
type Max struct{ floats }

// NewMax returns an empty Max column.
func NewMax() *Max { return &Max{newFloats(math.NaN())} }

// Push adds v.
func (c *Max) Push(s int32, v float64, _ int64) {
	// !(v <= m) is also true while m is NaN (nothing seen yet).
	if !(v <= *c.p(s)) {
		*c.p(s) = v
	}
}

// Value returns the maximum.
func (c *Max) Value(s int32) float64 { return *c.p(s) }

// Merge keeps the larger maximum.
func (c *Max) Merge(dst, src int32) {
	if v := *c.p(src); !math.IsNaN(v) {
		c.Push(dst, v, 0)
	}
}

var _ Column = (*Max)(nil)
