package agg

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// same reports whether got equals want, with NaN equal to NaN and a small
// relative tolerance for float rounding.
func same(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if want == 0 {
		return math.Abs(got) < 1e-9
	}
	return math.Abs(got-want) <= 1e-9*math.Abs(want)
}

// fill pushes vals into slot s at times 1, 2, 3, ...
func fill(c Column, s int32, vals []float64) {
	for i, v := range vals {
		c.Push(s, v, int64(i+1))
	}
}

// TestColumns checks every column three ways for each case: pushed into one
// fresh slot; into a slot that was dirtied and Reset; and split in two slots
// merged together (as panes are), which must give the same answer.
func TestColumns(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		fn    string
		p     []float64
		in    []float64
		want  float64
		tol   float64 // relative, 0: exact
		split bool    // whether a two-pane merge must give the same answer
	}{
		{"count", nil, nil, 0, 0, true},
		{"count", nil, []float64{1, 0, 1, 1}, 3, 0, true},
		{"ratio", nil, nil, nan, 0, true},
		{"ratio", nil, []float64{0, 1, 0, 0}, 0.25, 0, true},
		{"sum", nil, []float64{1, -3, 10}, 8, 0, true},
		{"avg", nil, nil, nan, 0, true},
		{"avg", nil, []float64{1, 2, 6}, 3, 0, true},
		{"min", nil, []float64{5, 3, -9, 4}, -9, 0, true},
		{"max", nil, []float64{-5, -3, -9}, -3, 0, true},
		{"max", nil, nil, nan, 0, true},
		{"stddev", nil, []float64{2, 4, 4, 4, 5, 5, 7, 9}, 2, 1e-12, true},
		{"stddev", nil, []float64{1e9 + 1, 1e9 + 2, 1e9 + 3}, math.Sqrt(2.0 / 3), 1e-6, true},
		{"last", nil, []float64{1, 2, 3}, 3, 0, true},
		{"zscore", nil, []float64{2, 4, 4, 4, 5, 5, 7, 9}, 2, 1e-12, true},
		{"zscore", nil, []float64{3, 3, 3}, nan, 0, true},
		{"quantile", []float64{0.5}, []float64{3.001, 1, 2.5, 100}, 2.7505, 0, true}, // halfway between 2.5 and 3.001
		{"quantile", []float64{0.5}, nil, nan, 0, true},
		{"distinct", []float64{12}, []float64{1, 2, 2, 3, 1, math.Copysign(0, -1), 0, nan}, 4, 0, true},
		{"topk", []float64{2}, []float64{1, 2, 2, 3, 2}, 3, 0, true},
		{"topk", []float64{2}, nil, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			f, ok := Lookup(tt.fn)
			if !ok {
				t.Fatalf("no function %s", tt.fn)
			}
			ok1 := func(got float64) bool {
				if tt.tol == 0 {
					return same(got, tt.want)
				}
				return math.Abs(got-tt.want) <= tt.tol*math.Max(1, math.Abs(tt.want))
			}
			c := f.New(tt.p)
			c.Grow(4)
			fill(c, 1, tt.in)
			if got := c.Value(1); !ok1(got) {
				t.Errorf("%v: fresh slot: got %v, want %v", tt.in, got, tt.want)
			}
			fill(c, 2, []float64{42, -7, 1e9, 42})
			c.Reset(2)
			fill(c, 2, tt.in)
			if got := c.Value(2); !ok1(got) {
				t.Errorf("%v: after Reset: got %v, want %v", tt.in, got, tt.want)
			}
			h := len(tt.in) / 2
			c.Reset(1)
			c.Reset(3)
			fill(c, 1, tt.in[:h])
			for i, v := range tt.in[h:] {
				c.Push(3, v, int64(h+i+1))
			}
			c.Merge(1, 3)
			if got := c.Value(1); !ok1(got) {
				t.Errorf("%v: merged from two slots: got %v, want %v", tt.in, got, tt.want)
			}
			// A snapshot of the state restores to the same value.
			b := c.AppendState(nil, 1)
			c.Reset(0)
			rest, err := c.ReadState(append(b, 7), 0)
			if err != nil || len(rest) != 1 {
				t.Fatalf("ReadState: %v, %d bytes left, want 1", err, len(rest))
			}
			if got := c.Value(0); !ok1(got) {
				t.Errorf("%v: restored: got %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// exactQuantile is the value the sketch approximates: quantile_cont, linear
// between the order statistics around rank q·(n−1), written out
// independently of the column's code.
func exactQuantile(vals []float64, q float64) float64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	h := q * float64(len(s)-1)
	lo, hi := math.Floor(h), math.Ceil(h)
	return s[int(lo)] + (h-lo)*(s[int(hi)]-s[int(lo)])
}

// TestQuantileSmallWindowsSeeTheOutlier: a low-traffic service's p99 leans on
// its slowest event, as DuckDB's quantile_cont does, in the exact path and
// past it in the sketch.
func TestQuantileSmallWindowsSeeTheOutlier(t *testing.T) {
	oneTo20 := make([]float64, 20)
	for i := range oneTo20 {
		oneTo20[i] = float64(i + 1)
	}
	tests := []struct {
		name string
		vals []float64
		q    float64
		want float64
	}{
		{"two events", []float64{120, 8}, 0.99, 118.88},
		{"median of two", []float64{8, 120}, 0.5, 64},
		{"one event", []float64{42}, 0.99, 42},
		{"twenty events, sketch", oneTo20, 0.99, 19.81},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewQuantile(tt.q)
			c.Grow(1)
			fill(c, 0, tt.vals)
			if got := c.Value(0); math.Abs(got-tt.want) > quantileAccuracy*tt.want {
				t.Errorf("p%v of %v = %v, want %v", tt.q*100, tt.vals, got, tt.want)
			}
		})
	}
}

func TestQuantileAccuracy(t *testing.T) {
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
		{"exactly the exact limit", uniform[:quantileExact], 0.9},
		{"one past the exact limit", uniform[:quantileExact+1], 0.9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := exactQuantile(tt.vals, tt.q)
			c := NewQuantile(tt.q)
			c.Grow(3)
			fill(c, 1, tt.vals)
			// and the same values spread over two merged panes
			h := len(tt.vals) / 3
			fill(c, 0, tt.vals[:h])
			fill(c, 2, tt.vals[h:])
			c.Merge(0, 2)
			for _, s := range []int32{1, 0} {
				if got := c.Value(s); math.Abs(got-want) > quantileAccuracy*math.Abs(want)+1e-12 {
					t.Errorf("slot %d: got %v, want %v within 1%%", s, got, want)
				}
			}
		})
	}
	t.Run("untrackable values are skipped", func(t *testing.T) {
		c := NewQuantile(0.5)
		c.Grow(1)
		for range 3 * quantileExact {
			c.Push(0, math.NaN(), 0)
			c.Push(0, math.Inf(1), 0)
			c.Push(0, 10, 0)
		}
		if got := c.Value(0); math.Abs(got-10) > 0.1 {
			t.Errorf("got %v, want 10", got)
		}
	})
	t.Run("memory is bounded by the buckets hit", func(t *testing.T) {
		c := NewQuantile(0.99)
		c.Grow(1)
		for i := range 100000 {
			c.Push(0, 1+float64(i%1000)/1000, 0) // values in [1, 2): 35 buckets
		}
		if n := len(c.sketches[c.sk[0]].b); n > 40 {
			t.Errorf("%d buckets for values in [1, 2), want about 35", n)
		}
	})
}

func TestDistinctHyperLogLog(t *testing.T) {
	for _, n := range []int{100, 129, 1000, 50000} {
		c := NewDistinct(DefaultPrecision)
		c.Grow(3)
		for i := range n {
			c.PushString(0, "user-"+formatNumber(float64(i)))
			c.PushString(0, "user-"+formatNumber(float64(i))) // repeats do not count
			c.Push(1, float64(i), 0)
		}
		got := c.Value(0)
		tol := 0.0
		if n > distinctExact {
			tol = 3 * 1.04 / 64 // three standard errors at precision 12
		}
		if math.Abs(got-float64(n)) > tol*float64(n) {
			t.Errorf("n=%d: got %v, want within %.1f%%", n, got, 100*tol)
		}
		c.Merge(2, 0)
		c.Merge(2, 1) // strings and numbers: "user-5" and 5 are different values
		if 2*n > distinctExact {
			tol = 3 * 1.04 / 64
		}
		if got := c.Value(2); math.Abs(got-2*float64(n)) > tol*2*float64(n) {
			t.Errorf("n=%d: merged got %v, want %d", n, got, 2*n)
		}
	}
}

func TestTopK(t *testing.T) {
	c := NewTopK(3)
	c.Grow(2)
	rng := rand.New(rand.NewPCG(3, 4))
	// Zipf-like: item i appears about 1000/(i+1) times, 200 distinct items,
	// far more than the 16 the sketch tracks.
	want := map[string]float64{}
	for i := range 200 {
		for range 1000 / (i + 1) {
			k := "item-" + formatNumber(float64(i))
			want[k]++
			c.PushString(int32(rng.IntN(2)), k) // over two panes
		}
	}
	c.Merge(0, 1)
	top := c.Top(0)
	if len(top) != 3 || top[0].Item != "item-0" || top[1].Item != "item-1" || top[2].Item != "item-2" {
		t.Fatalf("top = %v, want item-0, item-1, item-2", top)
	}
	for _, it := range top {
		if it.Count < want[it.Item] || it.Count > 1.1*want[it.Item] {
			t.Errorf("%s: count %v, true %v: want an upper estimate within 10%%", it.Item, it.Count, want[it.Item])
		}
	}
	if got := c.Value(0); got != top[0].Count {
		t.Errorf("Value = %v, want the top count %v", got, top[0].Count)
	}
}

func TestBaselines(t *testing.T) {
	nan := math.NaN()
	hist := []float64{10, 12, 11, 9, 8, 10}
	tests := []struct {
		fn         string
		p          []float64
		x, prev    float64
		hist       []float64
		want, next float64
	}{
		// mean 10, population stddev sqrt(10/6)
		{"zscore", nil, 13, nan, hist, 3 / math.Sqrt(10.0/6), nan},
		{"zscore", nil, 13, nan, []float64{5, 5, 5}, nan, nan},
		// median 10, |dev| = 0 2 1 1 2 0 → MAD 1
		{"mad_score", nil, 13, nan, hist, 3 / 1.4826, nan},
		{"mad_score", nil, 13, nan, nil, nan, nan},
		{"ewma", []float64{0.5}, 4, nan, nil, 4, 4},
		{"ewma", []float64{0.5}, 4, 2, nil, 3, 3},
		{"ewma", []float64{0.5}, nan, 2, nil, nan, 2},
		{"change", nil, 13, nan, hist, 3, nan},
		{"change", nil, 13, nan, nil, nan, nan},
		{"rel_change", nil, 15, nan, hist, 0.5, nan},
		{"rel_change", nil, 15, nan, []float64{0}, nan, nan},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			f, _ := Lookup(tt.fn)
			v, st := f.Baseline.Eval(tt.x, tt.hist, tt.prev, tt.p)
			if !same(v, tt.want) || !same(st, tt.next) {
				t.Errorf("got %v (state %v), want %v (state %v)", v, st, tt.want, tt.next)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	for _, fn := range []string{"count", "ratio", "sum", "avg", "stddev"} {
		t.Run(fn, func(t *testing.T) {
			f, _ := Lookup(fn)
			c := f.New(nil)
			c.Grow(2)
			fill(c, 0, []float64{1, 0, 5, 1, 1})
			fill(c, 1, []float64{5, 1, 1})
			for _, v := range []float64{1, 0} {
				c.(Remover).Remove(0, v, 0)
			}
			if got, want := c.Value(0), c.Value(1); !same(got, want) && math.Abs(got-want) > 1e-9 {
				t.Errorf("after removing got %v, want %v", got, want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		fn  string
		ok  []float64
		bad []float64
	}{
		{"quantile", []float64{0.5, 0.001, 0.999}, []float64{0, 1, -0.5, 1.5, math.NaN()}},
		{"distinct", []float64{4, 12, 16}, []float64{3, 17, 12.5}},
		{"topk", []float64{1, 100}, []float64{0, 101, 2.5}},
		{"ewma", []float64{0.1, 1}, []float64{0, 1.5}},
	}
	for _, tt := range tests {
		f, _ := Lookup(tt.fn)
		for _, v := range tt.ok {
			if err := f.Check([]float64{v}); err != nil {
				t.Errorf("%s(%v): %v", tt.fn, v, err)
			}
		}
		for _, v := range tt.bad {
			if err := f.Check([]float64{v}); err == nil {
				t.Errorf("%s(%v): want an error", tt.fn, v)
			}
		}
	}
}
