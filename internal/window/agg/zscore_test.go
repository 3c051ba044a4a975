package agg

import (
	"math"
	"testing"
)

func TestZScore(t *testing.T) {
	runCases(t, func() State { return NewZScore() }, []aggCase{
		{"none", nil, math.NaN()},
		{"one value", []float64{3}, math.NaN()},
		{"all equal: stddev 0", []float64{3, 3, 3}, math.NaN()},
		// mean 5, population stddev 2, last 9 → 2
		{"latest two sd above", []float64{2, 4, 4, 4, 5, 5, 7, 9}, 2},
		{"latest below mean", []float64{9, 7, 5, 5, 4, 4, 4, 2}, -1.5},
	})
	t.Run("last is by time, not push order", func(t *testing.T) {
		z := NewZScore()
		z.Push(10, 3) // latest
		z.Push(0, 1)
		if got := z.Value(); got != 1 {
			t.Errorf("got %v, want 1", got)
		}
	})
}
