package agg

import "math"

// Ratio is the fraction of events for which a condition held, 0..1. Every
// event pushes 1 (held) or 0 (did not, or could not be evaluated). NaN when
// no event was pushed.
type Ratio struct{ floats } // match, all

// NewRatio returns an empty Ratio column.
func NewRatio() *Ratio { return &Ratio{newFloats(0, 0)} }

// Push adds one event; v is 1 when the condition held.
func (c *Ratio) Push(s int32, v float64, _ int64) {
	x := c.at(s)
	x[0] += v
	x[1]++
}

// Remove takes back one event.
func (c *Ratio) Remove(s int32, v float64, _ int64) {
	x := c.at(s)
	x[0] -= v
	x[1]--
}

// Value returns matching/all.
func (c *Ratio) Value(s int32) float64 {
	x := c.at(s)
	if x[1] == 0 {
		return math.NaN()
	}
	return x[0] / x[1]
}

// Merge adds src's counts to dst's.
func (c *Ratio) Merge(dst, src int32) {
	d, x := c.at(dst), c.at(src)
	d[0] += x[0]
	d[1] += x[1]
}

var (
	_ Column  = (*Ratio)(nil)
	_ Remover = (*Ratio)(nil)
)
