package agg

// Batcher is implemented by columns that fold a batch of observations in one
// call: vals[i] goes into slot slots[i], in order. The window engine hands a
// whole ingest batch to each column this way: one call per column instead of
// one per event, and a loop whose iterations do not depend on each other, so
// the CPU overlaps the cache misses of slots far apart (a million groups).
// It is the same as calling Push for each pair; only time-blind columns
// implement it.
type Batcher interface {
	PushBatch(slots []int32, vals []float64)
}

// Toucher is implemented by columns outside the Arena whose slot state is
// worth reading ahead (see Arena.Touch): Touch reads slot s's state and
// returns something of it.
type Toucher interface {
	Touch(s int32) float64
}

// Touch reads slot s's count and first exact value.
func (c *Quantile) Touch(s int32) float64 {
	return float64(c.n[s]) + c.exact[int(s)*quantileExact]
}

// PushBatch folds vals into slots. Times are not passed: only columns that
// ignore them implement it.
func (c *Count) PushBatch(slots []int32, vals []float64) {
	v, st, off := c.a.v, c.a.stride, c.off
	for i, s := range slots {
		v[int(s)*st+off] += vals[i]
	}
}

// PushBatch folds vals into slots.
func (c *Sum) PushBatch(slots []int32, vals []float64) {
	v, st, off := c.a.v, c.a.stride, c.off
	for i, s := range slots {
		v[int(s)*st+off] += vals[i]
	}
}

// PushBatch folds vals into slots.
func (c *Avg) PushBatch(slots []int32, vals []float64) { c.pushSumCount(slots, vals) }

// PushBatch folds vals (1 or 0) into slots.
func (c *Ratio) PushBatch(slots []int32, vals []float64) { c.pushSumCount(slots, vals) }

// pushSumCount adds each value to its slot's sum and 1 to its count: the
// two numbers avg and ratio keep.
func (f *floats) pushSumCount(slots []int32, vals []float64) {
	v, st, off := f.a.v, f.a.stride, f.off
	for i, s := range slots {
		j := int(s)*st + off
		x := v[j : j+2 : j+2]
		x[0] += vals[i]
		x[1]++
	}
}

// PushBatch folds vals into slots.
func (c *Max) PushBatch(slots []int32, vals []float64) {
	v, st, off := c.a.v, c.a.stride, c.off
	for i, s := range slots {
		if x, j := vals[i], int(s)*st+off; !(x <= v[j]) {
			v[j] = x
		}
	}
}

// PushBatch folds vals into slots.
func (c *Min) PushBatch(slots []int32, vals []float64) {
	v, st, off := c.a.v, c.a.stride, c.off
	for i, s := range slots {
		if x, j := vals[i], int(s)*st+off; !(x >= v[j]) {
			v[j] = x
		}
	}
}

// PushBatch folds vals into slots.
func (c *Quantile) PushBatch(slots []int32, vals []float64) {
	for i, s := range slots {
		c.Push(s, vals[i], 0)
	}
}

var (
	_ Batcher = (*Count)(nil)
	_ Batcher = (*Sum)(nil)
	_ Batcher = (*Avg)(nil)
	_ Batcher = (*Ratio)(nil)
	_ Batcher = (*Max)(nil)
	_ Batcher = (*Min)(nil)
	_ Batcher = (*Quantile)(nil)
	_ Toucher = (*Quantile)(nil)
)
