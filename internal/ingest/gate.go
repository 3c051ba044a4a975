package ingest

import (
	"context"
	"sync"
)

// gate bounds the events waiting in the ingest queue. The queue's channel
// bounds batches, but batches range from one MQTT message to thousands of
// pushed lines, so it is the events that say how much work is waiting: with a
// bound of about a second of work, a full queue answers 429 while the data
// are still fresh, instead of holding ten seconds of events that would reach
// their windows late.
type gate struct {
	mu   sync.Mutex
	n    int // events admitted and not yet processed
	max  int
	wake chan struct{} // closed and replaced on every release
}

func newGate(max int) *gate { return &gate{max: max, wake: make(chan struct{})} }

// tryAcquire admits n events if they fit. A batch larger than the bound is
// admitted into an empty queue, so no batch waits forever.
func (g *gate) tryAcquire(n int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.admit(n)
}

func (g *gate) admit(n int) bool {
	if g.n > 0 && g.n+n > g.max {
		return false
	}
	g.n += n
	return true
}

// acquire waits until n events fit, or ctx or stop is done.
func (g *gate) acquire(ctx context.Context, stop <-chan struct{}, n int) error {
	for {
		g.mu.Lock()
		if g.admit(n) {
			g.mu.Unlock()
			return nil
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return ErrStopping
		}
	}
}

// release returns n processed events' room.
func (g *gate) release(n int) {
	g.mu.Lock()
	g.n -= n
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}

// queued returns the events waiting.
func (g *gate) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}
