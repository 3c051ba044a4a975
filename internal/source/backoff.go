package source

import (
	"context"
	"log/slog"
	"time"

	"github.com/lookout-dev/lookout/internal/retry"
)

// Backoff is the wait between retries of a source that lost its broker,
// file or server. Sources leave Jitter zero and so get "equal jitter" (half
// fixed, half random), so that many lookouts that lost the same broker do
// not come back in lockstep.
type Backoff = retry.Backoff

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
