package agg

// Count counts events: count() pushes 1 per event, count(cond) pushes 1 when
// cond holds and 0 otherwise, so summing the pushes counts the matches.
// Zero when nothing was pushed.
type Count struct{ n float64 }

// Push adds v (1 or 0).
func (c *Count) Push(v float64, _ int64) { c.n += v }

// Value returns the count.
func (c *Count) Value() float64 { return c.n }

// Reset sets the count to zero.
func (c *Count) Reset() { c.n = 0 }

var _ State = (*Count)(nil)
