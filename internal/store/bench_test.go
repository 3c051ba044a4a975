package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// BenchmarkWriteEvents measures events per second through WriteEvents and the
// writer, up to their commit, in batches the size a busy source hands over.
func BenchmarkWriteEvents(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), StoreEvents: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const batch = 500
	evs := make([]*event.Event, batch)
	for i := range evs {
		raw := fmt.Appendf(nil, `{"ts":%d,"service":"api-%d","status":200,"latency_ms":%d,"path":"/v1/orders"}`, i, i%8, i%300)
		evs[i] = &event.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Source: "push", Raw: raw,
			Fields: map[string]any{"service": fmt.Sprintf("api-%d", i%8), "status": 200.0, "latency": float64(i%300) / 1000, "path": "/v1/orders"}}
	}
	b.ResetTimer()
	start := time.Now()
	n := 0
	for n < b.N {
		k := min(batch, b.N-n)
		if err := s.WriteEvents(ctx, evs[:k]); err != nil {
			b.Fatal(err)
		}
		n += k
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
