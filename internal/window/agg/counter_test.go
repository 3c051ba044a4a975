package agg

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// TestCounterHandComputed: increase and rate of one series with a reset,
// hand-computed: 3 → 8 → 20 → (restart) 4 → 9 is 5 + 12 + 4 + 5 = 26; the
// rate over a 60 s window is 26/60.
func TestCounterHandComputed(t *testing.T) {
	inc, rate := NewIncrease(), NewRate(60)
	for _, c := range []Column{inc, rate} {
		c.Grow(2)
		for i, v := range []float64{3, 8, 20, 4, 9} {
			c.Push(1, v, int64(i+1))
		}
	}
	if got := inc.Value(1); got != 26 {
		t.Errorf("increase = %v, want 26", got)
	}
	if got := rate.Value(1); !same(got, 26.0/60) {
		t.Errorf("rate = %v, want 26/60", got)
	}
	if got := inc.Value(0); !math.IsNaN(got) {
		t.Errorf("increase of an empty slot = %v, want NaN", got)
	}
}

// TestCounterSeriesApart: samples of different series never meet: two
// interleaved counters are two sums of deltas, not one sawtooth.
func TestCounterSeriesApart(t *testing.T) {
	c := NewIncrease()
	c.Grow(1)
	for i := range 5 {
		c.PushSample(0, []byte("a"), 1000+10*float64(i), int64(i))
		c.PushSample(0, []byte("b"), 2*float64(i), int64(i))
	}
	if got := c.Value(0); got != 48 {
		t.Errorf("increase = %v, want 40 (a) + 8 (b) = 48", got)
	}
	if c.Series() != 2 {
		t.Errorf("%d series, want 2", c.Series())
	}
}

// TestCounterStateRoundTrip: a slot's state, encoded and read back into an
// empty slot, gives the same value, and the reader leaves what follows.
func TestCounterStateRoundTrip(t *testing.T) {
	c := NewRate(10)
	c.Grow(3)
	for i, v := range []float64{1, 4, 2, 7} {
		c.Push(1, v, int64(i))
	}
	b := append(c.AppendState(nil, 1), 9)
	rest, err := c.ReadState(b, 2)
	if err != nil || len(rest) != 1 || rest[0] != 9 {
		t.Fatalf("ReadState: %v, rest %v", err, rest)
	}
	if got, want := c.Value(2), c.Value(1); got != want || !same(want, 1) {
		t.Errorf("restored rate %v, original %v, want 1 ((3 + 2 + 5) / 10 s)", got, want)
	}
	if _, err := c.ReadState(b[:5], 0); err == nil {
		t.Error("ReadState of a truncated state: no error")
	}
}

// TestCounterProperty: for random counters with resets, split at random
// into consecutive windows of random panes, the windows' increases add up to
// the counter's true growth from its first sample on, whatever the split
// and the order panes are merged in.
func TestCounterProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		c := NewIncrease()
		c.Grow(16)
		cur, truth := rng.Float64()*100, 0.0
		var slots []int32
		s := int32(1 + rng.IntN(15))
		slots = append(slots, s)
		c.Push(s, cur, 0)
		for i := 1; i < 200; i++ {
			inc := math.Floor(rng.Float64() * 50)
			if rng.IntN(10) == 0 && inc < cur {
				cur = inc // the process restarted; a visible reset
			} else {
				cur += inc
			}
			truth += inc
			if rng.IntN(7) == 0 {
				s = int32(1 + rng.IntN(15))
				slots = append(slots, s)
			}
			c.Push(s, cur, int64(i))
		}
		// Merge every slot used into slot 0, in random order, once each.
		seen := map[int32]bool{}
		rng.Shuffle(len(slots), func(i, j int) { slots[i], slots[j] = slots[j], slots[i] })
		for _, x := range slots {
			if !seen[x] {
				seen[x] = true
				c.Merge(0, x)
			}
		}
		if got := c.Value(0); !same(got, truth) {
			t.Fatalf("trial %d: merged increase %v, want the true growth %v", trial, got, truth)
		}
	}
}

// TestCounterForget: series quiet since before the bound are dropped and
// start again from their first sample when they come back.
func TestCounterForget(t *testing.T) {
	c := NewIncrease()
	c.Grow(1)
	c.PushSample(0, []byte("old"), 5, 10)
	c.PushSample(0, []byte("new"), 5, 100)
	c.Forget(50)
	if c.Series() != 1 {
		t.Fatalf("%d series after Forget, want 1", c.Series())
	}
	c.PushSample(0, []byte("old"), 9, 200) // a first sample again: no delta
	c.PushSample(0, []byte("new"), 6, 200)
	if got := c.Value(0); got != 1 {
		t.Errorf("increase = %v, want 1 (only new's delta)", got)
	}
}

// BenchmarkCounterPush is the per-sample cost of rate(x) in the column:
// 10,000 series in 100 slots, samples in series order as a scrape brings
// them.
func BenchmarkCounterPush(b *testing.B) {
	c := NewRate(60)
	c.Grow(100)
	keys := make([][]byte, 10000)
	for i := range keys {
		keys[i] = []byte("node_cpu_seconds_total\x00\x01cpu\x00\x01" + string(rune('0'+i%10)) + "\x00\x01instance\x00\x0110.0.0." + string(rune('a'+i/10%26)) + string(rune('a'+i/260)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := i % len(keys)
		c.PushSample(int32(k%100), keys[k], float64(i), int64(i))
	}
}

// TestEveryFunctionDocumented: docs/configuration.md lists every aggregate
// function a pipeline can call, so a new one cannot ship undocumented.
func TestEveryFunctionDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Names() {
		if !strings.Contains(string(doc), "`"+name+"(") {
			t.Errorf("docs/configuration.md does not document the aggregate function %s", name)
		}
	}
}
