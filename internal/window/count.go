package window

import (
	"github.com/lookout-dev/lookout/internal/window/agg"
)

// ring holds the last N samples of one group of a {count: N} pipeline,
// with each aggregate's input already extracted, so the window can be
// recomputed on every event without keeping the events themselves.
type ring struct {
	samples []sample
	next    int // the slot the next sample overwrites once full
	states  []agg.State
}

// sample is one event's extracted inputs.
type sample struct {
	t     int64
	kinds []uint8
	vals  []float64
	strs  []string
}

// addSample adds one event to its group's ring and emits the window over the
// ring's samples. It reports whether the event went to the overflow group.
func (p *Pipeline) addSample(fields map[string]any, t int64) bool {
	g, of := p.group(fields)
	r := g.ring
	if r == nil {
		r = &ring{samples: make([]sample, 0, p.count), states: p.newStates()}
		g.ring = r
		p.openWindows.Add(1)
	}
	var s *sample
	if len(r.samples) < p.count {
		n := len(p.inputs)
		r.samples = append(r.samples, sample{kinds: make([]uint8, n), vals: make([]float64, n), strs: make([]string, n)})
		s = &r.samples[len(r.samples)-1]
	} else {
		s = &r.samples[r.next]
		r.next = (r.next + 1) % p.count
	}
	s.t = t
	for i := range p.inputs {
		s.kinds[i], s.vals[i], s.strs[i] = p.extract(&p.inputs[i], fields)
	}

	for _, st := range r.states {
		st.Reset()
	}
	start, end := t, t
	// Oldest first, so that last() among equal times is the newest sample.
	for j := range r.samples {
		s := &r.samples[(r.next+j)%len(r.samples)]
		start, end = min(start, s.t), max(end, s.t)
		for i, st := range r.states {
			switch s.kinds[i] {
			case kindNum:
				st.Push(s.vals[i], s.t)
			case kindStr:
				st.(agg.StringPusher).PushString(s.strs[i])
			}
		}
	}
	p.emit(p.result(g, r.states, start, end, int64(len(r.samples))))
	return of
}
