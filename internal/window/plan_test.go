package window

import (
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// TestPlanStartsIndependentPipelines: one compiled Plan runs several
// pipelines at once, each with its own windows, and what one adds does not
// show in another's.
func TestPlanStartsIndependentPipelines(t *testing.T) {
	pl, err := Compile(config.Pipeline{Name: "api", GroupBy: []string{"host"}, Window: config.Window{Size: 10 * time.Second},
		Aggregates: aggs("n", "count()", "top", "max(latency)")})
	if err != nil {
		t.Fatal(err)
	}
	var a, b recorder
	pa, pb := pl.NewPipeline(a.emit), pl.NewPipeline(b.emit)
	// Each on its own goroutine, as the app runs pipelines: the Plan they
	// share is only read (go test -race checks that).
	var wg sync.WaitGroup
	wg.Go(func() {
		pa.Add([]*event.Event{ev(time.Second, "host", "x", "latency", 5.0), ev(2*time.Second, "host", "x", "latency", 7.0)}, time.Time{})
		pa.Advance(at(time.Minute))
	})
	wg.Go(func() {
		pb.Add([]*event.Event{ev(time.Second, "host", "y", "latency", 1.0)}, time.Time{})
		pb.Advance(at(time.Minute))
	})
	wg.Wait()
	ga, gb := a.take(), b.take()
	if len(ga) != 1 || ga[0].Group[0] != "x" || ga[0].Values[0] != 2 || ga[0].Values[1] != 7 {
		t.Errorf("first pipeline emitted %+v, want one window of host x: n 2, top 7", ga)
	}
	if len(gb) != 1 || gb[0].Group[0] != "y" || gb[0].Values[0] != 1 || gb[0].Values[1] != 1 {
		t.Errorf("second pipeline emitted %+v, want one window of host y: n 1, top 1", gb)
	}
	if got := pl.Names(); len(got) != 2 || got[0] != "n" || got[1] != "top" {
		t.Errorf("Names() = %v after two pipelines ran, want [n top]", got)
	}
}

// TestCompileSpeaksConfigWords: a pipeline built in code is told what is
// wrong with its shape in the words config validation uses for a file, at
// the same key.
func TestCompileSpeaksConfigWords(t *testing.T) {
	for _, cfg := range []config.Pipeline{
		{Name: "a", Window: config.Window{Size: time.Minute, Every: 7 * time.Second}},
		{Name: "b", Window: config.Window{Size: time.Minute, Count: 10}},
		{Name: "c", Window: config.Window{Size: time.Second}, GroupBy: []string{"host", "host"}},
		{Name: "d", Window: config.Window{Size: time.Second}, Late: "fix"},
		{Name: "e", Window: config.Window{Size: time.Second}, Baseline: 3, MinBaseline: 4},
	} {
		cfg.Aggregates = aggs("n", "count()")
		want := cfg.ShapeErrors()
		if len(want) != 1 {
			t.Fatalf("%s: config finds %d shape errors, want 1", cfg.Name, len(want))
		}
		_, err := Compile(cfg)
		ces := CompileErrors(err)
		if len(ces) != 1 || ces[0].Path != want[0].Key || ces[0].Err.Error() != want[0].Msg {
			t.Errorf("%s: Compile = %v, want %s: %s", cfg.Name, err, want[0].Key, want[0].Msg)
		}
	}
}
