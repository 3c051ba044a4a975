package sourcetest

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/window"
)

// AckSink records what a broker source handed over and acknowledges each
// batch at once, as lookout does once the batch's windows are stored. With
// Hold set it keeps the batches unacknowledged until Release; with an ack
// error set it fails them, which asks the source to redeliver. Events are
// told apart by their numeric field "id". It is safe for concurrent use.
type AckSink struct {
	mu       sync.Mutex
	events   []*event.Event
	rejected []event.Rejected
	acked    map[float64]int // event id → times acked
	hold     bool
	held     []event.Batch
	ackErr   error
}

// NewAckSink returns a sink that acknowledges every batch.
func NewAckSink() *AckSink { return &AckSink{acked: map[float64]int{}} }

// Submit records b and rejected and acknowledges b, unless held; it fails
// only when ctx is done.
func (s *AckSink) Submit(ctx context.Context, b event.Batch, rej []event.Rejected) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.events = append(s.events, b.Events...)
	s.rejected = append(s.rejected, rej...)
	hold, ackErr := s.hold, s.ackErr
	if hold {
		s.held = append(s.held, b)
	} else if ackErr == nil {
		s.count(b)
	}
	s.mu.Unlock()
	if !hold && b.Ack != nil {
		b.Ack(ackErr)
	}
	return nil
}

// TrySubmit is Submit: the sink is never full.
func (s *AckSink) TrySubmit(b event.Batch, rej []event.Rejected) error {
	return s.Submit(context.Background(), b, rej)
}

// count records b's events as acknowledged; s.mu is held.
func (s *AckSink) count(b event.Batch) {
	for _, e := range b.Events {
		id, _ := e.Number("id")
		s.acked[id]++
	}
}

// Set makes later batches held (hold) or acknowledged with ackErr.
func (s *AckSink) Set(hold bool, ackErr error) {
	s.mu.Lock()
	s.hold, s.ackErr = hold, ackErr
	s.mu.Unlock()
}

// Release stops holding and acknowledges the held batches.
func (s *AckSink) Release() {
	s.mu.Lock()
	held := s.held
	s.held, s.hold = nil, false
	for _, b := range held {
		s.count(b)
	}
	s.mu.Unlock()
	for _, b := range held {
		b.Ack(nil)
	}
}

// Counts returns how many events and rejected inputs were submitted.
func (s *AckSink) Counts() (events, rejected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events), len(s.rejected)
}

// AckedIDs returns how many times each event id was acknowledged.
func (s *AckSink) AckedIDs() map[float64]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.acked)
}

// Events returns every event submitted so far, in order.
func (s *AckSink) Events() []*event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*event.Event(nil), s.events...)
}

// Rejected returns every rejected input submitted so far, in order.
func (s *AckSink) Rejected() []event.Rejected {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Rejected(nil), s.rejected...)
}

// Run runs src in the background until the returned stop is called, or the
// test ends. stop waits up to 30s for Run to return and fails the test when
// it does not, or when it returns an error.
func Run(t testing.TB, src source.Source, sink source.Sink) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return within 30s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// WaitFor polls cond until it holds, and fails the test after timeout,
// naming what it waited for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PipelineSink folds every batch into a window pipeline, as lookout's ingest
// loop does, and acknowledges it: the far end of a source benchmark. Done is
// closed once the wanted number of events has arrived.
type PipelineSink struct {
	mu   sync.Mutex
	p    *window.Pipeline
	n    int
	want int
	// Done is closed when want events have been submitted.
	Done chan struct{}
}

// NewPipelineSink returns a sink whose Done closes after want events, fed
// into a 1s tumbling pipeline grouped by service that counts them and
// averages their latency.
func NewPipelineSink(b testing.TB, from string, want int) *PipelineSink {
	p, err := window.New(config.Pipeline{
		Name: "bench", From: []string{from}, GroupBy: []string{"service"},
		Window: config.Window{Size: time.Second}, Lateness: config.Duration(time.Second),
		Aggregates: config.Aggregates{{Name: "n", Expr: "count()"}, {Name: "lat", Expr: "avg(latency)"}},
	}, func(*event.Window) {})
	if err != nil {
		b.Fatal(err)
	}
	return &PipelineSink{p: p, want: want, Done: make(chan struct{})}
}

// Submit adds b's events to the pipeline and acknowledges b.
func (s *PipelineSink) Submit(_ context.Context, b event.Batch, _ []event.Rejected) error {
	s.mu.Lock()
	s.p.Add(b.Events, time.Now())
	s.n += len(b.Events)
	if s.n >= s.want && s.want > 0 {
		s.want = 0
		close(s.Done)
	}
	s.mu.Unlock()
	if b.Ack != nil {
		b.Ack(nil)
	}
	return nil
}

// TrySubmit is Submit: the sink is never full.
func (s *PipelineSink) TrySubmit(b event.Batch, r []event.Rejected) error {
	return s.Submit(context.Background(), b, r)
}

// Bench runs src until sink has all its events, timing only that, and
// reports events/s.
func Bench(b *testing.B, src source.Source, sink *PipelineSink, events int) {
	b.Helper()
	b.ResetTimer()
	stop := Run(b, src, sink)
	select {
	case <-sink.Done:
	case <-time.After(5 * time.Minute):
		b.Fatal("timed out")
	}
	b.StopTimer()
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	stop()
}

var (
	_ source.Sink = (*AckSink)(nil)
	_ source.Sink = (*PipelineSink)(nil)
)
