package window

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// BenchmarkPipeline measures the throughput of one pipeline: 1,000 groups,
// the five aggregates of a typical API pipeline, 1 s windows that close as
// event time moves on (so emitting is included; 10 events per group and
// window), events built beforehand.
func BenchmarkPipeline(b *testing.B) {
	const groups, perPass, batch = 1000, 100_000, 1000
	rng := rand.New(rand.NewPCG(1, 1))
	events := make([]*event.Event, perPass)
	for i := range events {
		status := 200.0
		if rng.IntN(50) == 0 {
			status = 503
		}
		events[i] = &event.Event{
			// 10 events per group per window: 10 windows per pass.
			Time: t0.Add(time.Duration(i) * 100 * time.Microsecond),
			Fields: map[string]any{
				"service": fmt.Sprintf("svc-%d", rng.IntN(groups)),
				"status":  status,
				"latency": rng.ExpFloat64() * 0.05,
			},
		}
	}
	cfg := config.Pipeline{
		Name:     "api",
		GroupBy:  []string{"service"},
		Window:   config.Window{Size: time.Second},
		Lateness: config.Duration(100 * time.Millisecond),
		Aggregates: aggs(
			"requests", "count()",
			"error_rate", "ratio(status >= 500)",
			"latency_avg", "avg(latency)",
			"latency_p99", "quantile(latency, 0.99)",
			"latency_max", "max(latency)",
		),
	}
	var emitted int
	newPipeline := func() *Pipeline {
		p, err := New(cfg, func(*event.Window) { emitted++ })
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	p := newPipeline()
	off := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if off == perPass {
			// Start over with a fresh pipeline: replaying the same times
			// into the old one would only count late events.
			b.StopTimer()
			p, off = newPipeline(), 0
			b.StartTimer()
		}
		p.Add(events[off:off+batch], t0)
		off += batch
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(0, "ns/op")
	if emitted == 0 && b.N*batch > 2*perPass/10 {
		b.Fatal("no window was emitted")
	}
}
