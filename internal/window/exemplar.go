package window

import (
	"encoding/hex"
	"math"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// Exemplars: each max(x) and quantile(x, q) aggregate keeps, per slot (a
// pane, or a count-less group's window), a small reservoir of the traced
// events with the largest x. At close, max takes the largest and quantile
// the one nearest its estimate. The reservoir is only consulted for an event
// whose x would enter it, and the event's trace fields are read only then,
// so an event without trace fields costs a comparison and at most two failed
// map lookups, and allocates nothing. Memory is exemplarK candidates per
// slot and exemplar aggregate, allocated on the first traced event.

// exemplarK is how many (x, trace) candidates a reservoir keeps. The
// largest few values are what a max and a high quantile (p90, p99) point
// at; a low quantile gets the nearest of them, which its Value shows.
const exemplarK = 4

// exCand is one traced event: its aggregate input, time (ns) and trace id.
type exCand struct {
	v  float64
	t  int64
	id [16]byte
}

// reservoir holds up to exemplarK candidates, largest v first.
type reservoir struct {
	n int
	c [exemplarK]exCand
}

// admits reports whether a candidate with value v would enter r.
func (r *reservoir) admits(v float64) bool {
	return r == nil || r.n < exemplarK || v > r.c[r.n-1].v
}

// insert adds c, dropping the smallest candidate when full.
func (r *reservoir) insert(c exCand) {
	i := r.n
	if i == exemplarK {
		i--
		if c.v <= r.c[i].v {
			return
		}
	} else {
		r.n++
	}
	for i > 0 && r.c[i-1].v < c.v {
		r.c[i] = r.c[i-1]
		i--
	}
	r.c[i] = c
}

// exemplarKinds marks the aggregate functions that keep exemplars.
var exemplarKinds = map[string]bool{"max": true, "quantile": true}

// setupExemplars finds the inputs that keep exemplars; New calls it once the
// inputs are compiled.
func (p *Pipeline) setupExemplars() {
	p.exOf = make([]int, len(p.inputs))
	for i, in := range p.inputs {
		p.exOf[i] = -1
		if in.arg != nil && exemplarKinds[in.fn.Name] {
			p.exOf[i] = len(p.ex)
			p.ex = append(p.ex, make([]*reservoir, len(p.panes)))
		}
	}
}

// growExemplars makes room for slot index n-1.
func (p *Pipeline) growExemplars(n int) {
	for j := range p.ex {
		for len(p.ex[j]) < n {
			p.ex[j] = append(p.ex[j], nil)
		}
	}
}

// observeExemplar offers the event with input value v at slot s to the
// reservoir of exemplar input j.
func (p *Pipeline) observeExemplar(j int, s int32, v float64, t int64, fields map[string]any) {
	r := p.ex[j][s]
	if !r.admits(v) {
		return
	}
	id, ok := traceID(fields)
	if !ok {
		return
	}
	if r == nil {
		r = new(reservoir)
		p.ex[j][s] = r
	}
	r.insert(exCand{v: v, t: t, id: id})
}

// hasTrace reports whether an event has a `traceparent` or `trace_id` field,
// the cheap test before traceID.
func hasTrace(fields map[string]any) bool {
	if len(fields) == 0 {
		return false
	}
	_, tp := fields[event.FieldTraceparent]
	_, ti := fields[event.FieldTraceID]
	return tp || ti
}

// traceID reads the trace id from an event's `traceparent` or `trace_id`
// field, as event.(*Event).Trace does.
func traceID(fields map[string]any) ([16]byte, bool) {
	if !hasTrace(fields) {
		return [16]byte{}, false
	}
	e := event.Event{Fields: fields}
	tc, ok := e.Trace()
	return tc.TraceID, ok
}

// mergeExemplars folds slot s's reservoirs into slot dst's.
func (p *Pipeline) mergeExemplars(dst, s int32) {
	for j := range p.ex {
		src := p.ex[j][s]
		if src == nil || src.n == 0 {
			continue
		}
		d := p.ex[j][dst]
		if d == nil {
			d = new(reservoir)
			p.ex[j][dst] = d
		}
		for _, c := range src.c[:src.n] {
			d.insert(c)
		}
	}
}

// resetExemplars empties slot s's reservoirs, keeping their memory.
func (p *Pipeline) resetExemplars(s int32) {
	for j := range p.ex {
		if r := p.ex[j][s]; r != nil {
			r.n = 0
		}
	}
}

// exemplars returns the window's exemplars from slot s, given its values.
func (p *Pipeline) exemplars(s int32, vals []float64) []event.Exemplar {
	var out []event.Exemplar
	for i, o := range p.outputs {
		if o.in < 0 || p.exOf[o.in] < 0 {
			continue
		}
		r := p.ex[p.exOf[o.in]][s]
		if r == nil || r.n == 0 {
			continue
		}
		best := 0 // max: the largest
		if p.inputs[o.in].fn.Name != "max" && !math.IsNaN(vals[i]) {
			for k := 1; k < r.n; k++ {
				if math.Abs(r.c[k].v-vals[i]) < math.Abs(r.c[best].v-vals[i]) {
					best = k
				}
			}
		}
		c := r.c[best]
		out = append(out, event.Exemplar{
			Aggregate: p.names[i],
			Value:     c.v,
			TraceID:   hex.EncodeToString(c.id[:]),
			Time:      time.Unix(0, c.t).UTC(),
		})
	}
	return out
}
