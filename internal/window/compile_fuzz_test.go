package window

import (
	"math"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// FuzzCompile compiles arbitrary `where` and aggregate expressions: New
// never panics, fails only with *CompileErrors that name the key at fault,
// and a pipeline that compiles survives events of every field type through
// closed windows.
func FuzzCompile(f *testing.F) {
	for _, s := range [][3]string{
		{`service != ""`, "count(status >= 500)", "a / n"},
		{"", "ratio(status >= 500)", "a * 100"},
		{"x > 1 && s matches '^a'", "quantile(latency, 0.99)", "n - a"},
		{"status in [500, 503]", "topk(s, 3)", "n"},
		{"latency > 0.5 ? true : false", "distinct(s)", "a"},
		{"x >", "avg(", ")"},
		{"len(s) > 2", "zscore(x)", "a ** 2"},
		{"", "sum(x / 0)", "a / 0"},
		{"", "ewma(latency, 0.3)", "min(a, n)"},
		{"", "rate(x)", "a * 60"},
		{"metric == 'c'", "increase(latency)", "a"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	events := func(t0 time.Time) []*event.Event {
		var out []*event.Event
		for i, fs := range []map[string]any{
			{"service": "api", "status": 500.0, "latency": 0.7, "x": 2.0, "s": "abc"},
			{"service": "db", "status": "oops", "latency": math.NaN(), "x": math.Inf(1), "s": 3.0},
			{"service": "", "x": nil, "s": []any{"a"}, "nested": map[string]any{"k": 1.0}},
			{"service": "api", "metric": "c", "x": 1.0, "latency": 0.2, "s": []any{"b"}, "flag": true},
			{},
		} {
			out = append(out, &event.Event{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Source: "s", Fields: fs})
		}
		return out
	}
	f.Fuzz(func(t *testing.T, where, agg, expr string) {
		cfg := config.Pipeline{Name: "p", Where: where, GroupBy: []string{"service"}, Window: config.Window{Size: time.Second},
			Aggregates: config.Aggregates{{Name: "n", Expr: "count()"}, {Name: "a", Expr: agg}, {Name: "e", Expr: expr}}}
		p, err := New(cfg, func(*event.Window) {})
		if err != nil {
			ces := CompileErrors(err)
			if len(ces) == 0 {
				t.Fatalf("error %v carries no *CompileError", err)
			}
			for _, ce := range ces {
				if ce.Path == "" {
					t.Fatalf("compile error without a path: %v", ce)
				}
			}
			return
		}
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		p.Add(events(t0), t0)
		p.Advance(t0.Add(time.Hour))
	})
}
