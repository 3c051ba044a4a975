// Package sourcetest gives source tests a Sink that records what a source
// handed over, so each source package can assert on real batches without
// wiring the bus.
package sourcetest

import (
	"context"
	"sync"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
)

// Sink records submissions. With Full set, TrySubmit returns source.ErrFull
// and Submit blocks until its ctx is done, as the bus does when its queues
// are full. Every submission is also sent on C when C is not nil (buffered by
// the test), which lets a test wait for one without sleeping.
type Sink struct {
	mu       sync.Mutex
	Full     bool
	batches  []event.Batch
	rejected []event.Rejected
	C        chan Submission
}

// Submission is one call's worth of events and rejected inputs.
type Submission struct {
	Batch    event.Batch
	Rejected []event.Rejected
}

// NewSink returns a sink whose C holds up to n submissions.
func NewSink(n int) *Sink { return &Sink{C: make(chan Submission, n)} }

// SetFull makes the sink refuse (true) or accept (false) submissions.
func (s *Sink) SetFull(full bool) {
	s.mu.Lock()
	s.Full = full
	s.mu.Unlock()
}

// Submit records b and rejected, or blocks until ctx is done when full.
func (s *Sink) Submit(ctx context.Context, b event.Batch, rejected []event.Rejected) error {
	s.mu.Lock()
	full := s.Full
	s.mu.Unlock()
	if full {
		<-ctx.Done()
		return ctx.Err()
	}
	s.record(b, rejected)
	return nil
}

// TrySubmit records b and rejected, or returns source.ErrFull when full.
func (s *Sink) TrySubmit(b event.Batch, rejected []event.Rejected) error {
	s.mu.Lock()
	full := s.Full
	s.mu.Unlock()
	if full {
		return source.ErrFull
	}
	s.record(b, rejected)
	return nil
}

func (s *Sink) record(b event.Batch, rejected []event.Rejected) {
	s.mu.Lock()
	s.batches = append(s.batches, b)
	s.rejected = append(s.rejected, rejected...)
	s.mu.Unlock()
	if s.C != nil {
		s.C <- Submission{Batch: b, Rejected: rejected}
	}
}

// Events returns every event submitted so far, in order.
func (s *Sink) Events() []*event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*event.Event
	for _, b := range s.batches {
		out = append(out, b.Events...)
	}
	return out
}

// Batches returns every batch submitted so far.
func (s *Sink) Batches() []event.Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Batch(nil), s.batches...)
}

// Rejected returns every rejected input submitted so far.
func (s *Sink) Rejected() []event.Rejected {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Rejected(nil), s.rejected...)
}

var _ source.Sink = (*Sink)(nil)
