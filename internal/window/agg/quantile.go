package agg

import (
	"math"
	"slices"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// quantileAccuracy is the relative accuracy of the sketch.
const quantileAccuracy = 0.01

// quantileBins bounds the sketch's memory per window and group. With 1%
// accuracy 2048 bins cover values spanning a factor of about 10^17 before
// the lowest bins are merged, so high quantiles (p90, p99) stay accurate even
// then.
const quantileBins = 2048

// quantileExact is how many values are kept as they are before the sketch
// takes over. Small windows (a few events per group) are then exact and
// cheap: a dense sketch spends most of its time growing its bins for the
// first few values of every window.
const quantileExact = 32

// Quantile estimates the q-quantile of the values: the value at rank
// floor(q·(n−1)) of the sorted values. Up to 32 values it is exact; beyond,
// it is answered by a DDSketch (github.com/DataDog/sketches-go) within 1%
// relative error: for a true p99 of 200 ms it returns something between 198
// and 202 ms. Memory is bounded (2048 bins per sign) rather than proportional
// to the number of values. NaN values are skipped, as are values too large
// for the sketch (beyond about 1e308) once it has taken over. NaN when none
// were pushed.
type Quantile struct {
	q     float64
	exact []float64
	s     *ddsketch.DDSketch // nil until more than quantileExact values arrive
	used  bool               // s holds this window's values
}

// NewQuantile returns an empty state answering the q-quantile, 0 < q < 1.
func NewQuantile(q float64) *Quantile {
	return &Quantile{q: q, exact: make([]float64, 0, quantileExact)}
}

// Push adds v.
func (q *Quantile) Push(v float64, _ int64) {
	if v != v {
		return
	}
	if !q.used {
		if len(q.exact) < quantileExact {
			q.exact = append(q.exact, v)
			return
		}
		q.spill()
	}
	// The only errors are untrackable values (±huge); skipping them is the
	// same treatment as a non-numeric field.
	_ = q.s.Add(v)
}

// spill moves the exact values into the sketch, which takes over.
func (q *Quantile) spill() {
	if q.s == nil {
		// The cubic mapping keeps the 1% guarantee and avoids a logarithm
		// per value.
		m, err := mapping.NewCubicallyInterpolatedMapping(quantileAccuracy)
		if err != nil {
			panic(err) // only an accuracy outside (0,1) fails; ours is a constant
		}
		q.s = ddsketch.NewDDSketch(m, store.NewCollapsingLowestDenseStore(quantileBins), store.NewCollapsingLowestDenseStore(quantileBins))
	}
	for _, v := range q.exact {
		_ = q.s.Add(v)
	}
	q.exact = q.exact[:0]
	q.used = true
}

// Value returns the quantile.
func (q *Quantile) Value() float64 {
	if q.used {
		v, err := q.s.GetValueAtQuantile(q.q)
		if err != nil {
			return math.NaN()
		}
		return v
	}
	if len(q.exact) == 0 {
		return math.NaN()
	}
	slices.Sort(q.exact) // order does not matter to later pushes
	return q.exact[int(q.q*float64(len(q.exact)-1))]
}

// Reset forgets all values, keeping the sketch's bins for the next window.
func (q *Quantile) Reset() {
	q.exact = q.exact[:0]
	if q.used {
		q.s.Clear()
		q.used = false
	}
}

var _ State = (*Quantile)(nil)
