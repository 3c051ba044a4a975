package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/lookout-dev/lookout/internal/event"
)

// errMoved is what the acks of batches dropped at a rebalance get: their
// partition's new owner reads them again, so they must never be committed here.
var errMoved = errors.New("the partition moved to another lookout before the batch's windows closed")

// movedStats counts, per source, what rebalances took away; /metrics reports
// them. Written on the ingest goroutine, read by scrapes.
type movedStats struct {
	mu       sync.Mutex
	bySource map[string]*movedCounts
}

type movedCounts struct {
	forgotten, mixed, events int64
}

func (m *movedStats) add(src string, forgotten, mixed, events int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bySource == nil {
		m.bySource = map[string]*movedCounts{}
	}
	c := m.bySource[src]
	if c == nil {
		c = &movedCounts{}
		m.bySource[src] = c
	}
	c.forgotten += int64(forgotten)
	c.mixed += int64(mixed)
	c.events += int64(events)
}

// Moved counts what rebalances took away from one source.
type Moved struct {
	// Forgotten: groups whose open windows were dropped, all their events
	// having come from moved parts. Mixed: groups kept because their
	// windows also hold events of other parts (they may count the moved
	// part's events twice). Events: queued events of moved parts dropped.
	Forgotten, Mixed, Events int64
}

// Moved returns, per source, what rebalances took away; safe from any
// goroutine.
func (b *Bus) Moved() map[string]Moved {
	m := &b.moved
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Moved, len(m.bySource))
	for src, c := range m.bySource {
		out[src] = Moved{Forgotten: c.forgotten, Mixed: c.mixed, Events: c.events}
	}
	return out
}

// Revoked is every source's source.Deps.Revoked: parts (Kafka partitions)
// of src moved to another lookout. The forgetting happens on the ingest
// goroutine, which owns the pipelines and the ingest queue; revoked waits
// for it, so that the rebalance finishes — and the new owner starts reading
// — only once this lookout can no longer emit those windows.
func (b *Bus) Revoked(ctx context.Context, src string, origins []int32) error {
	done := make(chan struct{})
	fn := func() { b.forgetMoved(src, origins, done) }
	select {
	case b.control <- fn:
	case <-b.stopping:
		return ErrStopping // open windows are not emitted at shutdown
	case <-ctx.Done():
		return fmt.Errorf("waiting for the ingest loop: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the ingest loop to forget the windows: %w", ctx.Err())
	}
}

// forgetMoved runs on the ingest goroutine. It drops the queued batches of
// the moved parts (their acks fail, so they are never committed here), fails
// their pending acks, forgets the open windows they fed in every pipeline
// reading src, and then closes done. The batches it set aside from the queue
// are processed afterwards, in their order.
func (b *Bus) forgetMoved(src string, origins []int32, done chan struct{}) {
	moved := make(map[int32]bool, len(origins))
	for _, o := range origins {
		moved[o] = true
	}
	match := func(o int32) bool { return moved[o] }

	// The source submitted every record of its last poll before the
	// rebalance could start, so what it queued is in the channel now;
	// other sources may keep adding, which need not be looked at.
	var keep []item
	events := 0
	for n := len(b.queue); n > 0; n-- {
		it := <-b.queue
		if it.batch.Source != src || !allFrom(it.batch, match) {
			keep = append(keep, it)
			continue
		}
		events += len(it.batch.Events)
		b.gate.release(len(it.batch.Events) + len(it.rejected))
		if it.batch.Stored != nil {
			it.batch.Stored(errMoved)
		}
		if it.batch.Ack != nil {
			it.batch.Ack(errMoved)
		}
	}
	b.acks.moved(src, match)

	forgotten, mixed := 0, 0
	for _, p := range b.bySource[src] {
		f, m := p.Forget(match)
		forgotten += f
		mixed += m
	}
	b.moved.add(src, forgotten, mixed, events)
	b.o.Log.Info("forgot open windows of moved partitions", "source", src, "origins", origins,
		"dropped", forgotten, "mixed", mixed, "queued_events_dropped", events)
	close(done)

	for _, it := range keep {
		b.process(it)
	}
}

// allFrom reports whether b has events and all of them came from an origin
// match accepts. A Kafka batch holds one partition's records, so it is all
// or none; a batch of rejected inputs alone cannot tell and is kept.
func allFrom(b event.Batch, match func(int32) bool) bool {
	if len(b.Events) == 0 {
		return false
	}
	for _, e := range b.Events {
		if !match(e.Origin) {
			return false
		}
	}
	return true
}

// moved fails and removes the pending acks of src whose batches came from
// moved parts: their windows were forgotten, and the new owner re-reads them.
// (The Kafka source also ignores acks of partitions it no longer owns; this
// keeps the rule in one place for every source with parts.)
func (k *acker) moved(src string, match func(int32) bool) {
	q := k.pending[src]
	kept := q[:0]
	for _, p := range q {
		if !slices.ContainsFunc(p.origins, func(o int32) bool { return !match(o) }) {
			p.ack(errMoved)
			continue
		}
		kept = append(kept, p)
	}
	clear(q[len(kept):])
	if len(kept) == 0 {
		delete(k.pending, src)
	} else {
		k.pending[src] = kept
	}
	k.release()
}
