package app

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window"
)

func baselinePipeline(t *testing.T, lateness time.Duration, z string) *window.Pipeline {
	t.Helper()
	p, err := window.New(config.Pipeline{Name: "api", GroupBy: []string{"service"}, Window: config.Window{Size: time.Second},
		Lateness:   config.Duration(lateness),
		Aggregates: config.Aggregates{{Name: "lat", Expr: "avg(latency)"}, {Name: "z", Expr: z}}},
		func(*event.Window) {})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The saver writes a checkpoint per pipeline that a fresh pipeline loads,
// and a reload that changes only lateness keeps the histories while one
// that changes an aggregate starts cold.
func TestBaselineSaverFilesAndReloads(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := baselinePipeline(t, 0, "zscore(latency)")
	for w := range 4 {
		for _, svc := range []string{"a", "b", "c"} {
			old.Add([]*event.Event{{Time: t0.Add(time.Duration(w) * time.Second), Source: "s",
				Fields: map[string]any{"service": svc, "latency": float64(w)}}}, time.Time{})
		}
		old.Advance(t0.Add(time.Duration(w+1) * time.Second))
	}
	s := newBaselineSaver(t.TempDir(), slog.New(slog.DiscardHandler))

	later := baselinePipeline(t, time.Second, "zscore(latency)") // lateness changed
	other := baselinePipeline(t, 0, "mad_score(latency)")        // an aggregate changed
	s.carry([]*window.Pipeline{old}, []*window.Pipeline{later})
	s.flush([]*window.Pipeline{later})
	f, err := os.Open(s.path("api"))
	if err != nil {
		t.Fatalf("no checkpoint written after the reload: %v", err)
	}
	n, err := baselinePipeline(t, time.Second, "zscore(latency)").LoadBaselines(f)
	f.Close()
	if err != nil || n != 3 {
		t.Fatalf("checkpoint after the reload holds %d groups (%v), want 3", n, err)
	}

	clear(s.dirty)
	s.carry([]*window.Pipeline{old}, []*window.Pipeline{other})
	if s.dirty["api"] {
		t.Error("histories were carried into a pipeline whose aggregates changed")
	}
}
