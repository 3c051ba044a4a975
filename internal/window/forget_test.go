package window

import (
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// TestForgetDropsMovedOrigins: the open windows of groups fed only by a
// moved origin disappear without being emitted, a group fed by two origins
// is kept and reported, the others are untouched, and a dropped group counts
// afresh from its next event.
func TestForgetDropsMovedOrigins(t *testing.T) {
	for _, cfg := range []struct {
		name string
		win  config.Window
	}{
		{"tumbling", config.Window{Size: 10 * time.Second}},
		{"sliding", config.Window{Size: 10 * time.Second, Every: 5 * time.Second}},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			p, r := mustNew(t, config.Pipeline{GroupBy: []string{"k"}, Window: cfg.win, Aggregates: aggs("n", "count()")})
			from := func(origin int32, d time.Duration, k string) *event.Event {
				e := ev(d, "k", k)
				e.Origin = origin
				return e
			}
			p.Add([]*event.Event{
				from(1, 1*time.Second, "a"), from(1, 2*time.Second, "a"),
				from(2, 3*time.Second, "b"),
				from(1, 4*time.Second, "c"), from(2, 5*time.Second, "c"),
			}, at(0))
			dropped, mixed := p.Forget(func(o int32) bool { return o == 1 })
			if dropped != 1 || mixed != 1 {
				t.Fatalf("Forget = %d dropped, %d mixed; want 1, 1", dropped, mixed)
			}
			p.Add([]*event.Event{from(1, 6*time.Second, "a")}, at(0))
			p.Advance(at(time.Minute))
			counts := map[string]int64{}
			for _, w := range r.take() {
				if w.End.Equal(at(10 * time.Second)) {
					counts[w.Group[0]] = w.Count
				}
			}
			want := map[string]int64{"a": 1, "b": 1, "c": 2}
			if len(counts) != len(want) {
				t.Fatalf("windows ending at 10s: %v, want %v", counts, want)
			}
			for k, n := range want {
				if counts[k] != n {
					t.Errorf("group %s: count %d, want %d (all: %v)", k, counts[k], n, counts)
				}
			}
			if s := p.Stats(); s.OpenWindows != 0 || s.Groups != 0 {
				t.Errorf("stats after closing everything: %+v", s)
			}
		})
	}
}
