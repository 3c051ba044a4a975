package agg

import (
	"math"
	"testing"
)

func TestLast(t *testing.T) {
	runCases(t, func() State { return NewLast() }, []aggCase{
		{"none", nil, math.NaN()},
		{"in order", []float64{1, 2, 3}, 3},
	})
	tests := []struct {
		name  string
		vals  []float64
		times []int64
		want  float64
	}{
		{"out of order takes the latest time", []float64{5, 9, 1}, []int64{10, 30, 20}, 9},
		{"same time: the later push wins", []float64{5, 6}, []int64{10, 10}, 6},
		{"negative times", []float64{1, 2}, []int64{-5, -10}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLast()
			for i, v := range tt.vals {
				l.Push(v, tt.times[i])
			}
			if got := l.Value(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
