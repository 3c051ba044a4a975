package agg

import (
	"math"
	"testing"
)

func TestAvg(t *testing.T) {
	runCases(t, func() State { return new(Avg) }, []aggCase{
		{"none", nil, math.NaN()},
		{"one", []float64{4}, 4},
		{"several", []float64{1, 2, 3, 4}, 2.5},
		{"negative", []float64{-1, -3}, -2},
	})
}
