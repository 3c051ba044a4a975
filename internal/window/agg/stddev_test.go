package agg

import (
	"math"
	"testing"
)

func TestStddev(t *testing.T) {
	runCases(t, func() State { return new(Stddev) }, []aggCase{
		{"none", nil, math.NaN()},
		{"one value has no spread", []float64{3}, 0},
		{"population not sample", []float64{2, 4, 4, 4, 5, 5, 7, 9}, 2},
		{"large offset stays accurate", []float64{1e9 + 1, 1e9 + 2, 1e9 + 3}, math.Sqrt(2.0 / 3)},
	})
}
