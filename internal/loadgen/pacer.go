package loadgen

import (
	"context"
	"sync/atomic"
	"time"
)

// Pacer spaces batches so that together they carry rate events per second:
// batch k is due at start + k*batch/rate. It is open-loop, like real
// producers: a batch held up by throttling does not delay the schedule of
// the next ones, so a slow lookout shows up as 429s and a lower accepted
// rate, never as a quietly lower offered load. Safe for concurrent use.
type Pacer struct {
	start    time.Time
	interval time.Duration // between batches; 0 = as fast as possible
	seq      atomic.Int64
}

// NewPacer returns a pacer that starts at start. rate <= 0 means unpaced
// ("-rate max").
func NewPacer(start time.Time, rate float64, batch int) *Pacer {
	p := &Pacer{start: start}
	if rate > 0 {
		p.interval = time.Duration(float64(batch) / rate * float64(time.Second))
	}
	return p
}

// Due returns when batch k is due.
func (p *Pacer) Due(k int64) time.Time {
	return p.start.Add(time.Duration(k) * p.interval)
}

// Wait takes the next batch number and waits until it is due. It returns
// ctx's error when ctx ends first.
func (p *Pacer) Wait(ctx context.Context) (int64, error) {
	k := p.seq.Add(1) - 1
	if p.interval == 0 {
		return k, ctx.Err()
	}
	d := time.Until(p.Due(k))
	if d <= 0 {
		return k, ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return k, nil
	case <-ctx.Done():
		return k, ctx.Err()
	}
}
