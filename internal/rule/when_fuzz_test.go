package rule

import (
	"math"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// FuzzWhen compiles arbitrary `when` conditions against a pipeline: New never
// panics and fails only with *CompileErrors, and a condition that compiles is
// judged on windows holding ordinary numbers, NaN, infinities and an empty
// group without panicking.
func FuzzWhen(f *testing.F) {
	for _, s := range []string{
		"error_rate > 0.05 && requests >= 20",
		`service == "api" || errors > threshold("errs", 5)`,
		"latency_p99 / requests > 2",
		"abs(error_rate - 1) < 0.1",
		"requests > ",
		"errors",
		"service matches 'a+(' ",
		"error_rate > threshold(service, 1)",
		"1/0 > 1",
		"requests in [1, 2, 3] and not (errors < 0)",
	} {
		f.Add(s)
	}
	pipes := []config.Pipeline{{Name: "api", GroupBy: []string{"service"}, Window: config.Window{Size: 10 * time.Second},
		Aggregates: config.Aggregates{{Name: "requests", Expr: "count()"}, {Name: "errors", Expr: "count(status >= 500)"},
			{Name: "error_rate", Expr: "ratio(status >= 500)"}, {Name: "latency_p99", Expr: "quantile(latency, 0.99)"}}}}
	names := []string{"requests", "errors", "error_rate", "latency_p99"}
	f.Fuzz(func(t *testing.T, when string) {
		e, err := New([]config.Rule{{Name: "R", Pipeline: "api", When: when, For: config.For{Count: 1}}},
			Options{Pipelines: pipes, Threshold: func(string) (float64, bool) { return 1, true }})
		if err != nil {
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, ce := range errs {
				if _, ok := ce.(*CompileError); !ok {
					t.Fatalf("error %T %v is not a *CompileError", ce, ce)
				}
			}
			return
		}
		end := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
		for _, vals := range [][]float64{{30, 3, 0.1, 0.2}, {0, 0, math.NaN(), math.NaN()}, {math.Inf(1), -1, math.Inf(-1), 0}} {
			for _, group := range []string{"api", ""} {
				e.OnWindow(&event.Window{Pipeline: "api", Start: end.Add(-10 * time.Second), End: end,
					GroupKeys: []string{"service"}, Group: []string{group}, Names: names, Values: vals})
			}
			end = end.Add(10 * time.Second)
		}
	})
}
