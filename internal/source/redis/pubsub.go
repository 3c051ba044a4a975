package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lookout-dev/lookout/internal/source"
)

// pubsubBatch bounds the messages handed over at once.
const pubsubBatch = 1000

// runPubSub subscribes until ctx is done or the connection fails. Every
// subscription after the first is counted as a gap: Redis did not keep what
// was published in between.
func (s *Source) runPubSub(ctx context.Context, rdb *goredis.Client, sink source.Sink) (ok bool, err error) {
	ps := rdb.Subscribe(ctx, s.channels...)
	defer ps.Close()
	if len(s.patterns) > 0 {
		if err := ps.PSubscribe(ctx, s.patterns...); err != nil {
			return false, fmt.Errorf("subscribing to %v: %w", s.patterns, err)
		}
	}
	// Wait for the confirmation: only then is the source listening.
	if _, err := ps.Receive(ctx); err != nil {
		return false, fmt.Errorf("subscribing: %w", err)
	}
	if s.subscribed {
		s.deps.Health.Gap()
	}
	s.subscribed = true
	s.deps.Health.SetConnected(true)

	msgs := make(chan *goredis.Message, pubsubBatch)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := ps.Receive(ctx)
			if err != nil {
				errc <- err
				close(msgs)
				return
			}
			if msg, ok := m.(*goredis.Message); ok {
				select {
				case msgs <- msg:
				case <-ctx.Done():
					close(msgs)
					return
				}
			}
		}
	}()
	for {
		var m *goredis.Message
		var open bool
		select {
		case m, open = <-msgs:
		case <-ctx.Done():
			// The reader may be blocked in a read that ignores ctx;
			// closing the subscription (deferred) ends it.
			return true, nil
		}
		if !open {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, fmt.Errorf("receiving: %w", <-errc)
		}
		now := s.deps.Clock.Now()
		c := source.NewCollector(s.name, 0)
		take := func(m *goredis.Message) {
			if e, rej := s.dec.Decode([]byte(m.Payload), timeZero, now); c.Add(len(m.Payload), e, rej) {
				e.Fields["channel"] = m.Channel
			}
		}
		take(m)
	drain:
		for c.Len() < pubsubBatch {
			select {
			case m, open := <-msgs:
				if !open {
					break drain
				}
				take(m)
			default:
				break drain
			}
		}
		if err := sink.Submit(ctx, c.Batch, c.Rejected); err != nil {
			return true, nil // ctx is done
		}
		s.deps.Health.Submitted(len(c.Batch.Events), len(c.Rejected), c.Bytes)
	}
}
