package agg

import (
	"math"
)

// Last is the value of the event with the latest time; among events with the
// same time the one pushed last wins, so a replay in arrival order gives the
// same answer. NaN when none were pushed.
type Last struct {
	v   float64
	t   int64
	set bool
}

// NewLast returns an empty Last.
func NewLast() *Last { return &Last{v: math.NaN()} }

// Push adds v observed at time t (Unix ns).
func (l *Last) Push(v float64, t int64) {
	if !l.set || t >= l.t {
		l.v, l.t, l.set = v, t, true
	}
}

// Value returns the latest value.
func (l *Last) Value() float64 { return l.v }

// Reset forgets all values.
func (l *Last) Reset() { *l = Last{v: math.NaN()} }

var _ State = (*Last)(nil)
