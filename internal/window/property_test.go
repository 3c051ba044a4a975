package window

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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
	sum, mn, mx, last, sd, p90 := 0.0, nan, nan, nan, nan, nan
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
		s := slices.Clone(vals)
		slices.Sort(s)
		h := 0.9 * float64(len(s)-1) // quantile_cont
		lo, hi := math.Floor(h), math.Ceil(h)
		p90 = s[int(lo)] + (h-lo)*(s[int(hi)]-s[int(lo)])
	}
	share := nan
	if n > 0 {
		share = big / n
	}
	return []float64{n, big, big / n, sum, avg, mn, mx, sd, last, float64(len(set)), p90, share}
}

// arrival is one event of a property test run and the closing bound (the
// spec's, computed independently of the engine) when it arrived.
type arrival struct {
	e      *event.Event
	closed int64
}

// TestWindowsMatchBruteForce feeds random streams — out of order, with
// repeated timestamps, late events, missing and non-numeric values, wall
// clock ticks — into tumbling and sliding pipelines, with late: drop and
// late: update, and checks every emitted window against a recomputation from
// the events, and every late flag against the closing rule of
// ARCHITECTURE.md:
//
//   - the first emission of window [s, e) holds exactly the events in it that
//     arrived while the closing bound was below e;
//   - with late: update, its last emission holds those that arrived while
//     the bound was below e + update_for;
//   - an event is late when the first window holding it had closed.
func TestWindowsMatchBruteForce(t *testing.T) {
	const lateness = 3 * time.Second
	shapes := []struct {
		name        string
		size, every time.Duration
		update      time.Duration // 0: late: drop
	}{
		{"tumbling", 10 * time.Second, 0, 0},
		{"sliding", 10 * time.Second, 2 * time.Second, 0},
		{"sliding half", 10 * time.Second, 5 * time.Second, 0},
		{"tumbling update", 10 * time.Second, 0, 4 * time.Second},
		{"sliding update", 6 * time.Second, 2 * time.Second, 5 * time.Second},
	}
	for _, sh := range shapes {
		every := sh.every
		if every == 0 {
			every = sh.size
		}
		size, keep := int64(sh.size), int64(sh.update)
		for seed := range uint64(30) {
			// Even seeds run with Add's prefetch passes (used from 1,024
			// groups on), odd ones without.
			prefetch := seed%2 == 0
			t.Run(fmt.Sprintf("%s/%d", sh.name, seed), func(t *testing.T) {
				if prefetch {
					defer func(n int) { prefetchFrom = n }(prefetchFrom)
					prefetchFrom = 0
				}
				rng := rand.New(rand.NewPCG(seed, 99))
				cfg := config.Pipeline{
					GroupBy:    []string{"k"},
					Window:     config.Window{Size: sh.size, Every: sh.every},
					Lateness:   config.Duration(lateness),
					Aggregates: aggs(propAggs...),
				}
				if sh.update > 0 {
					cfg.Late, cfg.UpdateFor = "update", config.Duration(sh.update)
				}
				p, r := mustNew(t, cfg)
				var arrivals []arrival
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
						ts := time.Unix(0, maxT).Add(-time.Duration(rng.Int64N(int64(3 * lateness))))
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
						arrivals = append(arrivals, arrival{e, closed})
						tn := ts.UnixNano()
						if tn-floorMod(tn, int64(every))+int64(every) <= closed {
							lateWant++
						}
						maxT = max(maxT, tn)
						closed = max(closed, maxT-int64(lateness))
					}
					p.Add(batch, now)
					for _, e := range batch {
						tn := e.Time.UnixNano()
						a := arrivals[slices.IndexFunc(arrivals, func(a arrival) bool { return a.e == e })]
						want := tn-floorMod(tn, int64(every))+int64(every) <= a.closed
						if got := e.Flags&event.FlagLate != 0; got != want {
							t.Fatalf("event at %v late flag %v, spec says %v", e.Time.Sub(t0), got, want)
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
					t.Errorf("stats %+v, want Late %d and nothing open", s, lateWant)
				}

				type key struct {
					end int64
					k   string
				}
				first, final := map[key][]*event.Event{}, map[key][]*event.Event{}
				for _, a := range arrivals {
					tn := a.e.Time.UnixNano()
					ps := tn - floorMod(tn, int64(every))
					for end := ps + int64(every); end <= ps+size; end += int64(every) {
						k := key{end, a.e.Fields["k"].(string)}
						if end > a.closed {
							first[k] = append(first[k], a.e)
						}
						if end+keep > a.closed {
							final[k] = append(final[k], a.e)
						}
					}
				}
				check := func(what string, w *event.Window, evs []*event.Event) {
					t.Helper()
					if w.End.Sub(w.Start) != sh.size {
						t.Errorf("%s window %v..%v is not %v long", what, w.Start, w.End, sh.size)
					}
					if w.Count != int64(len(evs)) {
						t.Errorf("%s window %v %v count %d, want %d", what, w.End.Sub(t0), w.Group, w.Count, len(evs))
					}
					exp := brute(evs)
					for j, name := range w.Names {
						g, x := w.Values[j], exp[j]
						okv := sameFloat(g, x)
						switch name {
						case "p90":
							okv = math.Abs(g-x) <= 0.01*math.Abs(x)+1e-9 || math.IsNaN(g) && math.IsNaN(x)
						case "sd":
							okv = math.IsNaN(g) && math.IsNaN(x) || math.Abs(g-x) <= 1e-6*math.Max(1, math.Abs(x))
						}
						if !okv {
							t.Errorf("%s window %v %v: %s = %v, brute force %v", what, w.End.Sub(t0), w.Group, name, g, x)
						}
					}
				}
				seen := map[key]bool{}
				last := map[key]*event.Window{}
				var prevW *event.Window
				for _, w := range got {
					k := key{w.End.UnixNano(), w.Group[0]}
					if !w.Update {
						// In order of end; seen catches a group twice in one end.
						if prevW != nil && w.End.Before(prevW.End) {
							t.Fatalf("window %v %v emitted after %v %v", w.End.Sub(t0), w.Group, prevW.End.Sub(t0), prevW.Group)
						}
						prevW = w
						if seen[k] {
							t.Fatalf("window %v %v emitted twice", w.End.Sub(t0), w.Group)
						}
						evs, ok := first[k]
						if !ok {
							t.Fatalf("unexpected window %v %v", w.End.Sub(t0), w.Group)
						}
						check("first", w, evs)
					} else if keep == 0 {
						t.Fatalf("re-emission with late: drop")
					}
					seen[k] = true
					last[k] = w
				}
				for k, evs := range final {
					if keep == 0 {
						if _, ok := first[k]; !ok {
							continue
						}
						evs = first[k]
					}
					w, ok := last[k]
					if !ok {
						t.Fatalf("window %v %s with %d events never emitted", time.Duration(k.end-t0.UnixNano()), k.k, len(evs))
					}
					check("last", w, evs)
				}
			})
		}
	}
}

// floorMod is t mod m, in [0, m).
func floorMod(t, m int64) int64 { return ((t % m) + m) % m }

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
