package window

import "github.com/lookout-dev/lookout/internal/window/agg"

// ring holds the last N samples of one group of a {count: N} pipeline, with
// each aggregate's input already extracted, so the window can be updated on
// every event without keeping the events themselves. The group's slot holds
// the aggregate states over the ring: columns that can take a sample back
// (count, ratio, sum, avg, stddev) are updated in O(1) per event; the others
// (min, max, quantile, last, distinct, topk, zscore) are recomputed over
// the ring.
type ring struct {
	slot    int32
	t       []int64
	kinds   []uint8 // len(t) × inputs
	vals    []float64
	strs    []string // only when a column takes strings
	next    int      // the sample the next event overwrites once full
	removed int      // removals since the removable states were rebuilt
	minT    deque    // for the window's start and end without a scan
	maxT    deque
	seq     int64
}

// deque is a monotonic queue of (time, sequence number): the front is the
// extreme of the samples still in the ring, in O(1) amortized.
type deque struct {
	t    []int64
	seq  []int64
	head int
}

func (d *deque) push(t, seq int64, less func(a, b int64) bool) {
	for len(d.t) > d.head && !less(d.t[len(d.t)-1], t) {
		d.t, d.seq = d.t[:len(d.t)-1], d.seq[:len(d.seq)-1]
	}
	d.t, d.seq = append(d.t, t), append(d.seq, seq)
}

// evict drops the front when it is the sample with sequence number seq.
func (d *deque) evict(seq int64) {
	if d.head < len(d.t) && d.seq[d.head] == seq {
		d.head++
		if d.head > 64 && d.head*2 > len(d.t) {
			n := copy(d.t, d.t[d.head:])
			copy(d.seq, d.seq[d.head:])
			d.t, d.seq, d.head = d.t[:n], d.seq[:n], 0
		}
	}
}

func (d *deque) front() int64 { return d.t[d.head] }

func lessT(a, b int64) bool    { return a < b }
func greaterT(a, b int64) bool { return a > b }

// addSample adds one event to its group's ring and emits the window over the
// ring's samples. It reports whether the event went to the overflow group.
func (p *Pipeline) addSample(fields map[string]any, t int64) bool {
	g, of := p.group(fields)
	gr := &p.groups[g]
	if gr.ring < 0 {
		p.rings = append(p.rings, ring{slot: p.newSlot()})
		gr.ring = int32(len(p.rings) - 1)
		p.openWindows.Add(1)
	}
	r := &p.rings[gr.ring]
	ni := len(p.inputs)
	var at int
	full := len(r.t) == p.count
	if !full {
		at = len(r.t)
		r.t = append(r.t, t)
		r.kinds = append(r.kinds, make([]uint8, ni)...)
		r.vals = append(r.vals, make([]float64, ni)...)
		if p.hasStrings() {
			r.strs = append(r.strs, make([]string, ni)...)
		}
	} else {
		at = r.next
		r.next = (r.next + 1) % p.count
		old := r.seq - int64(p.count)
		r.minT.evict(old)
		r.maxT.evict(old)
		for i, c := range p.cols {
			if rm, ok := c.(agg.Remover); ok && r.kinds[at*ni+i] == kindNum {
				rm.Remove(r.slot, r.vals[at*ni+i], r.t[at])
			}
		}
		r.t[at] = t
		r.removed++
	}
	r.minT.push(t, r.seq, lessT)
	r.maxT.push(t, r.seq, greaterT)
	r.seq++
	for i := range p.inputs {
		k, v, s := p.extract(i, fields)
		r.kinds[at*ni+i], r.vals[at*ni+i] = k, v
		if r.strs != nil {
			r.strs[at*ni+i] = s
		}
	}
	rebuild := r.removed >= p.count // removals drift (stddev): start afresh now and then
	if rebuild {
		r.removed = 0
	}
	for i, c := range p.cols {
		if _, ok := c.(agg.Remover); ok && !rebuild {
			p.pushSample(r, i, at)
			continue
		}
		// Oldest first, so that last() among equal times is the newest sample.
		c.Reset(r.slot)
		n := len(r.t)
		for j := range n {
			p.pushSample(r, i, (r.next+j)%n)
		}
	}
	w := p.result(gr, r.slot, r.minT.front(), r.maxT.front(), int64(len(r.t)), false)
	p.emit(w)
	return of
}

// pushSample pushes input i of sample j into its column.
func (p *Pipeline) pushSample(r *ring, i, j int) {
	ni := len(p.inputs)
	switch r.kinds[j*ni+i] {
	case kindNum:
		p.cols[i].Push(r.slot, r.vals[j*ni+i], r.t[j])
	case kindStr:
		p.strCols[i].PushString(r.slot, r.strs[j*ni+i])
	}
}

func (p *Pipeline) hasStrings() bool {
	for _, c := range p.strCols {
		if c != nil {
			return true
		}
	}
	return false
}
