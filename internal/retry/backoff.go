// Package retry holds the one backoff schedule that sources reconnecting to
// a broker, the app restarting a failed source and the notifier dispatcher
// retrying a send all wait on, so their bounds and jitter are read in one
// place.
package retry

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait between retries: doubling from Min up to Max, with part
// of each wait random so that many lookouts (or many outbox entries) that
// failed together do not come back in lockstep. It is a value; the zero Rand
// means math/rand/v2, which is safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	// Jitter is the random share of each wait: a wait of d is drawn
	// uniformly from [d - Jitter*d, d]. Zero means 1/2, "equal jitter"
	// (half fixed, half random); a negative value means none, so the wait
	// is exactly d.
	Jitter float64
	// Rand returns a uniform random number in [0, n). Tests may set it to
	// make the jitter known.
	Rand func(n int64) int64
}

// Delay is the wait before retry n, counted from 0: Min doubled n times, at
// most Max, minus its jitter.
func (b Backoff) Delay(n int) time.Duration {
	d := b.Min
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	j := b.Jitter
	switch {
	case j == 0:
		j = 0.5
	case j < 0:
		return d
	case j > 1:
		j = 1
	}
	r := b.Rand
	if r == nil {
		r = rand.Int64N
	}
	spread := time.Duration(float64(d) * j)
	return d - spread + time.Duration(r(int64(spread)+1))
}
