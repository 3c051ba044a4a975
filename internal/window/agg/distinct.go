package agg

// Distinct counts distinct values exactly, numbers and strings alike (the
// number 5 and the string "5" are different values). Its memory grows with
// the number of distinct values in a window; a HyperLogLog sketch with fixed
// memory and about 1% error replaces it later. Zero when nothing was pushed.
type Distinct struct {
	nums map[float64]struct{}
	strs map[string]struct{}
}

// NewDistinct returns an empty Distinct.
func NewDistinct() *Distinct {
	return &Distinct{nums: map[float64]struct{}{}, strs: map[string]struct{}{}}
}

// Push adds a number.
func (d *Distinct) Push(v float64, _ int64) {
	if v != v { // NaN never equals itself: a map would keep each one apart
		return
	}
	if v == 0 {
		v = 0 // -0 and +0 are the same value
	}
	d.nums[v] = struct{}{}
}

// PushString adds a string.
func (d *Distinct) PushString(s string) {
	if _, ok := d.strs[s]; !ok {
		d.strs[s] = struct{}{}
	}
}

// Value returns the number of distinct values.
func (d *Distinct) Value() float64 { return float64(len(d.nums) + len(d.strs)) }

// Reset forgets all values, keeping the maps' memory.
func (d *Distinct) Reset() {
	clear(d.nums)
	clear(d.strs)
}

var (
	_ State        = (*Distinct)(nil)
	_ StringPusher = (*Distinct)(nil)
)
