package rule

import (
	"context"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/state"
)

// DecisionSuppressedClaimed: another lookout sharing the state backend claimed
// the notification first and sends it; this one only records the decision.
const DecisionSuppressedClaimed = "suppressed: sent by another instance"

// claimTimeout bounds one claim, so a Redis that went away costs a window a
// second at most before the Claimer decides from what it knows.
const claimTimeout = 2 * time.Second

// claim asks the Claimer whether this instance sends the notification about
// a. The engine's state moves on the same way whatever the answer (a lost
// firing claim still sets LastSent), so every instance keeps the same repeat
// schedule and the next claim is decided the same way everywhere.
func (e *Engine) claim(a event.Alert) bool {
	if e.claimer == nil {
		return true
	}
	c := state.Claim{Fingerprint: a.Fingerprint, State: a.State, Since: a.Since, At: e.clock.Now()}
	if r, ok := e.byName[a.Rule]; ok {
		c.Repeat = r.cfg.Repeat.D()
	} else {
		for _, sr := range e.sql {
			if sr.c.cfg.Name == a.Rule {
				c.Repeat = sr.c.cfg.Repeat.D()
			}
		}
	}
	if a.State == event.StateFiring && !a.LastSent.IsZero() {
		c.At = a.LastSent // the time the engine measures repeat from
	}
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	won, err := e.claimer.Claim(ctx, c)
	if err != nil {
		e.log.Warn("claiming notification", "err", err, "rule", a.Rule, "fingerprint", a.Fingerprint, "sent", won)
	}
	return won
}
