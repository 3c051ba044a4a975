package agg

import (
	"math"
	"testing"
)

func TestRatio(t *testing.T) {
	runCases(t, func() State { return new(Ratio) }, []aggCase{
		{"none", nil, math.NaN()},
		{"all match", []float64{1, 1}, 1},
		{"none match", []float64{0, 0, 0}, 0},
		{"one in four", []float64{0, 1, 0, 0}, 0.25},
	})
}
