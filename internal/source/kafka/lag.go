package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// lagMeter measures the source's lag: for every partition assigned to this
// member, the records Kafka has not handed to this lookout yet, from its
// position (the last commit, until it has polled) up to the high watermark.
// After a restart that is the whole backlog left behind, unacknowledged
// records of the dead run included, since they are read again from the
// commit. Records this lookout holds (in open windows, not yet acknowledged)
// do not count: nothing waits for them at the broker, and a stream paused
// with windows open is not behind. It measures every lagEvery and right
// after an assignment, in a goroutine of its own, so a full lookout (Submit
// blocking) still reports its backlog.
type lagMeter struct {
	s    *Source
	kick chan struct{}

	mu    sync.Mutex
	owned map[string]map[int32]bool
}

func newLagMeter(s *Source) *lagMeter {
	return &lagMeter{s: s, kick: make(chan struct{}, 1), owned: map[string]map[int32]bool{}}
}

func (l *lagMeter) assigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	l.mu.Lock()
	for topic, ps := range parts {
		if l.owned[topic] == nil {
			l.owned[topic] = map[int32]bool{}
		}
		for _, p := range ps {
			l.owned[topic][p] = true
		}
	}
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *lagMeter) remove(parts map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(l.owned[topic], p)
		}
		if len(l.owned[topic]) == 0 {
			delete(l.owned, topic)
		}
	}
}

func (l *lagMeter) parts() map[string][]int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]int32, len(l.owned))
	for topic, ps := range l.owned {
		for p := range ps {
			out[topic] = append(out[topic], p)
		}
	}
	return out
}

// run measures until ctx is done. Nothing is reported before the first
// assignment: until then the member does not know what waits for it.
func (l *lagMeter) run(ctx context.Context, cl *kgo.Client) {
	tick := time.NewTicker(lagEvery)
	defer tick.Stop()
	measured := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
			measured = true
		case <-tick.C:
			if !measured {
				continue
			}
		}
		mctx, cancel := context.WithTimeout(ctx, lagEvery*5)
		n, err := l.measure(mctx, cl)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				l.s.deps.Log.Debug("measuring the kafka lag", "source", l.s.name, "err", err)
			}
			continue
		}
		l.s.deps.Health.SetLag(n)
	}
}

func (l *lagMeter) measure(ctx context.Context, cl *kgo.Client) (int64, error) {
	parts := l.parts()
	if len(parts) == 0 {
		return 0, nil
	}
	ends, err := listOffsets(ctx, cl, parts, -1)
	if err != nil {
		return 0, err
	}
	committed, polled := cl.CommittedOffsets(), cl.UncommittedOffsets()
	var starts map[string]map[int32]int64
	var lag int64
	for topic, ps := range parts {
		for _, p := range ps {
			base := int64(-1)
			if o, ok := committed[topic][p]; ok {
				base = o.Offset
			}
			if o, ok := polled[topic][p]; ok && o.Offset > base {
				base = o.Offset
			}
			if base < 0 {
				// Nothing committed nor polled yet: a group that
				// starts at the beginning has the whole partition
				// ahead, one that starts at the end nothing.
				if !l.s.earliest {
					continue
				}
				if starts == nil {
					if starts, err = listOffsets(ctx, cl, parts, -2); err != nil {
						return 0, err
					}
				}
				base = starts[topic][p]
			}
			lag += max(ends[topic][p]-base, 0)
		}
	}
	return lag, nil
}

// listOffsets returns the offsets of parts at ts: -1 the high watermark, -2
// the log start.
func listOffsets(ctx context.Context, cl *kgo.Client, parts map[string][]int32, ts int64) (map[string]map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	for topic, ps := range parts {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range ps {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p
			rp.Timestamp = ts
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	out := map[string]map[int32]int64{}
	for _, sh := range cl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			return nil, fmt.Errorf("listing offsets: %w", sh.Err)
		}
		resp := sh.Resp.(*kmsg.ListOffsetsResponse)
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("listing offsets of %s[%d]: %w", t.Topic, p.Partition, err)
				}
				if out[t.Topic] == nil {
					out[t.Topic] = map[int32]int64{}
				}
				out[t.Topic][p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}
