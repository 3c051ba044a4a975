package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lookout-dev/lookout/internal/source"
)

type partKey struct {
	topic string
	part  int32
}

// seg is one batch of one partition: the offset after its last record and
// whether lookout acknowledged it.
type seg struct {
	next  kgo.EpochOffset
	state segState
}

type segState uint8

const (
	segPending segState = iota
	segDone
	segFailed
)

// partTrack is what this member has handed over from one partition and not
// yet committed, oldest first.
type partTrack struct {
	segs []*seg
}

// tracker turns acknowledgements into commits, in order per partition: an
// offset is marked for commit only when every batch before it was
// acknowledged too. It is safe for concurrent use: acks come from lookout's
// goroutines, rebalances from the client's.
type tracker struct {
	cl     *kgo.Client
	health *source.Health
	log    *slog.Logger
	name   string
	// moved tells lookout which partitions moved away; it returns once
	// lookout has forgotten their open windows.
	moved func(parts map[string][]int32)

	mu    sync.Mutex
	parts map[partKey]*partTrack
}

// add registers a batch of partition k ending before next and returns its Ack.
func (t *tracker) add(k partKey, next kgo.EpochOffset) func(error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pt := t.parts[k]
	if pt == nil {
		pt = &partTrack{}
		t.parts[k] = pt
	}
	s := &seg{next: next}
	pt.segs = append(pt.segs, s)
	var once sync.Once
	return func(err error) { once.Do(func() { t.ack(k, pt, s, err) }) }
}

func (t *tracker) ack(k partKey, pt *partTrack, s *seg, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.parts[k] != pt {
		// The partition was revoked since: its new owner redoes the batch.
		return
	}
	if err != nil {
		// Not stored: never commit past it. The records are redelivered
		// after a restart or a rebalance.
		s.state = segFailed
		t.health.Failure(fmt.Errorf("lookout did not finish records of %s[%d] before offset %d: %w", k.topic, k.part, s.next.Offset, err))
		return
	}
	s.state = segDone
	var head *seg
	for len(pt.segs) > 0 && pt.segs[0].state == segDone {
		head = pt.segs[0]
		pt.segs[0] = nil
		pt.segs = pt.segs[1:]
	}
	if head != nil {
		// Autocommit (every commitEvery) and revocation commit it.
		t.cl.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{k.topic: {k.part: head.next}})
	}
}

// revoked commits what was acknowledged and forgets the rest of the revoked
// partitions: their new owner starts from the commit and redoes it. Lookout
// forgets the windows those partitions still had open before the callback
// returns, so that they come out once, at the new owner.
func (t *tracker) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	// Forget first, so that no ack marks an offset after the commit (and
	// the acks lookout fails for the dropped batches are not failures).
	t.forget(revoked)
	t.moved(revoked)
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		t.log.Warn("committing offsets of revoked partitions", "source", t.name, "err", err)
	}
}

// lost forgets partitions that were taken away without a chance to commit.
func (t *tracker) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	t.forget(lost)
	t.moved(lost)
}

func (t *tracker) forget(parts map[string][]int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(t.parts, partKey{topic, p})
		}
	}
}
