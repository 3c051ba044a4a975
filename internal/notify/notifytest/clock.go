// Package notifytest holds test helpers for the notify packages: a fake clock
// that can also wait, so retry backoff is driven by the test instead of by
// real seconds passing, and the sample messages and golden-file check that
// every channel's payload tests share.
package notifytest

import (
	"sync"
	"time"
)

// Clock is a fake clock implementing clock.Clock and notify.Waiter. Time only
// moves on Advance, which fires the waits that have come due. Every wait asked
// for is also reported on Waits, so a test can see the backoff schedule and
// knows when the dispatcher is waiting.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []timer
	waits  chan time.Duration
}

type timer struct {
	at time.Time
	c  chan time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock {
	return &Clock{now: t, waits: make(chan time.Duration, 1024)}
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the time once the clock has been
// advanced by d; at once when d <= 0. It reports d on Waits.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	if d <= 0 {
		ch <- c.now
	} else {
		c.timers = append(c.timers, timer{at: c.now.Add(d), c: ch})
	}
	c.mu.Unlock()
	select {
	case c.waits <- d:
	default: // nobody is reading; the wait still works
	}
	return ch
}

// Waits reports the duration of every After call, in order.
func (c *Clock) Waits() <-chan time.Duration { return c.waits }

// Advance moves the clock forward by d and fires the waits that came due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.c <- c.now
	}
	c.timers = kept
}
