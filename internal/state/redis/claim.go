package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/state"
)

// claimRetries bounds the optimistic transactions of one Claim: each retry
// means another instance claimed the same alert in between, which happens a
// handful of times at most.
const claimRetries = 16

// claimed is the last notification claimed for an alert: its state, the
// episode's start, and until when no firing message may repeat (never when
// repeat is false). It is stored as "state|since_ms|until_ms", until_ms -1
// for never.
type claimed struct {
	state event.AlertState
	since int64
	until int64
}

func (c claimed) String() string {
	return string(c.state) + "|" + strconv.FormatInt(c.since, 10) + "|" + strconv.FormatInt(c.until, 10)
}

func parseClaimed(s string) (claimed, bool) {
	parts := strings.Split(s, "|")
	if len(parts) != 3 {
		return claimed{}, false
	}
	since, err1 := strconv.ParseInt(parts[1], 10, 64)
	until, err2 := strconv.ParseInt(parts[2], 10, 64)
	st := event.AlertState(parts[0])
	if err1 != nil || err2 != nil || (st != event.StateFiring && st != event.StateResolved) {
		return claimed{}, false
	}
	return claimed{state: st, since: since, until: until}, true
}

// decide is the claim rule, applied to cur, the alert's last claim ("" when
// none is known). It returns whether c wins and what the alert's last claim
// is afterwards.
//
//   - firing: when the alert is claimed firing, c wins only once the repeat
//     time has passed (a repeat), and the episode keeps its first start: an
//     instance that took over the alert's partition starts its own pending
//     count, and so its own Since, for the same episode. When the last claim
//     is a resolution of this episode or a later one, c is a lagging
//     instance's and loses. Otherwise it starts a new episode and wins.
//   - resolved: wins when the alert is claimed firing; the episode start kept
//     is the latest either side knows, so that a lagging instance's firing
//     claim for the same episode loses. With no firing claim known, it wins
//     unless a resolution of this episode or a later one was claimed: a
//     firing message this instance believes sent must get its resolution,
//     even when Redis lost the claim.
func decide(cur string, c state.Claim) (bool, claimed) {
	since, at := c.Since.UnixMilli(), c.At.UnixMilli()
	until := int64(-1)
	if c.Repeat > 0 {
		until = at + c.Repeat.Milliseconds()
	}
	old, known := parseClaimed(cur)
	switch c.State {
	case event.StateFiring:
		switch {
		case known && old.state == event.StateFiring:
			if old.until >= 0 && at >= old.until {
				return true, claimed{state: event.StateFiring, since: old.since, until: until}
			}
			return false, old
		case known && old.since >= since:
			return false, old
		}
		return true, claimed{state: event.StateFiring, since: since, until: until}
	case event.StateResolved:
		switch {
		case known && old.state == event.StateFiring:
			return true, claimed{state: event.StateResolved, since: max(old.since, since), until: -1}
		case known && old.since >= since:
			return false, old
		}
		return true, claimed{state: event.StateResolved, since: since, until: -1}
	}
	// Not a notification state: nothing to share, nothing to suppress.
	return true, old
}

// Claim decides c against the alert's claim key with an optimistic
// transaction (WATCH, MULTI), so two instances asking at once get one
// winner. A key Redis lost is read from this instance's cache.
func (b *Backend) Claim(ctx context.Context, c state.Claim) (bool, error) {
	if c.State != event.StateFiring && c.State != event.StateResolved {
		return true, nil
	}
	key := b.key("claim:" + c.Fingerprint)
	var won bool
	var next claimed
	txf := func(tx *goredis.Tx) error {
		cur, err := tx.Get(ctx, key).Result()
		switch {
		case errors.Is(err, goredis.Nil):
			cur = b.cachedClaim(c.Fingerprint)
		case err != nil:
			return err
		}
		won, next = decide(cur, c)
		if !won && next.String() == cur {
			return nil // nothing changes; spare the write
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, key, next.String(), b.claimTTL(c.Repeat))
			return nil
		})
		return err
	}
	var err error
	for range claimRetries {
		if err = b.rdb.Watch(ctx, txf, key); !errors.Is(err, goredis.TxFailedErr) {
			break
		}
	}
	if err != nil {
		// Redis is unreachable: decide from the cache, towards sending.
		won, next = decide(b.cachedClaim(c.Fingerprint), c)
		b.cacheClaim(c.Fingerprint, next, c.Repeat)
		return won, fmt.Errorf("claiming %s notification of %s: %w", c.State, c.Fingerprint, err)
	}
	b.cacheClaim(c.Fingerprint, next, c.Repeat)
	return won, nil
}

// claimTTL is how long a claim key lives: long enough to outlast any repeat
// and any lagging instance, short enough that alerts gone for good do not
// pile up.
func (b *Backend) claimTTL(repeat time.Duration) time.Duration {
	return max(b.opts.ClaimTTL, 2*repeat)
}

type claimEntry struct {
	val     string
	expires time.Time
}

func (b *Backend) cachedClaim(fp string) string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.claims[fp].val
}

func (b *Backend) cacheClaim(fp string, c claimed, repeat time.Duration) {
	if c.state == "" {
		return
	}
	b.mu.Lock()
	b.claims[fp] = claimEntry{val: c.String(), expires: time.Now().Add(b.claimTTL(repeat))}
	b.mu.Unlock()
}
