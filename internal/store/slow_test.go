package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// TestSlowQueryDoesNotBlockIngest runs a deliberately slow query (a huge
// cross join) and, while it runs, writes events through the writer: Flush
// returns, with the events committed and readable, before the query ends.
func TestSlowQueryDoesNotBlockIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a CPU-heavy query")
	}
	s := openTest(t, Options{StoreEvents: true, QueryTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	queryDone := make(chan error, 1)
	go func() {
		_, err := s.Query(ctx, `SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range + b.range = -1`)
		queryDone <- err
	}()
	// Wait (bounded) until the query holds a read connection.
	deadline := time.Now().Add(10 * time.Second)
	for s.db.Stats().InUse == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow query never took a connection")
		}
		time.Sleep(time.Millisecond)
	}

	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	for i := range 20 {
		evs := make([]*event.Event, 500)
		for j := range evs {
			evs[j] = &event.Event{Time: t0.Add(time.Duration(i*500+j) * time.Millisecond), Source: "push",
				Fields: map[string]any{"n": float64(j)}}
		}
		if err := s.WriteEvents(wctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(wctx); err != nil {
		t.Fatalf("Flush while a slow query runs: %v", err)
	}
	select {
	case err := <-queryDone:
		t.Fatalf("the slow query ended (%v) before the writes were flushed; the test proves nothing", err)
	default:
	}
	var n int64
	if err := s.db.QueryRowContext(wctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 10000 {
		t.Errorf("events committed while the query ran = %d (%v), want 10000", n, err)
	}
	cancel()
	if err := <-queryDone; !errors.Is(err, context.Canceled) {
		t.Errorf("slow query after cancel: %v, want context.Canceled", err)
	}
}
