package agg

import (
	"math"
	"slices"
)

// quantileExact is how many values a slot keeps as they are before a sketch
// takes over. Small windows (a few events per group) are then exact and cost
// no sketch at all; the values live inline in the column, 64 bytes a slot.
const quantileExact = 8

// Quantile estimates the q-quantile of the values the way DuckDB's
// quantile_cont defines it: at fractional rank h = q·(n−1) of the sorted
// values, linearly interpolated between the values at ranks ⌊h⌋ and ⌈h⌉, so
// that the p99 of a small window leans on its slowest event instead of
// ignoring it. Up to 8 values it is exact; beyond,
// it is answered by a compact DDSketch-style sketch within 1% relative
// error: for a true p99 of 200 ms it returns something between 198 and
// 202 ms. A slot's sketch holds only the buckets its values hit (8 bytes
// each, at most 2048). NaN and ±Inf are skipped. NaN when nothing was pushed.
type Quantile struct {
	q     float64
	n     []uint8   // values held exactly; quantileExact+1: the sketch holds them
	exact []float64 // quantileExact per slot
	sk    []int32   // index into sketches, 0: none
	// sketches are the spilled slots' sketches; sketches[0] is unused so that
	// the zero index means "none". Freed ones are kept for reuse.
	sketches []sketch
	free     []int32
	scratch  []float64
}

// NewQuantile returns an empty column answering the q-quantile, 0 < q < 1.
func NewQuantile(q float64) *Quantile { return &Quantile{q: q, sketches: make([]sketch, 1)} }

// Grow makes slots [0, n) usable.
func (c *Quantile) Grow(n int) {
	for len(c.n) < n {
		c.n = append(c.n, 0)
		c.sk = append(c.sk, 0)
		c.exact = slices.Grow(c.exact, quantileExact)
		c.exact = c.exact[:len(c.exact)+quantileExact] // a reused slot is reset through n
	}
}

// Push adds v.
func (c *Quantile) Push(s int32, v float64, _ int64) {
	if v != v || math.IsInf(v, 0) {
		return
	}
	if n := c.n[s]; n < quantileExact {
		c.exact[int(s)*quantileExact+int(n)] = v
		c.n[s]++
		return
	}
	c.spill(s).add(v)
}

// spill moves slot s's exact values into a sketch, once, and returns it.
func (c *Quantile) spill(s int32) *sketch {
	if c.n[s] > quantileExact {
		return &c.sketches[c.sk[s]]
	}
	var i int32
	if k := len(c.free); k > 0 {
		i, c.free = c.free[k-1], c.free[:k-1]
	} else {
		c.sketches = append(c.sketches, sketch{})
		i = int32(len(c.sketches) - 1)
	}
	c.sk[s] = i
	sk := &c.sketches[i]
	for _, v := range c.exact[int(s)*quantileExact : int(s)*quantileExact+int(c.n[s])] {
		sk.add(v)
	}
	c.n[s] = quantileExact + 1
	return sk
}

// Value returns the quantile.
func (c *Quantile) Value(s int32) float64 {
	n := int(c.n[s])
	if n > quantileExact {
		return c.sketches[c.sk[s]].quantile(c.q)
	}
	if n == 0 {
		return math.NaN()
	}
	c.scratch = append(c.scratch[:0], c.exact[int(s)*quantileExact:int(s)*quantileExact+n]...)
	slices.Sort(c.scratch)
	return interpolate(c.scratch, c.q)
}

// interpolate is quantile_cont over sorted values: the value at fractional
// rank q·(n−1), linear between its two neighbouring order statistics.
func interpolate(sorted []float64, q float64) float64 {
	h := q * float64(len(sorted)-1)
	lo := int(h)
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// Reset empties slot s; its sketch goes back to the pool.
func (c *Quantile) Reset(s int32) {
	if c.n[s] > quantileExact {
		i := c.sk[s]
		c.sketches[i].reset()
		if cap(c.sketches[i].b) > 64 {
			c.sketches[i].b = nil // do not let one wide window pin memory
		}
		c.free = append(c.free, i)
		c.sk[s] = 0
	}
	c.n[s] = 0
}

// Merge folds src into dst.
func (c *Quantile) Merge(dst, src int32) {
	ns := int(c.n[src])
	if ns > quantileExact {
		c.spill(dst).merge(&c.sketches[c.sk[src]])
		return
	}
	for _, v := range c.exact[int(src)*quantileExact : int(src)*quantileExact+ns] {
		c.Push(dst, v, 0)
	}
}

// AppendState appends slot s.
func (c *Quantile) AppendState(b []byte, s int32) []byte {
	n := c.n[s]
	b = append(b, n)
	if n > quantileExact {
		return c.sketches[c.sk[s]].appendTo(b)
	}
	for _, v := range c.exact[int(s)*quantileExact : int(s)*quantileExact+int(n)] {
		b = appendF64(b, v)
	}
	return b
}

// ReadState restores slot s.
func (c *Quantile) ReadState(b []byte, s int32) ([]byte, error) {
	if len(b) < 1 {
		return nil, errShort
	}
	n := b[0]
	b = b[1:]
	if n > quantileExact {
		c.n[s] = 0 // spill then copies no stale exact values
		return c.spill(s).read(b)
	}
	if len(b) < 8*int(n) {
		return nil, errShort
	}
	for range n {
		var v float64
		v, b = readF64(b)
		c.Push(s, v, 0)
	}
	return b, nil
}

var _ Column = (*Quantile)(nil)
