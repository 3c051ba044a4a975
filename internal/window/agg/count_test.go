package agg

import "testing"

func TestCount(t *testing.T) {
	runCases(t, func() State { return new(Count) }, []aggCase{
		{"none", nil, 0},
		{"every event", []float64{1, 1, 1}, 3},
		{"condition held twice", []float64{1, 0, 1, 0}, 2},
		{"condition never held", []float64{0, 0}, 0},
	})
}
