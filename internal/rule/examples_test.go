package rule

import (
	"cmp"
	"context"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	// The examples name every kind of source and notifier.
	_ "github.com/lookout-dev/lookout/internal/plugin/all"
	"github.com/lookout-dev/lookout/internal/store"
)

// dayEnd is the end of the synthetic day's newest window in TestExampleRules.
var dayEnd = time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC)

// exampleSeries is one service of the synthetic day: its errors and p99 for
// the 1-minute window ending at end, and whether it sent anything then.
type exampleSeries func(end time.Time) (errs, p99 float64, ok bool)

// lastMinutes reports whether end is within the d before dayEnd.
func lastMinutes(end time.Time, d time.Duration) bool { return end.After(dayEnd.Add(-d)) }

// noise is a small, deterministic wobble so that stddevs are not zero.
func noise(end time.Time) float64 { return 0.01 * float64(end.Minute()%5) }

// errorsRising is a service with base errors a minute, and now a minute in
// the last 5 minutes.
func errorsRising(base, now float64) exampleSeries {
	return func(end time.Time) (float64, float64, bool) {
		if lastMinutes(end, 5*time.Minute) {
			return now, 0.2 + noise(end), true
		}
		return base, 0.2 + noise(end), true
	}
}

// exampleDay is the data TestExampleRules judges, chosen so each example rule
// has services just inside and just outside its condition.
var exampleDay = map[string]exampleSeries{
	// 1/min, 4/min in the last 5 minutes: 20 against 5 yesterday (errors up)
	// and a rise of 15 (top 2).
	"api": errorsRising(1, 4),
	// 7/min now: 35 against 5 (errors up), rise 30 (top 1).
	"pay": errorsRising(1, 7),
	// 2/min, 4.4/min now: 22 against 10 is 2.2x, under 3x; rise 12 (top 3).
	"auth": errorsRising(2, 4.4),
	// 3/min, 4.6/min now: rise 8 (top 4).
	"cart": errorsRising(3, 4.6),
	// 0, then 1.2/min: rise 6 (top 5); 6 against 0 but fewer than 10.
	"mail": errorsRising(0, 1.2),
	// 0, then 1/min: rise 5, 6th, so not in the top five.
	"db": errorsRising(0, 1),
	// A busy service (exampleRequests): 10/min, 25/min now, the largest rise
	// in errors (75) but its error rate rose by only 0.0015, so it is not
	// degrading (top 5); 125 against 50 yesterday is under 3x.
	"bulk": errorsRising(10, 25),
	// Steady errors; its p99 jumps in the newest window (p99 drift).
	"web": func(end time.Time) (float64, float64, bool) {
		if !end.Before(dayEnd) {
			return 2, 0.9, true
		}
		return 2, 0.2 + noise(end), true
	},
	// p99 up 30% in the newest window: many stddevs, but under 1.5x the
	// median (no p99 drift).
	"img": func(end time.Time) (float64, float64, bool) {
		if !end.Before(dayEnd) {
			return 0, 0.3, true
		}
		return 0, 0.2 + noise(end), true
	},
	// Stopped 10 minutes ago (stopped sending).
	"queue": func(end time.Time) (float64, float64, bool) {
		return 0, 0.2 + noise(end), !lastMinutes(end, 10*time.Minute)
	},
	// Stopped 2 hours ago: not seen in the last hour, so not "stopped" now.
	"search": func(end time.Time) (float64, float64, bool) {
		return 0, 0.2 + noise(end), !lastMinutes(end, 2*time.Hour)
	},
}

// exampleRequests are the requests a minute of the services that do not
// have 100.
var exampleRequests = map[string]float64{"bulk": 10000}

// writeExampleDay writes the 1-minute windows of pipeline api with an end in
// (from, to], through the store's normal write path.
func writeExampleDay(t *testing.T, s *store.Store, from, to time.Time, normal bool) {
	t.Helper()
	ctx := context.Background()
	services := slices.Sorted(func(yield func(string) bool) {
		for k := range exampleDay {
			if !yield(k) {
				return
			}
		}
	})
	for end := from.Add(time.Minute); !end.After(to); end = end.Add(time.Minute) {
		for _, svc := range services {
			errs, p99, ok := exampleDay[svc](end)
			reqs := cmp.Or(exampleRequests[svc], 100)
			if normal {
				// After the day: every service back to its usual self.
				errs, p99, ok, reqs = 1, 0.2+noise(end), true, 100
			}
			if !ok {
				continue
			}
			w := &event.Window{Pipeline: "api", Start: end.Add(-time.Minute), End: end,
				GroupKeys: []string{"service"}, Group: []string{svc},
				Names: []string{"requests", "errors", "latency_p99"}, Values: []float64{reqs, errs, p99}, Count: int64(reqs)}
			if err := s.WriteWindow(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestExampleRules loads each config in examples/sql, checks it as `lookout
// check` would (config validation, then the SQL against the schema), and runs
// its rule over a synthetic day of windows: before the trouble starts no
// rule fires; at the end of the day each fires for exactly the services it is
// about; once things are normal again every alert resolves.
func TestExampleRules(t *testing.T) {
	tests := []struct {
		file string
		fire []string // services, sorted
	}{
		{"errors_up_vs_yesterday.yaml", []string{"api", "pay"}},
		{"top5_degraded.yaml", []string{"api", "auth", "cart", "mail", "pay"}},
		{"p99_drift.yaml", []string{"web"}},
		{"service_stopped.yaml", []string{"queue"}},
	}
	files, err := filepath.Glob("../../examples/sql/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("examples/sql has %d configs, this test knows %d", len(files), len(tests))
	}
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dayStart := dayEnd.Add(-24*time.Hour - 10*time.Minute)
	// Up to 30 minutes before the end: nothing has gone wrong yet.
	writeExampleDay(t, db, dayStart, dayEnd.Add(-30*time.Minute), false)

	type loaded struct {
		eng  *Engine
		name string
		sent *[]event.Alert
	}
	var engines []loaded
	for _, tt := range tests {
		cfg, err := config.Load(filepath.Join("../../examples/sql", tt.file))
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		var views []store.PipelineView
		for _, p := range cfg.Pipelines {
			v := store.PipelineView{Name: p.Name, GroupBy: p.GroupBy}
			for _, a := range p.Aggregates {
				v.Aggregates = append(v.Aggregates, a.Name)
			}
			views = append(views, v)
		}
		// As the app does: the rules may read the pipelines' views.
		if err := db.CreatePipelineViews(context.Background(), views); err != nil {
			t.Fatal(err)
		}
		checker, err := store.NewChecker(context.Background(), views)
		if err != nil {
			t.Fatal(err)
		}
		sent := new([]event.Alert)
		eng, err := New(cfg.Rules, Options{
			Clock: clock.NewFake(dayEnd), Query: storeQuery(db), CheckSQL: checker.Check, Pipelines: cfg.Pipelines,
			Notify: func(a event.Alert) { *sent = append(*sent, a) },
		})
		checker.Close()
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if len(eng.SQLRules()) != 1 {
			t.Fatalf("%s: SQL rules %v, want one", tt.file, eng.SQLRules())
		}
		engines = append(engines, loaded{eng, eng.SQLRules()[0], sent})
	}

	phase := func(name string, want func(i int) []string, state event.AlertState) {
		for i, tt := range tests {
			t.Run(name+"/"+tt.file, func(t *testing.T) {
				l := engines[i]
				*l.sent = nil
				if err := l.eng.EvaluateSQL(context.Background(), l.name); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, a := range *l.sent {
					if a.State != state {
						t.Errorf("%s alert for %s, want %s", a.State, a.Labels["service"], state)
					}
					if math.IsNaN(a.Value) || a.Summary == "" {
						t.Errorf("alert for %s: value %v, summary %q", a.Labels["service"], a.Value, a.Summary)
					}
					got = append(got, a.Labels["service"])
				}
				slices.Sort(got)
				if w := want(i); !reflect.DeepEqual(got, w) {
					t.Errorf("%s: %v for %v, want %v", l.name, state, got, w)
				}
			})
		}
	}
	phase("before", func(int) []string { return nil }, event.StateFiring)

	writeExampleDay(t, db, dayEnd.Add(-30*time.Minute), dayEnd, false)
	phase("trouble", func(i int) []string { return tests[i].fire }, event.StateFiring)
	// The same data judged again changes nothing: no new notifications
	// within repeat, no resolutions.
	phase("again", func(int) []string { return nil }, event.StateFiring)

	writeExampleDay(t, db, dayEnd, dayEnd.Add(10*time.Minute), true)
	phase("normal", func(i int) []string { return tests[i].fire }, event.StateResolved)
}
