package agg

import (
	"math"
	"testing"
)

// push feeds vals into s at times 1, 2, 3, ... and returns its value.
func push(s State, vals ...float64) float64 {
	for i, v := range vals {
		s.Push(v, int64(i+1))
	}
	return s.Value()
}

// same reports whether got equals want, with NaN equal to NaN and a small
// relative tolerance for float rounding.
func same(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if want == 0 {
		return math.Abs(got) < 1e-12
	}
	return math.Abs(got-want) <= 1e-9*math.Abs(want)
}

type aggCase struct {
	name string
	in   []float64
	want float64
}

// runCases checks each case on a fresh state and again on a reset one, since
// the window engine reuses states across windows.
func runCases(t *testing.T, mk func() State, cases []aggCase) {
	t.Helper()
	reused := mk()
	push(reused, 42, -7, 1e9) // dirty it
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := push(mk(), c.in...); !same(got, c.want) {
				t.Errorf("fresh: got %v, want %v", got, c.want)
			}
			reused.Reset()
			if got := push(reused, c.in...); !same(got, c.want) {
				t.Errorf("after Reset: got %v, want %v", got, c.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	for _, name := range []string{"count", "ratio", "sum", "avg", "min", "max", "stddev", "last", "quantile", "distinct", "zscore"} {
		t.Run(name, func(t *testing.T) {
			f, ok := Lookup(name)
			if !ok || f.Name != name {
				t.Fatalf("Lookup(%q) = %v, %v", name, f.Name, ok)
			}
			params := make([]float64, len(f.Params))
			for i := range params {
				params[i] = 0.5
			}
			if f.Check != nil {
				if err := f.Check(params); err != nil {
					t.Fatalf("Check(%v): %v", params, err)
				}
			}
			if f.New(params) == nil {
				t.Fatal("New returned nil")
			}
		})
	}
	if _, ok := Lookup("median"); ok {
		t.Error("Lookup(median) found a function that does not exist")
	}
	if got := len(Names()); got != len(funcs) {
		t.Errorf("Names() has %d entries, want %d", got, len(funcs))
	}
}
