package agg

import "math"

// Avg is the arithmetic mean of the values; NaN when none were pushed.
type Avg struct{ floats } // sum, n

// NewAvg returns an empty Avg column.
func NewAvg() *Avg { return &Avg{newFloats(0, 0)} }

// Push adds v.
func (c *Avg) Push(s int32, v float64, _ int64) {
	x := c.at(s)
	x[0] += v
	x[1]++
}

// Remove takes back v.
func (c *Avg) Remove(s int32, v float64, _ int64) {
	x := c.at(s)
	x[0] -= v
	x[1]--
}

// Value returns the mean.
func (c *Avg) Value(s int32) float64 {
	x := c.at(s)
	if x[1] == 0 {
		return math.NaN()
	}
	return x[0] / x[1]
}

// Merge adds src's sum and count to dst's.
func (c *Avg) Merge(dst, src int32) {
	d, x := c.at(dst), c.at(src)
	d[0] += x[0]
	d[1] += x[1]
}

var (
	_ Column  = (*Avg)(nil)
	_ Remover = (*Avg)(nil)
)
