package redis

import (
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/rule"
)

// TestEnginesShareClaims runs two rule engines, as two lookouts would, over
// the same windows with one Redis: every notification goes out once, and the
// other engine records that another instance sent it.
func TestEnginesShareClaims(t *testing.T) {
	s := startServer(t)
	rules := []config.Rule{{Name: "High", Pipeline: "api", When: "errors > 5", For: config.For{Count: 2},
		Repeat: config.Duration(10 * time.Minute), Notify: []string{"ops"}}}
	type engine struct {
		e         *rule.Engine
		clk       *clock.Fake
		mu        sync.Mutex
		sent      []event.AlertState
		decisions []string
	}
	var es []*engine
	for range 2 {
		en := &engine{clk: clock.NewFake(t0)}
		e, err := rule.New(rules, rule.Options{
			Store: s.open(t), Claimer: s.open(t), Clock: en.clk,
			Notify: func(a event.Alert) { en.mu.Lock(); en.sent = append(en.sent, a.State); en.mu.Unlock() },
			Record: func(tr event.Transition) {
				if tr.Decision != "" {
					en.mu.Lock()
					en.decisions = append(en.decisions, string(tr.State)+": "+tr.Decision)
					en.mu.Unlock()
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		en.e = e
		es = append(es, en)
	}
	errs := []float64{9, 9, 9, 0, 9, 9, 9, 0} // fires, resolves, fires again, resolves
	for i, v := range errs {
		end := t0.Add(time.Duration(i+1) * 10 * time.Second)
		var wg sync.WaitGroup
		for _, en := range es {
			en.clk.Set(end)
			wg.Go(func() {
				en.e.OnWindow(&event.Window{Pipeline: "api", Start: end.Add(-10 * time.Second), End: end,
					GroupKeys: []string{"service"}, Group: []string{"api"}, Names: []string{"errors"}, Values: []float64{v}})
			})
		}
		wg.Wait()
	}
	var all []event.AlertState
	suppressed := 0
	for _, en := range es {
		all = append(all, en.sent...)
		for _, d := range en.decisions {
			if d == "firing: "+rule.DecisionSuppressedClaimed || d == "resolved: "+rule.DecisionSuppressedClaimed {
				suppressed++
			}
		}
	}
	count := map[event.AlertState]int{}
	for _, st := range all {
		count[st]++
	}
	if count[event.StateFiring] != 2 || count[event.StateResolved] != 2 || len(all) != 4 {
		t.Errorf("notifications across both engines: %v; want 2 firing and 2 resolved", all)
	}
	if suppressed != 4 {
		t.Errorf("%d decisions %q; want 4 (one per notification)\n%v\n%v", suppressed, rule.DecisionSuppressedClaimed, es[0].decisions, es[1].decisions)
	}
}
