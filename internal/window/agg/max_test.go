package agg

import (
	"math"
	"testing"
)

func TestMax(t *testing.T) {
	runCases(t, func() State { return NewMax() }, []aggCase{
		{"none", nil, math.NaN()},
		{"one", []float64{-7}, -7},
		{"first is largest", []float64{9, 5, 3}, 9},
		{"all negative", []float64{-5, -3, -9}, -3},
	})
}
