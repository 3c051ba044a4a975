package agg

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile is the value the sketch approximates: rank floor(q·(n−1)).
func exactQuantile(vals []float64, q float64) float64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

func TestQuantile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	uniform := make([]float64, 10000)
	lognormal := make([]float64, 10000)
	mixed := make([]float64, 1000)
	for i := range uniform {
		uniform[i] = rng.Float64() * 1000
		lognormal[i] = math.Exp(rng.NormFloat64() * 2)
	}
	for i := range mixed {
		mixed[i] = rng.NormFloat64() * 50
	}
	tests := []struct {
		name string
		vals []float64
		q    float64
	}{
		{"uniform p99", uniform, 0.99},
		{"uniform p50", uniform, 0.5},
		{"lognormal p99", lognormal, 0.99},
		{"lognormal p01", lognormal, 0.01},
		{"negatives p10", mixed, 0.1},
		{"negatives p90", mixed, 0.9},
		{"single value", []float64{0.25}, 0.99},
		{"two values", []float64{100, 200}, 0.5},
		{"exactly the exact limit", uniform[:quantileExact], 0.9},
		{"one past the exact limit", uniform[:quantileExact+1], 0.9},
	}
	reused := NewQuantile(0.5)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := exactQuantile(tt.vals, tt.q)
			for _, s := range []*Quantile{NewQuantile(tt.q), reused} {
				s.Reset()
				s.q = tt.q
				for _, v := range tt.vals {
					s.Push(v, 0)
				}
				got := s.Value()
				if math.Abs(got-want) > quantileAccuracy*math.Abs(want)+1e-12 {
					t.Errorf("got %v, want %v within 1%%", got, want)
				}
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		if got := NewQuantile(0.9).Value(); !math.IsNaN(got) {
			t.Errorf("got %v, want NaN", got)
		}
	})
	t.Run("small windows are exact", func(t *testing.T) {
		s := NewQuantile(0.5)
		for _, v := range []float64{3.001, 1, 2.5, 100} {
			s.Push(v, 0)
		}
		if got := s.Value(); got != 2.5 {
			t.Errorf("got %v, want exactly 2.5", got)
		}
	})
	t.Run("untrackable values are skipped", func(t *testing.T) {
		s := NewQuantile(0.5)
		for range 3 * quantileExact {
			s.Push(math.NaN(), 0)
			s.Push(math.Inf(1), 0)
			s.Push(10, 0)
		}
		if got := s.Value(); math.Abs(got-10) > 0.1 {
			t.Errorf("got %v, want 10", got)
		}
	})
}

func TestCheckQuantile(t *testing.T) {
	f, _ := Lookup("quantile")
	for _, q := range []float64{0.5, 0.001, 0.999} {
		if err := f.Check([]float64{q}); err != nil {
			t.Errorf("q=%v: unexpected error %v", q, err)
		}
	}
	for _, q := range []float64{0, 1, -0.5, 1.5, math.NaN()} {
		if err := f.Check([]float64{q}); err == nil {
			t.Errorf("q=%v: want an error", q)
		}
	}
}
