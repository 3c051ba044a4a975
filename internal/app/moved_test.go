package app

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/lookout-dev/lookout/internal/event"
)

// When parts of a source move to another lookout, the app forgets the open
// windows they fed, drops their batches still queued, fails the acks of both
// (so the broker never commits them here), and keeps everything else.
func TestRevokedForgetsMovedOrigins(t *testing.T) {
	a := runApp(t, `
sources: [{name: orders, type: push}]
pipelines:
  - {name: api, from: [orders], group_by: [service], window: 1h, lateness: 1m, aggregates: {n: count()}}
`)
	var mu sync.Mutex
	acks := map[string]error{}
	batch := func(name, service string, origin int32, n int) event.Batch {
		b := event.Batch{Source: "orders", Ack: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := acks[name]; dup {
				t.Errorf("batch %s acknowledged twice", name)
			}
			acks[name] = err
		}}
		for range n {
			b.Events = append(b.Events, &event.Event{Time: time.Now(), Source: "orders", Origin: origin,
				Fields: map[string]any{"service": service}})
		}
		return b
	}
	ctx := context.Background()
	s := sink{a}
	for _, b := range []event.Batch{batch("moved", "a", 1, 3), batch("stays", "b", 2, 2)} {
		if err := s.Submit(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	p := a.g.Load().pipelines[0]
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().OpenWindows != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("open windows %d, want 2", p.Stats().OpenWindows)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Hold the ingest goroutine so that one more batch of the moved part
	// and one of another part wait in the queue, then forget there.
	queued, forgot := make(chan struct{}), make(chan struct{})
	a.control <- func() {
		<-queued
		a.forgetMoved("orders", []int32{1}, forgot)
	}
	for _, b := range []event.Batch{batch("moved, queued", "a", 1, 4), batch("stays, queued", "c", 2, 1)} {
		if err := s.Submit(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	close(queued)
	<-forgot
	// A second move through the hook itself, of a part with nothing open.
	if err := a.revoked(ctx, "orders", []int32{7}); err != nil {
		t.Fatal(err)
	}

	if got := p.Stats().OpenWindows; got != 2 {
		t.Errorf("open windows after the move: %d, want 2 (b's and c's)", got)
	}
	mu.Lock()
	for _, tc := range []struct {
		batch   string
		settled bool
		moved   bool
	}{
		{"moved", true, true},
		{"moved, queued", true, true},
		{"stays", false, false},
		{"stays, queued", false, false},
	} {
		t.Run(tc.batch, func(t *testing.T) {
			err, settled := acks[tc.batch]
			if settled != tc.settled || errors.Is(err, errMoved) != tc.moved {
				t.Errorf("ack settled %v with %v, want settled %v (moved %v)", settled, err, tc.settled, tc.moved)
			}
		})
	}
	mu.Unlock()
	m := scrape(t, a)
	problems, err := promlint.New(strings.NewReader(m)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	for _, want := range []string{
		`lookout_rebalance_groups_forgotten_total{source="orders"} 1`,
		`lookout_rebalance_groups_mixed_total{source="orders"} 0`,
		`lookout_rebalance_events_dropped_total{source="orders"} 4`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
