package agg

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
)

// DefaultPrecision is distinct's HyperLogLog precision p when the call does
// not give one: 2^12 = 4096 one-byte registers, a standard error of
// 1.04/√4096 ≈ 1.6%.
const DefaultPrecision = 12

// distinctExact is how many distinct hashes a slot keeps as a sorted list
// before switching to the HyperLogLog registers; up to there the count is
// exact (barring 64-bit hash collisions) and costs 8 bytes a value instead
// of 2^p bytes.
const distinctExact = 128

// Distinct counts distinct values, numbers and strings alike (the number 5
// and the string "5" are different values; -0 and +0 are the same; NaN is
// skipped). Up to 128 distinct values a slot is exact; beyond, it is a
// HyperLogLog with 2^precision registers (precision 12 by default: about
// 1.6% standard error, 4 KiB a slot). distinct(x, p) picks another precision
// from 4 to 16. Zero when nothing was pushed.
type Distinct struct {
	p    uint8
	sets []*hll // nil: empty slot
	pool []*hll
}

// hll is one slot's state: a sorted set of hashes, or registers once reg is
// set.
type hll struct {
	hashes []uint64
	reg    []uint8
}

// NewDistinct returns an empty Distinct column with 2^precision registers.
func NewDistinct(precision int) *Distinct { return &Distinct{p: uint8(precision)} }

// Grow makes slots [0, n) usable.
func (c *Distinct) Grow(n int) {
	for len(c.sets) < n {
		c.sets = append(c.sets, nil)
	}
}

// Push adds a number.
func (c *Distinct) Push(s int32, v float64, _ int64) {
	if v != v { // NaN never equals itself: not a value to count
		return
	}
	if v == 0 {
		v = 0 // -0 and +0 are the same value
	}
	c.add(s, mix64(math.Float64bits(v)))
}

// PushString adds a string.
func (c *Distinct) PushString(s int32, v string) { c.add(s, hashString(v)) }

func (c *Distinct) set(s int32) *hll {
	h := c.sets[s]
	if h == nil {
		if k := len(c.pool); k > 0 {
			h, c.pool = c.pool[k-1], c.pool[:k-1]
		} else {
			h = &hll{}
		}
		c.sets[s] = h
	}
	return h
}

func (c *Distinct) add(s int32, x uint64) {
	h := c.set(s)
	if h.reg != nil {
		h.addReg(x, c.p)
		return
	}
	i, found := slices.BinarySearch(h.hashes, x)
	if found {
		return
	}
	h.hashes = slices.Insert(h.hashes, i, x)
	if len(h.hashes) > distinctExact {
		h.reg = make([]uint8, 1<<c.p)
		for _, y := range h.hashes {
			h.addReg(y, c.p)
		}
		h.hashes = h.hashes[:0]
	}
}

func (h *hll) addReg(x uint64, p uint8) {
	i := x >> (64 - p)
	rho := uint8(bits.LeadingZeros64(x<<p|1<<(p-1)) + 1)
	if rho > h.reg[i] {
		h.reg[i] = rho
	}
}

// Value returns the number of distinct values.
func (c *Distinct) Value(s int32) float64 {
	h := c.sets[s]
	switch {
	case h == nil:
		return 0
	case h.reg == nil:
		return float64(len(h.hashes))
	}
	m := float64(len(h.reg))
	sum, zeros := 0.0, 0
	for _, r := range h.reg {
		sum += 1 / float64(uint64(1)<<r)
		if r == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros)) // linear counting for the small range
	}
	return math.Round(e)
}

// Reset empties slot s.
func (c *Distinct) Reset(s int32) {
	h := c.sets[s]
	if h == nil {
		return
	}
	c.sets[s] = nil
	h.hashes = h.hashes[:0]
	h.reg = nil
	if cap(h.hashes) > 16 {
		h.hashes = nil
	}
	c.pool = append(c.pool, h)
}

// Merge folds src into dst: union of the sets, or register-wise maximum.
func (c *Distinct) Merge(dst, src int32) {
	x := c.sets[src]
	if x == nil {
		return
	}
	for _, y := range x.hashes {
		c.add(dst, y)
	}
	if x.reg != nil {
		d := c.set(dst)
		if d.reg == nil {
			d.reg = make([]uint8, len(x.reg))
			for _, y := range d.hashes {
				d.addReg(y, c.p)
			}
			d.hashes = d.hashes[:0]
		}
		for i, r := range x.reg {
			d.reg[i] = max(d.reg[i], r)
		}
	}
}

// AppendState appends slot s.
func (c *Distinct) AppendState(b []byte, s int32) []byte {
	h := c.sets[s]
	switch {
	case h == nil:
		return append(b, 0)
	case h.reg != nil:
		return append(append(b, 2), h.reg...)
	}
	b = binary.AppendUvarint(append(b, 1), uint64(len(h.hashes)))
	for _, x := range h.hashes {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b
}

// ReadState restores slot s.
func (c *Distinct) ReadState(b []byte, s int32) ([]byte, error) {
	if len(b) < 1 {
		return nil, errShort
	}
	kind, b := b[0], b[1:]
	switch kind {
	case 0:
		return b, nil
	case 2:
		n := 1 << c.p
		if len(b) < n {
			return nil, errShort
		}
		c.set(s).reg = append([]uint8(nil), b[:n]...)
		return b[n:], nil
	}
	n, b, err := readUvarint(b)
	if err != nil || uint64(len(b)) < 8*n {
		return nil, errShort
	}
	for range n {
		c.add(s, binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	return b, nil
}

// mix64 is the murmur3 finaliser: it spreads the bits of x over the whole
// word, which HyperLogLog needs (it reads the top bits as the register and
// the rest's leading zeros). Fixed, so that snapshots stay valid across runs.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// hashString hashes a string with FNV-1a and mixes the result; a string tag
// keeps "5" apart from 5.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h ^ 0x5bd1e9955bd1e995)
}

// formatNumber is how number values are turned into items (topk).
func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

var (
	_ Column       = (*Distinct)(nil)
	_ StringColumn = (*Distinct)(nil)
)
