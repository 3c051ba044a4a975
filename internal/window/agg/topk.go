package agg

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/lookout-dev/lookout/internal/event"
)

// TopK finds the most frequent values of its argument with the Space-Saving
// heavy-hitters sketch: each slot tracks at most max(4k, 16) items; a new
// item, when the slot is full, replaces the least frequent one and inherits
// its count (so counts are upper estimates, over by at most that inherited
// count). While a window has no more distinct values than that, the counts
// are exact. The window value of topk(x, k) is the count of the top item;
// the top k items are in the emitted window's Top. Panes merge as mergeable
// summaries (Agarwal et al., 2012). Zero when nothing was pushed.
type TopK struct {
	k, m int
	sets []*topSet
	pool []*topSet
}

type topSet struct{ items []topItem }

type topItem struct {
	key string
	n   float64
}

// NewTopK returns an empty TopK column for the top k items.
func NewTopK(k int) *TopK { return &TopK{k: k, m: max(4*k, 16)} }

// Grow makes slots [0, n) usable.
func (c *TopK) Grow(n int) {
	for len(c.sets) < n {
		c.sets = append(c.sets, nil)
	}
}

// Push adds a number, as its shortest decimal text.
func (c *TopK) Push(s int32, v float64, _ int64) {
	if v != v {
		return
	}
	c.PushString(s, formatNumber(v))
}

func (c *TopK) set(s int32) *topSet {
	t := c.sets[s]
	if t == nil {
		if k := len(c.pool); k > 0 {
			t, c.pool = c.pool[k-1], c.pool[:k-1]
		} else {
			t = &topSet{}
		}
		c.sets[s] = t
	}
	return t
}

// PushString adds a string.
func (c *TopK) PushString(s int32, v string) { c.add(c.set(s), v, 1) }

func (c *TopK) add(t *topSet, key string, n float64) {
	for i := range t.items {
		if t.items[i].key == key {
			t.items[i].n += n
			return
		}
	}
	if len(t.items) < c.m {
		t.items = append(t.items, topItem{key, n})
		return
	}
	lo := 0
	for i := range t.items {
		if t.items[i].n < t.items[lo].n {
			lo = i
		}
	}
	t.items[lo] = topItem{key, t.items[lo].n + n}
}

// sorted returns the items heaviest first, ties by item.
func (t *topSet) sorted() []topItem {
	out := slices.Clone(t.items)
	slices.SortFunc(out, func(a, b topItem) int {
		switch {
		case a.n > b.n:
			return -1
		case a.n < b.n:
			return 1
		}
		return compareStrings(a.key, b.key)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Value returns the count of the top item.
func (c *TopK) Value(s int32) float64 {
	t := c.sets[s]
	if t == nil || len(t.items) == 0 {
		return 0
	}
	top := 0.0
	for _, it := range t.items {
		top = math.Max(top, it.n)
	}
	return top
}

// Top returns the k heaviest items of slot s.
func (c *TopK) Top(s int32) []event.TopItem {
	t := c.sets[s]
	if t == nil {
		return nil
	}
	items := t.sorted()
	out := make([]event.TopItem, 0, min(c.k, len(items)))
	for _, it := range items[:min(c.k, len(items))] {
		out = append(out, event.TopItem{Item: it.key, Count: it.n})
	}
	return out
}

// Reset empties slot s.
func (c *TopK) Reset(s int32) {
	if t := c.sets[s]; t != nil {
		clear(t.items)
		t.items = t.items[:0]
		c.pool = append(c.pool, t)
		c.sets[s] = nil
	}
}

// Merge folds src into dst. An item tracked by one side only gets the other
// side's smallest count added when that side was full (it may have been
// evicted there), which keeps every count an upper estimate.
func (c *TopK) Merge(dst, src int32) {
	x := c.sets[src]
	if x == nil || len(x.items) == 0 {
		return
	}
	d := c.set(dst)
	minOf := func(t *topSet) float64 {
		if len(t.items) < c.m {
			return 0
		}
		lo := math.Inf(1)
		for _, it := range t.items {
			lo = math.Min(lo, it.n)
		}
		return lo
	}
	minD, minX := minOf(d), minOf(x)
	merged := make([]topItem, 0, len(d.items)+len(x.items))
	for _, it := range d.items {
		n := minX
		for _, o := range x.items {
			if o.key == it.key {
				n = o.n
				break
			}
		}
		merged = append(merged, topItem{it.key, it.n + n})
	}
	for _, o := range x.items {
		if !slices.ContainsFunc(d.items, func(it topItem) bool { return it.key == o.key }) {
			merged = append(merged, topItem{o.key, o.n + minD})
		}
	}
	d.items = merged
	if len(d.items) > c.m {
		d.items = d.sorted()[:c.m]
	}
}

// AppendState appends slot s.
func (c *TopK) AppendState(b []byte, s int32) []byte {
	t := c.sets[s]
	if t == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(t.items)))
	for _, it := range t.items {
		b = binary.AppendUvarint(b, uint64(len(it.key)))
		b = appendF64(append(b, it.key...), it.n)
	}
	return b
}

// ReadState restores slot s.
func (c *TopK) ReadState(b []byte, s int32) ([]byte, error) {
	n, b, err := readUvarint(b)
	if err != nil || n > uint64(c.m) {
		return nil, errShort
	}
	if n == 0 {
		return b, nil
	}
	t := c.set(s)
	for range n {
		var key string
		if key, b, err = readString(b); err != nil || len(b) < 8 {
			return nil, errShort
		}
		var v float64
		v, b = readF64(b)
		t.items = append(t.items, topItem{key, v})
	}
	return b, nil
}

var (
	_ Column       = (*TopK)(nil)
	_ StringColumn = (*TopK)(nil)
	_ Topper       = (*TopK)(nil)
)
