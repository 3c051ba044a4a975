package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window"
)

func baselinePipeline(t *testing.T, b *Bus, lateness time.Duration, z string) *window.Pipeline {
	t.Helper()
	return newPipeline(t, b, config.Pipeline{Name: "api", From: []string{"s"}, GroupBy: []string{"service"},
		Window: config.Window{Size: time.Second}, Lateness: config.Duration(lateness),
		Aggregates: config.Aggregates{{Name: "lat", Expr: "avg(latency)"}, {Name: "z", Expr: z}}})
}

// checkpointGroups loads the pipeline's checkpoint under dir into a fresh
// pipeline and returns how many groups' histories it held.
func checkpointGroups(t *testing.T, dir, z string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "baselines", "api.ckpt"))
	if err != nil {
		t.Fatalf("no checkpoint written: %v", err)
	}
	defer f.Close()
	n, err := baselinePipeline(t, New(Options{Store: &memStore{}, Emit: func(*event.Window) {}}), time.Second, z).LoadBaselines(f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A stop saves each pipeline's baseline histories; a reload that changes
// only lateness carries them into the rebuilt pipeline, one that changes an
// aggregate starts it cold.
func TestBaselinesSavedAndCarriedAcrossReloads(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, z string
		groups  int
	}{
		{"lateness changed", "zscore(latency)", 3},
		{"aggregate changed", "mad_score(latency)", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b := New(Options{Store: &memStore{}, Emit: func(*event.Window) {}, DataDir: dir})
			old := baselinePipeline(t, b, 0, "zscore(latency)")
			for w := range 4 { // filled before Run, as the refill at start does
				for _, svc := range []string{"a", "b", "c"} {
					old.Add([]*event.Event{{Time: t0.Add(time.Duration(w) * time.Second), Source: "s",
						Fields: map[string]any{"service": svc, "latency": float64(w)}}}, time.Time{})
				}
				old.Advance(t0.Add(time.Duration(w+1) * time.Second))
			}
			b.Restore(Routes{Pipelines: []*window.Pipeline{old}})
			stop := run(b)
			cur := baselinePipeline(t, b, time.Second, tc.z)
			if err := b.Swap(context.Background(), Routes{Pipelines: []*window.Pipeline{cur}}, func() error { return nil }); err != nil {
				t.Fatal(err)
			}
			stop()
			if n := checkpointGroups(t, dir, tc.z); n != tc.groups {
				t.Fatalf("checkpoint after the reload and stop holds %d groups, want %d", n, tc.groups)
			}
		})
	}
}
