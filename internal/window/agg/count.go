package agg

// Count counts events (count()) or events for which a condition held
// (count(cond)): each push adds its value, 1 or 0. Zero when nothing was
// pushed.
type Count struct{ floats }

// NewCount returns an empty Count column.
func NewCount() *Count { return &Count{newFloats(0)} }

// Push adds v (1 or 0).
func (c *Count) Push(s int32, v float64, _ int64) { *c.p(s) += v }

// Remove takes back v.
func (c *Count) Remove(s int32, v float64, _ int64) { *c.p(s) -= v }

// Value returns the count.
func (c *Count) Value(s int32) float64 { return *c.p(s) }

// Merge adds src's count to dst's.
func (c *Count) Merge(dst, src int32) { *c.p(dst) += *c.p(src) }

var (
	_ Column  = (*Count)(nil)
	_ Remover = (*Count)(nil)
)
