package window

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// propAggs are the aggregates the property test checks against brute force.
var propAggs = []string{
	"n", "count()",
	"big", "count(v > 50)",
	"rbig", "ratio(v > 50)",
	"sum", "sum(v)",
	"avg", "avg(v)",
	"min", "min(v)",
	"max", "max(v)",
	"sd", "stddev(v)",
	"last", "last(v)",
	"dist", "distinct(v)",
	"z", "zscore(v)",
	"p90", "quantile(v, 0.9)",
	"share", "big / n",
}

// brute computes propAggs directly from the events of one window, in
// arrival order.
func brute(evs []*event.Event) []float64 {
	var vals []float64
	var times []int64
	big := 0.0
	for _, e := range evs {
		if v, ok := e.Fields["v"].(float64); ok {
			vals = append(vals, v)
			times = append(times, e.Time.UnixNano())
			if v > 50 {
				big++
			}
		}
	}
	n := float64(len(evs))
	nan := math.NaN()
	sum, mn, mx, last, sd, z, p90 := 0.0, nan, nan, nan, nan, nan, nan
	var lastT int64 = math.MinInt64
	set := map[any]bool{}
	for _, e := range evs {
		if s, ok := e.Fields["v"].(string); ok {
			set[s] = true // distinct counts strings too
		}
	}
	for i, v := range vals {
		sum += v
		if math.IsNaN(mn) || v < mn {
			mn = v
		}
		if math.IsNaN(mx) || v > mx {
			mx = v
		}
		if times[i] >= lastT {
			last, lastT = v, times[i]
		}
		set[v] = true
	}
	avg := nan
	if len(vals) > 0 {
		avg = sum / float64(len(vals))
		ss := 0.0
		for _, v := range vals {
			ss += (v - avg) * (v - avg)
		}
		sd = math.Sqrt(ss / float64(len(vals)))
		if len(vals) >= 2 && sd > 0 {
			z = (last - avg) / sd
		}
		s := slices.Clone(vals)
		slices.Sort(s)
		p90 = s[int(0.9*float64(len(s)-1))]
	}
	share := nan
	if n > 0 {
		share = big / n
	}
	return []float64{n, big, big / n, sum, avg, mn, mx, sd, last, float64(len(set)), z, p90, share}
}

// TestTumblingMatchesBruteForce feeds random streams — out of order, with
// repeated timestamps, late events, missing and non-numeric values, wall
// clock ticks — and checks every emitted window against a recomputation from
// the events, and every late flag against the closing rule of ARCHITECTURE.md.
func TestTumblingMatchesBruteForce(t *testing.T) {
	const size, lateness = 10 * time.Second, 3 * time.Second
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			p, r := mustNew(t, config.Pipeline{
				GroupBy:    []string{"k"},
				Window:     config.Window{Size: size},
				Lateness:   config.Duration(lateness),
				Aggregates: aggs(propAggs...),
			})
			type key struct {
				end int64
				k   string
			}
			want := map[key][]*event.Event{}
			var lateWant int64
			closed := int64(math.MinInt64) // the closing bound as the spec defines it
			maxT := t0.UnixNano()
			now := t0
			var prev time.Time
			for range 30 + rng.IntN(300) {
				var batch []*event.Event
				if rng.IntN(4) == 0 { // a wall clock tick inside Add
					now = now.Add(time.Duration(rng.Int64N(int64(4 * time.Second))))
				}
				closed = max(closed, now.UnixNano()-int64(lateness))
				for range 1 + rng.IntN(8) {
					ts := time.Unix(0, maxT).Add(-time.Duration(rng.Int64N(int64(2 * lateness))))
					if rng.IntN(4) == 0 {
						ts = ts.Add(time.Duration(rng.Int64N(int64(5 * time.Second))))
					}
					if rng.IntN(5) == 0 && !prev.IsZero() {
						ts = prev // duplicated timestamp
					}
					prev = ts
					f := map[string]any{"k": string(rune('a' + rng.IntN(3)))}
					switch rng.IntN(10) {
					case 0: // missing v
					case 1:
						f["v"] = "n/a"
					default:
						f["v"] = float64(rng.IntN(40)) * 2.5
					}
					e := &event.Event{Time: ts, Fields: f}
					batch = append(batch, e)

					tn := ts.UnixNano()
					end := tn - ((tn%int64(size))+int64(size))%int64(size) + int64(size)
					if end <= closed {
						lateWant++
						e.Fields["_late"] = true // remember for the flag check
					} else {
						k := key{end, f["k"].(string)}
						want[k] = append(want[k], e)
					}
					maxT = max(maxT, tn)
					closed = max(closed, maxT-int64(lateness))
				}
				p.Add(batch, now)
				for _, e := range batch {
					if (e.Flags&event.FlagLate != 0) != (e.Fields["_late"] == true) {
						t.Fatalf("seed %d: event at %v late flag %v, spec says %v", seed, e.Time.Sub(t0), e.Flags&event.FlagLate != 0, e.Fields["_late"] == true)
					}
				}
				if rng.IntN(6) == 0 {
					now = now.Add(time.Duration(rng.Int64N(int64(6 * time.Second))))
					closed = max(closed, now.UnixNano()-int64(lateness))
					p.Advance(now)
				}
			}
			p.Advance(time.Unix(0, maxT).Add(time.Hour))
			got := r.take()
			if s := p.Stats(); s.Late != lateWant || s.OpenWindows != 0 || s.Groups != 0 {
				t.Errorf("seed %d: stats %+v, want Late %d and nothing open", seed, s, lateWant)
			}
			if len(got) != len(want) {
				t.Fatalf("seed %d: %d windows emitted, want %d", seed, len(got), len(want))
			}
			for i, w := range got {
				if i > 0 {
					pw := got[i-1]
					if w.End.Before(pw.End) || w.End.Equal(pw.End) && strings.Compare(w.Group[0], pw.Group[0]) <= 0 {
						t.Fatalf("seed %d: window %d out of order", seed, i)
					}
				}
				evs, ok := want[key{w.End.UnixNano(), w.Group[0]}]
				if !ok {
					t.Fatalf("seed %d: unexpected window %v %v", seed, w.End, w.Group)
				}
				if w.Count != int64(len(evs)) {
					t.Errorf("seed %d: window %v %v count %d, want %d", seed, w.End.Sub(t0), w.Group, w.Count, len(evs))
				}
				exp := brute(evs)
				for j, name := range w.Names {
					g, x := w.Values[j], exp[j]
					okv := sameFloat(g, x)
					if name == "p90" {
						okv = math.Abs(g-x) <= 0.01*math.Abs(x)+1e-9 || math.IsNaN(g) && math.IsNaN(x)
					}
					if name == "z" || name == "sd" {
						okv = math.IsNaN(g) && math.IsNaN(x) || math.Abs(g-x) <= 1e-6*math.Max(1, math.Abs(x))
					}
					if !okv {
						t.Errorf("seed %d: window %v %v: %s = %v, brute force %v", seed, w.End.Sub(t0), w.Group, name, g, x)
					}
				}
			}
		})
	}
}

// TestNativeConditionsMatchExpr checks that the native fast path gives what
// the expr-lang VM gives, for every kind of value a field can hold.
func TestNativeConditionsMatchExpr(t *testing.T) {
	exprs := []string{
		"a >= 500", "a > 500", "a < 500", "a <= 500", "a == 500", "a != 500",
		"a > -1.5", "500 < a", "a == 'x'", "a != 'x'", "a < 'm'", "a >= 'm'",
		"a == true", "a != false", "a == nil", "a != nil", "a", "!a", "not a",
		"a > 1 && b == 'x'", "a > 1 || b == 'x'", "!(a >= 500) and b != nil", "a or b",
		"x.y >= 2", "x.y == 'q' || a",
	}
	values := []any{nil, 499.0, 500.0, 501.0, -3.0, 500, int64(2), "500", "x", "a", "z", "", true, false, []any{1.0}}
	for _, src := range exprs {
		t.Run(src, func(t *testing.T) {
			x, err := compileFieldExpr(src)
			if err != nil {
				t.Fatal(err)
			}
			if x.pred == nil {
				t.Fatalf("no native fast path for %q", src)
			}
			native := *x
			vmOnly := *x
			vmOnly.pred = nil
			for _, a := range values {
				for _, b := range values {
					f := map[string]any{"a": a, "b": b, "x.y": b}
					if a == nil {
						delete(f, "a")
					}
					var m1, m2 vmState
					if got, want := native.cond(f, &m1.vm), vmOnly.cond(f, &m2.vm); got != want {
						t.Errorf("a=%#v b=%#v: native %v, expr-lang %v", a, b, got, want)
					}
				}
			}
		})
	}
	for _, src := range []string{"a + 1 > 2", "a in [1, 2]", "len(a) > 0", "a matches 'x'"} {
		if x, err := compileFieldExpr(src); err != nil || x.pred != nil {
			t.Errorf("%q: err %v, native %v; want the VM", src, err, x != nil && x.pred != nil)
		}
	}
}

// TestAddDoesNotAllocate checks the hot path: once a window is open, adding
// events to it allocates nothing. (Arguments that need the expr-lang VM, such
// as latency * 2, allocate one boxed result per event inside the VM.)
func TestAddDoesNotAllocate(t *testing.T) {
	p, _ := mustNew(t, config.Pipeline{
		GroupBy:    []string{"service", "code"},
		Window:     config.Window{Size: time.Hour},
		Where:      `service != nil`,
		Aggregates: aggs("n", "count()", "e", "ratio(code >= 500)", "avg", "avg(latency)", "p99", "quantile(latency, 0.99)", "max", "max(latency)", "d", "distinct(user)"),
	})
	batch := []*event.Event{
		ev(time.Second, "service", "web", "code", 503.0, "latency", 0.25, "user", "u1"),
		ev(2*time.Second, "service", "db", "code", 200.0, "latency", 0.5, "user", "u2"),
	}
	p.Add(batch, at(0))
	if n := testing.AllocsPerRun(100, func() { p.Add(batch, at(0)) }); n != 0 {
		t.Errorf("Add allocates %v times per batch, want 0", n)
	}
}
