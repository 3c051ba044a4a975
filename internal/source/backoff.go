package source

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Backoff is the wait between retries of a source that lost its broker,
// file or server: doubling from Min up to Max, with "equal jitter" (half
// fixed, half random) so that many lookouts that lost the same broker do not
// come back in lockstep. The zero Rand means math/rand/v2.
type Backoff struct {
	Min, Max time.Duration
	// Rand returns a uniform random number in [0, n). Tests may set it to
	// make the jitter known.
	Rand func(n int64) int64
}

// Delay is the wait before retry n, counted from 0: Min doubled n times,
// at most Max, spread over [d/2, d].
func (b Backoff) Delay(n int) time.Duration {
	d := b.Min
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	r := b.Rand
	if r == nil {
		r = rand.Int64N
	}
	return d/2 + time.Duration(r(int64(d/2)+1))
}

// Sleep waits d or until ctx is done, and reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Reconnect runs session until ctx is done, again and again: a broker
// source's connection loop. A session returns when its connection fails (or
// ctx is done); ok reports whether it got as far as connecting, which starts
// the backoff over. Each failure is recorded in health and logged as msg
// with the source's name, the error and the wait, and the next session
// starts after b.Delay. The source is down (not connected) between sessions.
func Reconnect(ctx context.Context, b Backoff, health *Health, log *slog.Logger, name, msg string,
	session func(ctx context.Context) (ok bool, err error)) {
	attempt := 0
	for {
		ok, err := session(ctx)
		health.SetConnected(false)
		if ctx.Err() != nil {
			return
		}
		if ok {
			attempt = 0
		}
		health.Failure(err)
		d := b.Delay(attempt)
		attempt++
		log.Warn(msg, "source", name, "err", err, "backoff", d)
		if !Sleep(ctx, d) {
			return
		}
	}
}
