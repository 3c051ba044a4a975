package ingest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window"
)

// memStore is a store writer that commits at once and counts what it got.
type memStore struct {
	mu       sync.Mutex
	events   int
	rejected int
}

func (s *memStore) WriteEvents(_ context.Context, evs []*event.Event) error {
	s.mu.Lock()
	s.events += len(evs)
	s.mu.Unlock()
	return nil
}

func (s *memStore) WriteRejected(_ context.Context, rej []event.Rejected) error {
	s.mu.Lock()
	s.rejected += len(rej)
	s.mu.Unlock()
	return nil
}

func (s *memStore) AfterCommit(_ context.Context, fn func(error)) error { fn(nil); return nil }

// windows collects what a bus emits.
type windows struct {
	mu   sync.Mutex
	list []*event.Window
}

func (w *windows) emit(x *event.Window) {
	w.mu.Lock()
	w.list = append(w.list, x)
	w.mu.Unlock()
}

// events sums the counts of the emitted windows.
func (w *windows) events() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n int64
	for _, x := range w.list {
		n += x.Count
	}
	return n
}

func (w *windows) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.list)
}

// newPipeline builds a counting pipeline on the bus's emit function.
func newPipeline(t testing.TB, b *Bus, pc config.Pipeline) *window.Pipeline {
	t.Helper()
	if pc.Aggregates == nil {
		pc.Aggregates = config.Aggregates{{Name: "n", Expr: "count()"}}
	}
	p, err := window.New(pc, b.Emit)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run starts the bus's goroutine and returns the func that stops it and
// waits for it.
func run(b *Bus) (stop func()) {
	done := make(chan struct{})
	go func() { b.Run(); close(done) }()
	return func() { b.Stop(); <-done }
}

// batch returns n events of source src at t, t+step, ...
func batch(src string, t time.Time, step time.Duration, n int) event.Batch {
	b := event.Batch{Source: src}
	for i := range n {
		b.Events = append(b.Events, &event.Event{Time: t.Add(time.Duration(i) * step), Source: src,
			Fields: map[string]any{"service": "a"}})
	}
	return b
}
