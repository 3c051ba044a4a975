package agg

import (
	"encoding/binary"
	"math"
)

// Last is the value of the event with the latest time; among events with the
// same time the one pushed last wins, so a replay in arrival order gives the
// same answer. NaN when none were pushed.
type Last struct {
	v []float64
	t []int64 // math.MinInt64: nothing pushed
}

// NewLast returns an empty Last column.
func NewLast() *Last { return &Last{} }

// Grow makes slots [0, n) usable.
func (c *Last) Grow(n int) {
	for len(c.v) < n {
		c.v = append(c.v, math.NaN())
		c.t = append(c.t, math.MinInt64)
	}
}

// Push adds v observed at time t (Unix ns).
func (c *Last) Push(s int32, v float64, t int64) {
	if t >= c.t[s] {
		c.v[s], c.t[s] = v, t
	}
}

// Value returns the latest value.
func (c *Last) Value(s int32) float64 { return c.v[s] }

// Reset forgets slot s.
func (c *Last) Reset(s int32) { c.v[s], c.t[s] = math.NaN(), math.MinInt64 }

// Merge keeps the later of the two; on equal times src wins, since the
// engine merges panes oldest first.
func (c *Last) Merge(dst, src int32) {
	if c.t[src] != math.MinInt64 {
		c.Push(dst, c.v[src], c.t[src])
	}
}

// AppendState appends slot s.
func (c *Last) AppendState(b []byte, s int32) []byte {
	return binary.LittleEndian.AppendUint64(appendF64(b, c.v[s]), uint64(c.t[s]))
}

// ReadState restores slot s.
func (c *Last) ReadState(b []byte, s int32) ([]byte, error) {
	if len(b) < 16 {
		return nil, errShort
	}
	c.v[s], b = readF64(b)
	c.t[s] = int64(binary.LittleEndian.Uint64(b))
	return b[8:], nil
}

var _ Column = (*Last)(nil)
