package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/store"
)

// TestRefillAfterLongDowntime: lookout was killed in a pipeline's first
// window, before it ever emitted one, and came back later than the window's
// lateness. Every stored event of the window is read back into it: counting
// back from the restart instead would leave out the window's start.
func TestRefillAfterLongDowntime(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 8, 2, 33, 0, 0, time.UTC)
	st, err := store.Open(store.Options{Dir: dir, StoreEvents: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	for i := range 7 {
		evs = append(evs, &event.Event{Time: t0.Add(time.Duration(i) * time.Second), Source: "push",
			Fields: map[string]any{"service": "api"}, Raw: []byte(`{"service":"api"}`)})
	}
	if err := st.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	cfg, err := config.Parse("lookout.yaml", []byte(`
sources: [{name: push, type: push}]
pipelines:
  - {name: api, from: [push], group_by: [service], window: 10s, lateness: 1s, aggregates: {requests: count()}}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.Path = dir
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Back 16 s after the window began: 5 s after it could have closed.
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), clock.NewFake(t0.Add(16*time.Second)), Build{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !strings.Contains(logs.String(), `msg="refilled open windows from the store" pipeline=api events=7`) {
		t.Errorf("the restart did not refill the window's 7 events:\n%s", logs.String())
	}
}
