package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/lookout-dev/lookout/internal/event"
)

// /metrics says, per source, what a rebalance took away: the wiring hands
// every source the bus's Revoked hook.
func TestRebalanceMetrics(t *testing.T) {
	a := runApp(t, `
sources: [{name: orders, type: push}]
pipelines:
  - {name: api, from: [orders], group_by: [service], window: 1h, lateness: 1m, aggregates: {n: count()}}
`)
	ctx := context.Background()
	b := event.Batch{Source: "orders"}
	for _, svc := range []string{"a", "b"} {
		b.Events = append(b.Events, &event.Event{Time: time.Now(), Source: "orders", Origin: 1,
			Fields: map[string]any{"service": svc}})
	}
	if err := a.bus.Submit(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	p := a.g.Load().pipelines[0]
	for deadline := time.Now().Add(10 * time.Second); p.Stats().OpenWindows != 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("open windows %d, want 2", p.Stats().OpenWindows)
		}
	}
	if err := a.bus.Revoked(ctx, "orders", []int32{1}); err != nil {
		t.Fatal(err)
	}
	m := scrape(t, a)
	problems, err := promlint.New(strings.NewReader(m)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	for _, want := range []string{
		`lookout_rebalance_groups_forgotten_total{source="orders"} 2`,
		`lookout_rebalance_groups_mixed_total{source="orders"} 0`,
		`lookout_rebalance_events_dropped_total{source="orders"} 0`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
