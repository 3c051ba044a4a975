package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window"
)

// pipelineSink folds every batch into a window pipeline, as lookout's
// ingest loop does, and acknowledges it.
type pipelineSink struct {
	mu   sync.Mutex
	p    *window.Pipeline
	n    int
	want int
	done chan struct{}
}

func newPipelineSink(b *testing.B, want int) *pipelineSink {
	p, err := window.New(config.Pipeline{
		Name: "bench", From: []string{"orders"}, GroupBy: []string{"service"},
		Window: config.Window{Size: time.Second}, Lateness: config.Duration(time.Second),
		Aggregates: config.Aggregates{{Name: "n", Expr: "count()"}, {Name: "lat", Expr: "avg(latency)"}},
	}, func(*event.Window) {})
	if err != nil {
		b.Fatal(err)
	}
	return &pipelineSink{p: p, want: want, done: make(chan struct{})}
}

func (s *pipelineSink) Submit(_ context.Context, b event.Batch, _ []event.Rejected) error {
	s.mu.Lock()
	s.p.Add(b.Events, time.Now())
	s.n += len(b.Events)
	if s.n >= s.want && s.want > 0 {
		s.want = 0
		close(s.done)
	}
	s.mu.Unlock()
	if b.Ack != nil {
		b.Ack(nil)
	}
	return nil
}

func (s *pipelineSink) TrySubmit(b event.Batch, r []event.Rejected) error {
	return s.Submit(context.Background(), b, r)
}

// BenchmarkKafkaSource measures events per second from a Kafka topic
// (in-process cluster, 4 partitions) through the source, JSON decoding and
// preprocessing included, into a window pipeline. b.N events are produced
// before the timer starts.
func BenchmarkKafkaSource(b *testing.B) {
	c := cluster(b, "orders", 4)
	n := max(b.N, 1000)
	vals := make([][]byte, n)
	now := time.Now()
	for i := range vals {
		vals[i] = fmt.Appendf(nil, `{"service":"svc-%d","status":200,"latency":%d,"ts":%d}`, i%10, i%300, now.Add(time.Duration(i)*time.Microsecond).UnixMilli())
	}
	produce(b, c, "orders", vals...)
	s := newSource(b, c, nil)
	sink := newPipelineSink(b, n)
	b.ResetTimer()
	stop := run(b, s, sink)
	select {
	case <-sink.done:
	case <-time.After(5 * time.Minute):
		b.Fatal("timed out")
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	stop()
}
