package window

import (
	"math"

	"github.com/lookout-dev/lookout/internal/window/agg"
)

// baseline is one baseline aggregate (zscore, ewma, mad_score, change,
// rel_change in time windows): a function of the window's own value x and
// the group's values in its earlier windows.
type baseline struct {
	fn     *agg.Baseline
	params []float64
	ref    int // x is the value of this earlier output, or -1
	hidden int // otherwise x is this hidden input's value (avg of the argument)
}

// history is one group's last baseN windows: their end, each baseline's x
// and the state its function returned (ewma's smoothed value), oldest first
// in a ring.
type history struct {
	ends  []int64
	xs    []float64 // len(ends) × number of baselines
	state []float64
	next  int // the entry the next window overwrites once full
	last  int64
	buf   []float64
	pend  []float64 // states computed for the window being emitted
}

// history returns the group's history, creating it; nil when the pipeline
// already keeps max_groups histories and none could be expired.
func (p *Pipeline) history(key string) *history {
	if h := p.hist[key]; h != nil {
		return h
	}
	if len(p.hist) >= p.maxGroups {
		p.expireHistories()
		if len(p.hist) >= p.maxGroups {
			return nil
		}
	}
	h := &history{}
	p.hist[key] = h
	return h
}

// expireHistories forgets the baselines of groups without a window in the
// last 2·baseline window sizes: a group back after that long starts cold.
// (Histories of {count: N} groups are never expired: their groups never are.)
func (p *Pipeline) expireHistories() {
	if p.count > 0 || p.closed == minInt64 {
		return
	}
	horizon := p.closed - 2*int64(p.baseN)*p.size
	for k, h := range p.hist {
		if h.last < horizon {
			delete(p.hist, k)
		}
	}
}

// entries returns the ring's indexes, oldest first, of windows ending
// before end.
func (h *history) entries(end int64, baseN int) func(yield func(int) bool) {
	return func(yield func(int) bool) {
		n := len(h.ends)
		start := 0
		if n == baseN {
			start = h.next
		}
		for k := range n {
			i := (start + k) % n
			if h.ends[i] < end && !yield(i) {
				return
			}
		}
	}
}

// evalBaseline computes baseline b for the window ending at end with value x.
func (p *Pipeline) evalBaseline(h *history, b int, x float64, end int64) float64 {
	bl := &p.baselines[b]
	if h == nil || math.IsNaN(x) && bl.fn != nil && bl.fn.NeedsHistory {
		return math.NaN()
	}
	nb := len(p.baselines)
	vals := h.buf[:0]
	prev := math.NaN()
	for i := range h.entries(end, p.baseN) {
		if v := h.xs[i*nb+b]; !math.IsNaN(v) {
			vals = append(vals, v)
		}
		prev = h.state[i*nb+b]
	}
	h.buf = vals
	v, st := bl.fn.Eval(x, vals, prev, bl.params)
	if bl.fn.NeedsHistory && len(vals) < p.minBase {
		v = math.NaN() // cold start: too few windows to judge
	}
	if len(h.pend) < nb {
		h.pend = make([]float64, nb)
	}
	h.pend[b] = st
	return v
}

// record stores the window ending at end: appended for a first emission,
// written over its own entry for a corrected re-emission.
func (h *history) record(end int64, xs []float64, baseN, nb int, update bool) {
	if len(xs) != nb {
		return
	}
	st := h.pend
	i := -1
	if update {
		for k, e := range h.ends {
			if e == end {
				i = k
			}
		}
		if i < 0 {
			return
		}
	} else if len(h.ends) < baseN {
		h.ends = append(h.ends, end)
		h.xs = append(h.xs, make([]float64, nb)...)
		h.state = append(h.state, make([]float64, nb)...)
		i = len(h.ends) - 1
	} else {
		i = h.next
		h.next = (h.next + 1) % baseN
		h.ends[i] = end
	}
	copy(h.xs[i*nb:], xs)
	copy(h.state[i*nb:], st)
	h.last = max(h.last, end)
}
