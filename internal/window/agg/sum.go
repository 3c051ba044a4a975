package agg

// Sum adds the values. Zero when none were pushed, because "nothing summed"
// is a meaningful total (no bytes sent), unlike an average of nothing.
type Sum struct{ floats }

// NewSum returns an empty Sum column.
func NewSum() *Sum { return &Sum{newFloats(0)} }

// Push adds v.
func (c *Sum) Push(s int32, v float64, _ int64) { *c.p(s) += v }

// Remove takes back v.
func (c *Sum) Remove(s int32, v float64, _ int64) { *c.p(s) -= v }

// Value returns the sum.
func (c *Sum) Value(s int32) float64 { return *c.p(s) }

// Merge adds src's sum to dst's.
func (c *Sum) Merge(dst, src int32) { *c.p(dst) += *c.p(src) }

var (
	_ Column  = (*Sum)(nil)
	_ Remover = (*Sum)(nil)
)
