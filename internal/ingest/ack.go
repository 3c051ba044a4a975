package ingest

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/window"
)

// acker releases broker acknowledgements (event.Batch.Ack) only when it is
// safe to: the windows the batch's events fell into have closed in every
// pipeline it fed, and the store has committed both the events and those
// windows. Until then a crash makes the broker redeliver, and Resume at start
// keeps the redelivered events out of windows that were already emitted —
// at-least-once input, exactly-once windows.
//
// It is owned by the ingest goroutine: no locks.
type acker struct {
	store interface {
		AfterCommit(ctx context.Context, fn func(error)) error
	}
	ctx     context.Context
	pending map[string][]pendingAck // by source, oldest first
}

// pendingAck is what an ack waits on. It keeps what deciding needs, not the
// batch: its events would otherwise stay in memory until their windows
// close, up to a window and its lateness of every broker's or log file's
// input.
type pendingAck struct {
	ack       func(error)
	events    bool    // the batch had events (not only rejected input)
	origins   []int32 // the distinct event.Origin of its events
	pipelines []*window.Pipeline
	latest    time.Time // the batch's newest event time: its window closes last
}

func (k *acker) add(b event.Batch, ps []*window.Pipeline) {
	if k.pending == nil {
		k.pending = map[string][]pendingAck{}
	}
	p := pendingAck{ack: b.Ack, events: len(b.Events) > 0, pipelines: ps}
	for _, e := range b.Events {
		if e.Time.After(p.latest) {
			p.latest = e.Time
		}
		if !slices.Contains(p.origins, e.Origin) {
			p.origins = append(p.origins, e.Origin)
		}
	}
	k.pending[b.Source] = append(k.pending[b.Source], p)
	k.release()
}

// release hands the acks whose windows have closed to the store, to be called
// after its next commit. Per source they are released in order, so a broker
// commits offsets in order.
func (k *acker) release() {
	for src, q := range k.pending {
		n := 0
		for n < len(q) && q[n].closed() {
			ack := q[n].ack
			if err := k.store.AfterCommit(k.ctx, ack); err != nil {
				ack(err)
			}
			n++
		}
		if n == len(q) {
			delete(k.pending, src)
		} else if n > 0 {
			k.pending[src] = append(q[:0], q[n:]...)
		}
	}
}

// closed reports whether every window this batch's events fell into has closed.
func (p pendingAck) closed() bool {
	for _, pl := range p.pipelines {
		if p.events && !pl.Closed(p.latest) {
			return false
		}
	}
	return true
}

// errUnfinished is what pending acks get at shutdown: the broker redelivers.
var errUnfinished = errors.New("lookout stopped before the batch's windows closed")

// abandon fails every pending ack.
func (k *acker) abandon() {
	for src, q := range k.pending {
		for _, p := range q {
			p.ack(errUnfinished)
		}
		delete(k.pending, src)
	}
}

// forget removes replaced pipelines from the pending acks: their open windows
// will never close (a new pipeline starts fresh), and the events are stored.
func (k *acker) forget(gone []*window.Pipeline) {
	if len(gone) == 0 {
		return
	}
	drop := map[*window.Pipeline]bool{}
	for _, p := range gone {
		drop[p] = true
	}
	for src, q := range k.pending {
		for i := range q {
			var keep []*window.Pipeline
			for _, p := range q[i].pipelines {
				if !drop[p] {
					keep = append(keep, p)
				}
			}
			q[i].pipelines = keep
		}
		k.pending[src] = q
	}
	k.release()
}
