package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/store"
	"github.com/lookout-dev/lookout/internal/window"
)

// TestResumeAfterAPartlyStoredClose: lookout was killed between two commits
// of one close, so the newest window end is stored for svc0 but not for
// svc1. On the next start the broker redelivers every event of that window;
// svc1's must count into its window once, and svc0's, already stored, must
// not make a second copy.
func TestResumeAfterAPartlyStoredClose(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse("lookout.yaml", []byte(`
sources: [{name: src, type: push}]
pipelines:
  - {name: api, from: [src], group_by: [service], window: 10s, aggregates: {n: count()}}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.Path = dir
	if err := Check(cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	open := func() *App {
		a, err := New(ctx, cfg, slog.New(slog.DiscardHandler), nil, Build{Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	t0 := time.Now().Add(-time.Hour).Truncate(10 * time.Second).UTC()
	stored := func(svc string, start time.Time, n int64) *event.Window {
		return &event.Window{Pipeline: "api", Start: start, End: start.Add(10 * time.Second),
			GroupKeys: []string{"service"}, Group: []string{svc}, Names: []string{"n"}, Values: []float64{float64(n)}, Count: n}
	}

	// What the killed lookout committed: the window before for both
	// services, the newest for svc0 only.
	a := open()
	for _, w := range []*event.Window{stored("svc0", t0.Add(-10*time.Second), 2), stored("svc1", t0.Add(-10*time.Second), 2), stored("svc0", t0, 3)} {
		if err := a.store.WriteWindow(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// The restart: the broker redelivers what was never acknowledged, the
	// newest window's events of both services and the next window's.
	a = open()
	defer func() {
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	}()
	var evs []*event.Event
	for _, at := range []time.Duration{1, 2, 3, 11, 12, 13} {
		for _, svc := range []string{"svc0", "svc1"} {
			evs = append(evs, &event.Event{Time: t0.Add(at * time.Second), Source: "src", Fields: map[string]any{"service": svc}})
		}
	}
	var p *window.Pipeline
	for _, x := range a.g.Load().pipelines {
		if x.Name() == "api" {
			p = x
		}
	}
	p.Add(evs, time.Time{})
	if st := p.Stats(); st.Late != 3 {
		t.Errorf("%d redelivered events counted late, want 3 (svc0's of its stored window)", st.Late)
	}
	p.Advance(time.Now()) // an hour on: everything closes
	if err := a.store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ws, err := a.store.Windows(ctx, store.WindowQuery{Pipeline: "api"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range ws {
		got = append(got, fmt.Sprintf("%s %s n=%v", w.Group[0], w.Start.Sub(t0), w.Values[0]))
	}
	slices.Sort(got)
	want := []string{
		"svc0 -10s n=2", "svc0 0s n=3", "svc0 10s n=3",
		"svc1 -10s n=2", "svc1 0s n=3", "svc1 10s n=3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("stored windows after the restart:\n got  %q\n want %q", got, want)
	}
}
