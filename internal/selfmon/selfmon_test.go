package selfmon

import (
	"context"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

// The self source is up from its start, not from its first sample an
// interval later, and down once it stopped.
func TestSelfSourceUpWhileRunning(t *testing.T) {
	cfg := config.Source{Name: config.SelfName, Type: "self", Settings: &SourceConfig{Interval: config.Duration(time.Hour)}}
	deps, err := source.Deps{}.WithDefaults(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, deps, func() Vitals { return Vitals{} })
	if deps.Health.Snapshot().Up {
		t.Fatal("up before it runs")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx, sourcetest.NewAckSink()); close(done) }()
	sourcetest.WaitFor(t, 5*time.Second, "the self source up", func() bool { return deps.Health.Snapshot().Up })
	if !deps.Health.Snapshot().LastSuccess.IsZero() {
		t.Error("a last success before any sample")
	}
	cancel()
	<-done
	if deps.Health.Snapshot().Up {
		t.Error("still up after it stopped")
	}
}
