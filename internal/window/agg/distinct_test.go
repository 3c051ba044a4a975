package agg

import (
	"math"
	"testing"
)

func TestDistinct(t *testing.T) {
	runCases(t, func() State { return NewDistinct() }, []aggCase{
		{"none", nil, 0},
		{"repeats", []float64{1, 2, 2, 3, 1}, 3},
		{"zero signs are one value", []float64{0, math.Copysign(0, -1)}, 1},
		{"NaN is skipped", []float64{math.NaN(), math.NaN(), 1}, 1},
	})
	t.Run("strings and numbers", func(t *testing.T) {
		d := NewDistinct()
		for _, s := range []string{"a", "b", "a", "5"} {
			d.PushString(s)
		}
		d.Push(5, 0)
		if got := d.Value(); got != 4 {
			t.Errorf("got %v, want 4 (a, b, \"5\", 5)", got)
		}
		d.Reset()
		if got := d.Value(); got != 0 {
			t.Errorf("after Reset got %v, want 0", got)
		}
	})
}
