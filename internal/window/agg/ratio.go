package agg

import "math"

// Ratio is the fraction of events for which a condition held, 0..1. Every
// event pushes 1 (held) or 0 (did not, or could not be evaluated). NaN when
// no event was pushed.
type Ratio struct{ match, all float64 }

// Push adds one event; v is 1 when the condition held.
func (r *Ratio) Push(v float64, _ int64) {
	r.match += v
	r.all++
}

// Value returns matching/all.
func (r *Ratio) Value() float64 {
	if r.all == 0 {
		return math.NaN()
	}
	return r.match / r.all
}

// Reset forgets all events.
func (r *Ratio) Reset() { *r = Ratio{} }

var _ State = (*Ratio)(nil)
