package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/preprocess"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/push"
	"github.com/lookout-dev/lookout/internal/window"
)

// pipelineSink folds submitted batches straight into a pipeline, the way the
// ingest goroutine does, without the queue in between.
type pipelineSink struct {
	p   *window.Pipeline
	now time.Time
}

func (s *pipelineSink) Submit(_ context.Context, b event.Batch, _ []event.Rejected) error {
	s.p.Add(b.Events, s.now)
	return nil
}

func (s *pipelineSink) TrySubmit(b event.Batch, r []event.Rejected) error {
	return s.Submit(context.Background(), b, r)
}

// BenchmarkPushToWindow is the push source's hot path on one goroutine: an
// NDJSON body of 1,000 events is split, decoded, preprocessed (time field, a
// unit conversion) and folded into a pipeline with 1,000 groups and 5 aggregates
// including a quantile. It reports events/s.
func BenchmarkPushToWindow(b *testing.B) {
	srcCfg := config.Source{Name: "push", Type: "push", TimeField: "ts",
		Fields: map[string]config.Field{"latency_ms": {Type: "number", Unit: "ms", To: "s", As: "latency"}}}
	pre, err := preprocess.New(srcCfg)
	if err != nil {
		b.Fatal(err)
	}
	clk := clock.NewFake(time.Unix(1_750_000_000, 0))
	src, err := push.New(srcCfg, source.Deps{
		Log: slog.New(slog.DiscardHandler), Clock: clk, Pre: pre,
		Raw: source.NewRing(100), Health: source.NewHealth("push", "push", clk),
	})
	if err != nil {
		b.Fatal(err)
	}
	p, err := window.New(config.Pipeline{
		Name: "api", From: []string{"push"}, GroupBy: []string{"service"},
		Window: config.Window{Size: 10 * time.Second}, Lateness: config.Duration(time.Second),
		Aggregates: config.Aggregates{
			{Name: "requests", Expr: "count()"},
			{Name: "error_rate", Expr: "ratio(status >= 500)"},
			{Name: "latency_avg", Expr: "avg(latency)"},
			{Name: "latency_p99", Expr: "quantile(latency, 0.99)"},
			{Name: "latency_max", Expr: "max(latency)"},
		},
	}, func(*event.Window) {})
	if err != nil {
		b.Fatal(err)
	}
	// 50 bodies of 1,000 events, each 1 s of event time further on, so
	// windows keep closing as in a live stream.
	const perBody = 1000
	bodies := make([][]byte, 50)
	base := clk.Now().UnixMilli()
	for i := range bodies {
		var sb strings.Builder
		for j := range perBody {
			n := i*perBody + j
			status := 200
			if n%17 == 0 {
				status = 503
			}
			fmt.Fprintf(&sb, `{"ts":%d,"service":"svc-%d","status":%d,"latency_ms":%d.5,"path":"/v1/orders"}`+"\n",
				base+int64(i)*1000+int64(j%1000), n%1000, status, 5+n%200)
		}
		bodies[i] = []byte(sb.String())
	}
	sink := &pipelineSink{p: p, now: clk.Now()}
	b.SetBytes(int64(len(bodies[0])))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		res, err := src.Ingest(bodies[i%len(bodies)], sink)
		if err != nil || res.Accepted != perBody {
			b.Fatalf("ingest: %+v %v", res, err)
		}
	}
	b.ReportMetric(float64(b.N)*perBody/b.Elapsed().Seconds(), "events/s")
}
