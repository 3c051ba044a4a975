package store

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// now is the fixed "now" of the synthetic day: the end of its last window.
var now = time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC)

// series gives a service's values for the 1-minute window ending at end, or
// ok false when the service sent nothing then.
type series func(end time.Time) (vals map[string]float64, ok bool)

// writeDay writes one 1-minute window per service for every minute of the day
// (plus 10 minutes) before now, through WriteWindow, and flushes.
func writeDay(t testing.TB, s *Store, services map[string]series) {
	t.Helper()
	ctx := context.Background()
	names := []string{"requests", "errors", "latency_p99"}
	for end := now.Add(-24*time.Hour - 10*time.Minute); !end.After(now); end = end.Add(time.Minute) {
		for _, svc := range sortedKeys(map[string]string{"api": "", "web": "", "db": "", "queue": "", "search": ""}) {
			f := services[svc]
			if f == nil {
				continue
			}
			v, ok := f(end)
			if !ok {
				continue
			}
			w := &event.Window{Pipeline: "api", Start: end.Add(-time.Minute), End: end,
				GroupKeys: []string{"service"}, Group: []string{svc}, Names: names, Count: 1}
			for _, n := range names {
				x, ok := v[n]
				if !ok {
					x = math.NaN()
				}
				w.Values = append(w.Values, x)
			}
			if err := s.WriteWindow(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// recent reports whether end is within the last d before now.
func recent(end time.Time, d time.Duration) bool { return end.After(now.Add(-d)) }

func steady(errs, p99 float64) series {
	return func(time.Time) (map[string]float64, bool) {
		return map[string]float64{"requests": 100, "errors": errs, "latency_p99": p99}, true
	}
}

func syntheticDay(t testing.TB) *Store {
	s := openTest2(t)
	writeDay(t, s, map[string]series{
		// api: 1 error a minute, 4 in each of the last 5 minutes.
		"api": func(end time.Time) (map[string]float64, bool) {
			e := 1.0
			if recent(end, 5*time.Minute) {
				e = 4
			}
			return map[string]float64{"requests": 100, "errors": e, "latency_p99": 0.1 + 0.001*float64(end.Minute()%3)}, true
		},
		// web: steady; its p99 jumps in the last window.
		"web": func(end time.Time) (map[string]float64, bool) {
			p := 0.2 + 0.01*float64(end.Minute()%5)
			if !end.Before(now) {
				p = 0.9
			}
			return map[string]float64{"requests": 100, "errors": 2, "latency_p99": p}, true
		},
		// db: errors only null (NaN) yesterday, 1 now.
		"db": func(end time.Time) (map[string]float64, bool) {
			if recent(end, 5*time.Minute) {
				return map[string]float64{"requests": 10, "errors": 1}, true
			}
			return map[string]float64{"requests": 10}, true
		},
		// queue: stopped 10 minutes ago.
		"queue": func(end time.Time) (map[string]float64, bool) {
			return map[string]float64{"requests": 5, "errors": 0}, !recent(end, 10*time.Minute)
		},
		// search: stopped 2 hours ago.
		"search": func(end time.Time) (map[string]float64, bool) {
			return map[string]float64{"requests": 5, "errors": 0}, !recent(end, 2*time.Hour)
		},
	})
	return s
}

func openTest2(t testing.TB) *Store {
	t.Helper()
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestHelpers(t *testing.T) {
	s := syntheticDay(t)
	tests := []struct {
		name string
		sql  string
		want [][]any
	}{
		{"window_values long form", `SELECT grp->>'service', name, value FROM window_values('api')
			WHERE "end" = TIMESTAMPTZ '2025-03-02 12:00:00Z' AND (grp->>'service') IN ('api', 'db') ORDER BY 1, 2`,
			[][]any{{"api", "errors", 4.0}, {"api", "latency_p99", 0.1}, {"api", "requests", 100.0},
				{"db", "errors", 1.0}, {"db", "latency_p99", nil}, {"db", "requests", 10.0}}},
		{"compare now against yesterday", `SELECT grp->>'service' AS service, now, before, ratio, delta
			FROM compare('api', 'errors', INTERVAL 5 MINUTE, INTERVAL 1 DAY) ORDER BY service`,
			[][]any{{"api", 20.0, 5.0, 4.0, 15.0}, {"db", 5.0, nil, nil, 5.0}, {"queue", nil, 0.0, nil, 0.0},
				{"search", nil, 0.0, nil, 0.0}, {"web", 10.0, 10.0, 1.0, 0.0}}},
		{"compare at an explicit time", `SELECT grp->>'service' AS service, now, before
			FROM compare('api', 'errors', INTERVAL 5 MINUTE, INTERVAL 1 DAY, as_of := TIMESTAMPTZ '2025-03-02 11:58:00Z')
			WHERE service = 'api'`,
			[][]any{{"api", 14.0, 5.0}}},
		{"compare with avg", `SELECT grp->>'service' AS service, now, before
			FROM compare('api', 'requests', INTERVAL 5 MINUTE, INTERVAL 1 HOUR, agg := 'avg') WHERE service = 'api'`,
			[][]any{{"api", 100.0, 100.0}}},
		{"topk_change", `SELECT grp->>'service', delta, rank FROM topk_change('api', 'errors', INTERVAL 5 MINUTE, 1)`,
			[][]any{{"api", 15.0, int64(1)}}},
		{"baseline", `SELECT grp->>'service' AS service, latest, samples, zscore > 10, round(median, 3)
			FROM baseline('api', 'latency_p99', 60) WHERE service IN ('api', 'web') ORDER BY service`,
			[][]any{{"api", 0.1, int64(60), false, 0.101}, {"web", 0.9, int64(60), true, 0.22}}},
		{"absent", `SELECT grp->>'service', silent_s FROM absent('api', INTERVAL 5 MINUTE, INTERVAL 1 HOUR)`,
			[][]any{{"queue", 600.0}}},
		{"wval", `SELECT wval(vals, 'errors') FROM windows WHERE grp->>'service' = 'api' ORDER BY "end" DESC LIMIT 1`,
			[][]any{{4.0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustQuery(t, s, tt.sql)
			if !reflect.DeepEqual(res.Rows, tt.want) {
				t.Errorf("rows = %v\nwant   %v", res.Rows, tt.want)
			}
		})
	}
}

func TestPipelineViews(t *testing.T) {
	s := syntheticDay(t)
	ctx := context.Background()
	views := []PipelineView{
		{Name: "api", GroupBy: []string{"service"}, Aggregates: []string{"requests", "errors", "latency_p99"}},
		{Name: "other-pipe", GroupBy: []string{"http.host"}, Aggregates: []string{"n"}},
	}
	if err := s.CreatePipelineViews(ctx, views); err != nil {
		t.Fatal(err)
	}
	res := mustQuery(t, s, `SELECT service, errors, latency_p99, requests, count FROM w_api
		WHERE "end" = TIMESTAMPTZ '2025-03-02 12:00:00Z' ORDER BY service`)
	want := [][]any{{"api", 4.0, 0.1, 100.0, int64(1)}, {"db", 1.0, nil, 10.0, int64(1)}, {"web", 2.0, 0.9, 100.0, int64(1)}}
	if !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("w_api rows = %v, want %v", res.Rows, want)
	}
	if res := mustQuery(t, s, `SELECT "http.host", n FROM "w_other-pipe"`); len(res.Rows) != 0 {
		t.Errorf("w_other-pipe has rows %v", res.Rows)
	}
	// A pipeline that is gone loses its view; one that stays keeps it.
	if err := s.CreatePipelineViews(ctx, views[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Query(ctx, `SELECT * FROM "w_other-pipe"`); !errors.Is(err, ErrBadQuery) {
		t.Errorf("view of a removed pipeline: err = %v, want ErrBadQuery", err)
	}
	mustQuery(t, s, `SELECT count(*) FROM w_api`)
}

func TestChecker(t *testing.T) {
	c, err := NewChecker(context.Background(), []PipelineView{{Name: "api", GroupBy: []string{"service"}, Aggregates: []string{"errors"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		sql  string
		want error // nil, ErrBadQuery or ErrRefused
		msg  string
	}{
		{`SELECT grp, now FROM compare('api', 'errors', INTERVAL 5 MINUTE, INTERVAL 1 DAY) WHERE ratio > 3`, nil, ""},
		{`SELECT service, errors FROM w_api`, nil, ""},
		{`SELECT service FROM windows`, ErrBadQuery, "service"},
		{`SELECT * FROM w_nope`, ErrBadQuery, "w_nope"},
		{`SELECT * FROM read_csv('/etc/passwd')`, ErrRefused, "read_csv"},
		{`DELETE FROM windows`, ErrRefused, "DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			err := c.Check(context.Background(), tt.sql)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Check = %v, want %v mentioning %q", err, tt.want, tt.msg)
			}
		})
	}
}
