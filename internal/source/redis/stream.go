package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lookout-dev/lookout/internal/source"
)

// inflight is the set of entries this consumer handed to lookout and has
// not acknowledged yet. XAUTOCLAIM returns them too once they are idle (their
// windows may be open longer than claim_idle); they must not be handed over
// twice.
type inflight struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func (f *inflight) add(ids []string) {
	f.mu.Lock()
	for _, id := range ids {
		f.ids[id] = struct{}{}
	}
	f.mu.Unlock()
}

func (f *inflight) remove(ids []string) {
	f.mu.Lock()
	for _, id := range ids {
		delete(f.ids, id)
	}
	f.mu.Unlock()
}

func (f *inflight) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

func (f *inflight) has(id string) bool {
	f.mu.Lock()
	_, ok := f.ids[id]
	f.mu.Unlock()
	return ok
}

// session is what one connected run of the stream consumer shares with the
// Ack functions of its batches.
type session struct {
	fl      *inflight
	acks    chan []string
	stopped <-chan struct{} // closed when the run is over
}

// runStream consumes the stream until ctx is done or Redis fails. ok
// reports whether it got as far as reading.
func (s *Source) runStream(ctx context.Context, rdb *goredis.Client, sink source.Sink) (ok bool, err error) {
	if err := s.ensureGroup(ctx, rdb); err != nil {
		return false, err
	}
	s.deps.Health.SetConnected(true)
	ackCtx, stopAcks := context.WithCancel(context.WithoutCancel(ctx))
	ss := &session{fl: &inflight{ids: map[string]struct{}{}}, acks: make(chan []string, 1024), stopped: ackCtx.Done()}
	acksDone := make(chan struct{})
	go func() { defer close(acksDone); s.ackLoop(ackCtx, rdb, ss) }()
	defer func() { stopAcks(); <-acksDone }()
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); s.lagLoop(ackCtx, rdb, ss.fl) }()
	defer func() { stopAcks(); <-lagDone }()

	// This consumer's own pending entries first: a restart under a fixed
	// consumer name gets back what it had not acknowledged.
	if err := s.readPending(ctx, rdb, sink, ss); err != nil {
		return true, err
	}
	if err := s.adoptOrphans(ctx, rdb, sink, ss); err != nil {
		return true, err
	}
	claimEvery := max(s.idle/2, 100*time.Millisecond)
	lastClaim := time.Now()
	for ctx.Err() == nil {
		now := time.Now()
		if now.Sub(lastClaim) >= claimEvery {
			if err := s.claim(ctx, rdb, sink, ss); err != nil {
				return true, err
			}
			lastClaim = now
		}
		res, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: s.group, Consumer: s.consumer, Streams: []string{s.stream, ">"},
			Count: readCount, Block: readBlock,
		}).Result()
		if errors.Is(err, goredis.Nil) {
			s.deps.Health.Success()
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				// The stream or group was deleted: create them again.
				if err := s.ensureGroup(ctx, rdb); err != nil {
					return true, err
				}
				continue
			}
			return true, fmt.Errorf("reading stream %s: %w", s.stream, err)
		}
		for _, st := range res {
			if err := s.submit(ctx, sink, st.Messages, ss); err != nil {
				return true, nil // ctx is done
			}
		}
	}
	return true, nil
}

// adoptOrphans claims, before reading anything new, the entries consumers
// that stopped left pending, waiting up to claim_idle for them to become
// claimable. Read after newer entries their windows would already be closed
// and they would count as late; read first, they replay in order. Consumers
// still running (silent for less than liveIdle) are not waited for: their
// entries are theirs. A restart under the same consumer name has nothing to
// wait for, its own entries were re-read already.
func (s *Source) adoptOrphans(ctx context.Context, rdb *goredis.Client, sink source.Sink, ss *session) error {
	deadline := time.Now().Add(s.idle + time.Second)
	for ctx.Err() == nil {
		if err := s.claim(ctx, rdb, sink, ss); err != nil {
			return err
		}
		cs, err := rdb.XInfoConsumers(ctx, s.stream, s.group).Result()
		if err != nil {
			return fmt.Errorf("reading the consumers of %s: %w", s.stream, err)
		}
		others := int64(0)
		for _, c := range cs {
			if c.Name != s.consumer && c.Idle >= liveIdle {
				others += c.Pending
			}
		}
		if others == 0 || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(s.idle/4+10*time.Millisecond, time.Second)):
		}
	}
	return nil
}

func (s *Source) ensureGroup(ctx context.Context, rdb *goredis.Client) error {
	// "0": a new group starts at the stream's first entry, so what was
	// written before lookout first ran is read too.
	err := rdb.XGroupCreateMkStream(ctx, s.stream, s.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("creating group %s on stream %s: %w", s.group, s.stream, err)
	}
	return nil
}

func (s *Source) readPending(ctx context.Context, rdb *goredis.Client, sink source.Sink, ss *session) error {
	start := "0"
	for ctx.Err() == nil {
		res, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: s.group, Consumer: s.consumer, Streams: []string{s.stream, start}, Count: readCount,
		}).Result()
		if errors.Is(err, goredis.Nil) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading pending entries of %s: %w", s.stream, err)
		}
		if len(res) == 0 || len(res[0].Messages) == 0 {
			return nil
		}
		msgs := res[0].Messages
		start = msgs[len(msgs)-1].ID
		if err := s.submit(ctx, sink, msgs, ss); err != nil {
			return nil
		}
	}
	return nil
}

// claim takes over the entries other consumers left unacknowledged for
// longer than claim_idle.
func (s *Source) claim(ctx context.Context, rdb *goredis.Client, sink source.Sink, ss *session) error {
	start := "0-0"
	for ctx.Err() == nil {
		msgs, next, err := rdb.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
			Stream: s.stream, Group: s.group, Consumer: s.consumer, MinIdle: s.idle, Start: start, Count: readCount,
		}).Result()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("claiming idle entries of %s: %w", s.stream, err)
		}
		fresh := msgs[:0]
		for _, m := range msgs {
			if !ss.fl.has(m.ID) {
				fresh = append(fresh, m)
			}
		}
		if len(fresh) > 0 {
			s.deps.Log.Info("claimed idle entries", "source", s.name, "entries", len(fresh))
			if err := s.submit(ctx, sink, fresh, ss); err != nil {
				return nil
			}
		}
		if next == "0-0" || next == "" {
			return nil
		}
		start = next
	}
	return nil
}

// lagLoop reports the lag at once and every lagEvery until ctx is done.
func (s *Source) lagLoop(ctx context.Context, rdb *goredis.Client, fl *inflight) {
	t := time.NewTicker(lagEvery)
	defer t.Stop()
	for {
		s.reportLag(ctx, rdb, fl)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reportLag records the entries waiting in Redis for this lookout: those
// not yet read by the group (XINFO GROUPS lag), this consumer's pending ones
// it does not hold (left by its run before a restart, re-read first), and
// those pending at consumers that stopped, which it claims. Entries it holds
// in open windows do not count, nor those of consumers still running.
func (s *Source) reportLag(ctx context.Context, rdb *goredis.Client, fl *inflight) {
	groups, err := rdb.XInfoGroups(ctx, s.stream).Result()
	if err != nil {
		return
	}
	unread := int64(-1)
	for _, g := range groups {
		if g.Name == s.group {
			unread = g.Lag
		}
	}
	if unread < 0 {
		// Redis cannot tell (entries deleted within the unread
		// range, or Redis before 7): keep the last value.
		return
	}
	cs, err := rdb.XInfoConsumers(ctx, s.stream, s.group).Result()
	if err != nil {
		return
	}
	n := unread
	for _, c := range cs {
		switch {
		case c.Name == s.consumer:
			n += max(c.Pending-int64(fl.len()), 0)
		case c.Idle >= liveIdle:
			n += c.Pending
		}
	}
	s.deps.Health.SetLag(n)
}

// submit hands entries over as one batch whose Ack acknowledges them.
func (s *Source) submit(ctx context.Context, sink source.Sink, msgs []goredis.XMessage, ss *session) error {
	now := s.deps.Clock.Now()
	c := source.NewCollector(s.name, len(msgs))
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
		e, rej := s.decodeEntry(m, now)
		var size int
		if rej != nil {
			size = len(rej.Raw)
		} else {
			size = len(e.Raw)
		}
		c.Add(size, e, rej)
	}
	ss.fl.add(ids)
	c.Batch.Ack = func(err error) {
		if err != nil {
			// Not stored: leave the entries pending; once idle for
			// claim_idle they are claimed and handed over again.
			ss.fl.remove(ids)
			s.deps.Health.Failure(fmt.Errorf("lookout did not finish %d stream entries: %w", len(ids), err))
			return
		}
		// XACK is a round trip and lookout's ack must be quick: the ack
		// loop sends it. Once this session is over the entries stay
		// pending and are redelivered.
		select {
		case ss.acks <- ids:
		case <-ss.stopped:
		}
	}
	if err := sink.Submit(ctx, c.Batch, c.Rejected); err != nil {
		ss.fl.remove(ids)
		return err
	}
	s.deps.Health.Submitted(len(c.Batch.Events), len(c.Rejected), c.Bytes)
	return nil
}

// ackLoop sends XACKs, a few batches per round trip, until ctx is done.
// A failed XACK leaves the entries pending: they are redelivered, never lost.
func (s *Source) ackLoop(ctx context.Context, rdb *goredis.Client, ss *session) {
	acks, fl := ss.acks, ss.fl
	for {
		var ids []string
		select {
		case <-ctx.Done():
			return
		case ids = <-acks:
		}
	more:
		for len(ids) < 50000 {
			select {
			case more := <-acks:
				ids = append(ids, more...)
			default:
				break more
			}
		}
		if err := rdb.XAck(ctx, s.stream, s.group, ids...).Err(); err != nil {
			s.deps.Health.Failure(fmt.Errorf("acknowledging %d entries: %w", len(ids), err))
		}
		fl.remove(ids)
	}
}
