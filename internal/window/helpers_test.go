package window

import (
	"math"
	"testing"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// t0 is a window-aligned base time for tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns t0+d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// ev builds an event at t0+d with alternating key, value pairs.
func ev(d time.Duration, kv ...any) *event.Event {
	f := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i].(string)] = kv[i+1]
	}
	return &event.Event{Time: at(d), Source: "test", Fields: f}
}

// recorder collects emitted windows.
type recorder struct{ got []*event.Window }

func (r *recorder) emit(w *event.Window) { r.got = append(r.got, w) }

// take returns and forgets what was emitted so far.
func (r *recorder) take() []*event.Window {
	g := r.got
	r.got = nil
	return g
}

// aggs builds an ordered aggregate list from name, expr pairs.
func aggs(kv ...string) config.Aggregates {
	var a config.Aggregates
	for i := 0; i+1 < len(kv); i += 2 {
		a = append(a, config.Aggregate{Name: kv[i], Expr: kv[i+1]})
	}
	return a
}

// mustNew builds a pipeline or fails the test.
func mustNew(t *testing.T, cfg config.Pipeline) (*Pipeline, *recorder) {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "p"
	}
	r := &recorder{}
	p, err := New(cfg, r.emit)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, r
}

// sameFloat treats NaN as equal to NaN and allows float rounding.
func sameFloat(got, want float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

// vmState holds a VM for calling fieldExpr methods directly.
type vmState struct{ vm vm.VM }
