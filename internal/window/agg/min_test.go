package agg

import (
	"math"
	"testing"
)

func TestMin(t *testing.T) {
	runCases(t, func() State { return NewMin() }, []aggCase{
		{"none", nil, math.NaN()},
		{"one", []float64{7}, 7},
		{"first is smallest", []float64{-2, 5, 3}, -2},
		{"last is smallest", []float64{5, 3, -9}, -9},
	})
}
