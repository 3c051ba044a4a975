package agg

import "testing"

func TestSum(t *testing.T) {
	runCases(t, func() State { return new(Sum) }, []aggCase{
		{"none is zero", nil, 0},
		{"one", []float64{2.5}, 2.5},
		{"mixed signs", []float64{1, -3, 10}, 8},
	})
}
