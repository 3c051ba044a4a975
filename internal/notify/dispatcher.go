package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/event"
)

// The retry schedule: 1s doubling to a 1m cap, minus up to 20% jitter so that
// many entries failing together do not hit a recovering receiver in lockstep.
const (
	minBackoff = time.Second
	maxBackoff = time.Minute
	// DefaultMaxAge is how long an entry is retried when Options.MaxAge is 0.
	DefaultMaxAge = 24 * time.Hour
)

// ErrClosed is returned by Enqueue after Close.
var ErrClosed = errors.New("notify: dispatcher closed")

// Waiter is a clock that can also wait. When Options.Clock implements it, the
// Dispatcher waits out its backoff through After, so a test clock decides when
// a retry is due; otherwise it uses real timers, which is right for
// clock.Real. After(d) with d <= 0 must fire at once.
type Waiter interface {
	After(d time.Duration) <-chan time.Time
}

// Options configure a Dispatcher.
type Options struct {
	// Notifiers by name, as alerts name them in event.Alert.Notify.
	Notifiers map[string]Notifier
	// OutboxPath is the bbolt file that holds undelivered entries. Only one
	// Dispatcher may hold it at a time.
	OutboxPath string
	// Clock tells the time for MaxAge and backoff; nil means the wall clock.
	Clock clock.Clock
	// Record is told every decision about sending ("sent to ops",
	// "retrying ops: ...", "failed: ..."). It is called from several
	// goroutines at once and should not block. Nil means nobody listens.
	Record func(event.Transition)
	// Log receives errors and retries; nil discards.
	Log *slog.Logger
	// ExternalURL is where users reach lookout; it goes into every Message.
	ExternalURL string
	// MaxAge is how long an entry is retried before it is given up; 0 means
	// DefaultMaxAge.
	MaxAge time.Duration
}

// Dispatcher delivers alerts to notifiers through a durable outbox: see the
// package documentation. Enqueue and Pending are safe for concurrent use; Run
// drains the outbox until its context is done.
type Dispatcher struct {
	notifiers   map[string]Notifier
	box         *outbox
	clk         clock.Clock
	record      func(event.Transition)
	log         *slog.Logger
	externalURL string
	maxAge      time.Duration

	// wake has one channel per notifier, buffered 1: a send means "the
	// outbox may have something new for you".
	wake    map[string]chan struct{}
	pending atomic.Int64

	// mu guards closed and running; Enqueue holds it for reading while it
	// writes, so Close never closes the file under a write.
	mu      sync.RWMutex
	closed  bool
	running bool
	done    chan struct{}
	runs    sync.WaitGroup
}

// NewDispatcher opens (or creates) the outbox file. Entries left by an earlier
// Dispatcher stay queued and are sent by Run.
func NewDispatcher(opts Options) (*Dispatcher, error) {
	if opts.OutboxPath == "" {
		return nil, errors.New("creating dispatcher: OutboxPath is empty")
	}
	box, err := openOutbox(opts.OutboxPath)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{
		notifiers:   map[string]Notifier{},
		box:         box,
		clk:         opts.Clock,
		record:      opts.Record,
		log:         opts.Log,
		externalURL: opts.ExternalURL,
		maxAge:      opts.MaxAge,
		wake:        map[string]chan struct{}{},
		done:        make(chan struct{}),
	}
	if d.clk == nil {
		d.clk = clock.Real{}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.maxAge <= 0 {
		d.maxAge = DefaultMaxAge
	}
	for name, n := range opts.Notifiers {
		d.notifiers[name] = n
		d.wake[name] = make(chan struct{}, 1)
	}
	counts, err := box.counts()
	if err != nil {
		box.close()
		return nil, fmt.Errorf("counting outbox entries in %s: %w", opts.OutboxPath, err)
	}
	for _, c := range counts {
		d.pending.Add(int64(c))
	}
	return d, nil
}

// Enqueue persists one outbox entry per notifier named in a.Notify, fsync'd,
// before it returns, then wakes the sender. It copies the alert; the caller
// may reuse it. Names that are not configured notifiers are recorded as
// "failed: ..." and logged, not returned, since the other notifiers still got
// their entries. It returns an error only when nothing could be persisted.
// Safe for concurrent use.
func (d *Dispatcher) Enqueue(a event.Alert) error { return d.EnqueueAll(a) }

// EnqueueAll is Enqueue for several alerts at once, in order, with a single
// transaction and fsync: all are persisted or none is. Use it when one window
// decides many alerts, since each fsync costs milliseconds.
func (d *Dispatcher) EnqueueAll(alerts ...event.Alert) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	now := d.clk.Now()
	items := make([]item, 0, len(alerts))
	woken := map[string]bool{}
	n := 0
	for _, a := range alerts {
		var names []string
		for _, name := range a.Notify {
			if slices.Contains(names, name) {
				continue
			}
			if _, ok := d.notifiers[name]; !ok {
				d.log.Error("alert names an unknown notifier", "notifier", name, "rule", a.Rule)
				d.recordDecision(a, "failed: notifier "+name+" is not configured")
				continue
			}
			names = append(names, name)
			woken[name] = true
		}
		if len(names) > 0 {
			items = append(items, item{names: names, e: entry{Alert: a, Enqueued: now}})
			n += len(names)
		}
	}
	if len(items) == 0 {
		return nil
	}
	if err := d.box.add(items); err != nil {
		return fmt.Errorf("enqueueing %d alerts: %w", len(items), err)
	}
	d.pending.Add(int64(n))
	for name := range woken {
		select {
		case d.wake[name] <- struct{}{}:
		default: // already woken
		}
	}
	return nil
}

// Pending returns the number of undelivered entries, counting one per
// notifier.
func (d *Dispatcher) Pending() int { return int(d.pending.Load()) }

// Run sends pending entries until ctx is done or Close is called, then
// returns. Each notifier has its own goroutine: its entries go oldest first
// and one at a time, and an entry is deleted only after the notifier
// acknowledged it (or it failed for good), so order holds and nothing is
// lost. Failed sends are retried with exponential backoff plus jitter (1s
// doubling to 1m), or after the RetryAfter the notifier returned; entries
// older than MaxAge are given up. Entries for notifiers that are no longer
// configured are given up at once. A second Run while one is active returns
// at once.
func (d *Dispatcher) Run(ctx context.Context) {
	d.mu.Lock()
	if d.closed || d.running {
		d.mu.Unlock()
		return
	}
	d.running = true
	d.runs.Add(1)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
		d.runs.Done()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	d.failOrphans()
	var wg sync.WaitGroup
	for name, n := range d.notifiers {
		wg.Go(func() { d.work(ctx, name, n) })
	}
	wg.Wait()
}

// Close stops Run, waits for it to return and closes the outbox file.
// Undelivered entries stay in the file for the next Dispatcher.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.done)
	d.mu.Unlock()
	d.runs.Wait()
	if err := d.box.close(); err != nil {
		return fmt.Errorf("closing outbox: %w", err)
	}
	return nil
}

// work is the sender of one notifier.
func (d *Dispatcher) work(ctx context.Context, name string, n Notifier) {
	log := d.log.With("notifier", name)
	for ctx.Err() == nil {
		key, e, ok, err := d.box.head(name)
		if err != nil {
			if key != nil {
				// An entry we cannot decode can never be sent, and keeping
				// it would block this notifier forever.
				log.Error("dropping unreadable outbox entry", "err", err)
				d.drop(log, name, key)
				continue
			}
			log.Error("reading outbox", "err", err)
			if !d.sleep(ctx, minBackoff) {
				return
			}
			continue
		}
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-d.wake[name]:
			}
			continue
		}

		if age := d.clk.Now().Sub(e.Enqueued); age >= d.maxAge {
			last := e.LastError
			if last == "" {
				last = "never attempted"
			}
			log.Error("giving up notification", "rule", e.Alert.Rule, "fingerprint", e.Alert.Fingerprint,
				"age", age, "attempts", e.Attempts, "err", last)
			d.drop(log, name, key)
			d.recordDecision(e.Alert, fmt.Sprintf("failed: gave up after %s sending to %s: %s", age.Round(time.Second), name, last))
			continue
		}

		err = n.Send(ctx, Message{
			Receiver:    name,
			Status:      StatusOf(e.Alert),
			Alerts:      []event.Alert{e.Alert},
			ExternalURL: d.externalURL,
		})
		switch {
		case err == nil:
			d.drop(log, name, key)
			d.recordDecision(e.Alert, "sent to "+name)
			continue
		case ctx.Err() != nil:
			// Shutting down interrupted the send; the entry stays for the
			// next Run and this attempt does not count.
			return
		case errors.Is(err, ErrPermanent):
			log.Error("notification failed permanently", "rule", e.Alert.Rule, "fingerprint", e.Alert.Fingerprint, "err", err)
			d.drop(log, name, key)
			d.recordDecision(e.Alert, "failed: "+name+": "+err.Error())
			continue
		}

		e.Attempts++
		e.LastError = err.Error()
		if perr := d.box.put(name, key, e); perr != nil {
			log.Error("recording attempt in outbox", "err", perr)
		}
		wait := backoff(e.Attempts)
		if ra, ok := retryAfterOf(err); ok && ra > 0 {
			wait = ra
		}
		if e.Attempts == 1 {
			log.Warn("notification failed, retrying", "rule", e.Alert.Rule, "fingerprint", e.Alert.Fingerprint, "err", err, "wait", wait)
			d.recordDecision(e.Alert, "retrying "+name+": "+err.Error())
		} else {
			log.Debug("notification failed again", "rule", e.Alert.Rule, "attempts", e.Attempts, "err", err, "wait", wait)
		}
		// Never wait past the give-up time, so MaxAge is honoured even when
		// the backoff or a Retry-After is long.
		if left := e.Enqueued.Add(d.maxAge).Sub(d.clk.Now()); wait > left {
			wait = max(left, 0)
		}
		if !d.sleep(ctx, wait) {
			return
		}
	}
}

// drop deletes a delivered or abandoned entry.
func (d *Dispatcher) drop(log *slog.Logger, name string, key []byte) {
	found, err := d.box.remove(name, key)
	if err != nil {
		// The entry will be sent again: a duplicate, never a loss.
		log.Error("deleting outbox entry", "err", err)
		return
	}
	if found {
		d.pending.Add(-1)
	}
}

// failOrphans gives up entries whose notifier is no longer configured (it
// was removed from the config between runs), so they neither linger forever
// nor vanish unexplained.
func (d *Dispatcher) failOrphans() {
	counts, err := d.box.counts()
	if err != nil {
		d.log.Error("counting outbox entries", "err", err)
		return
	}
	for name, c := range counts {
		if _, ok := d.notifiers[name]; ok || c == 0 {
			continue
		}
		log := d.log.With("notifier", name)
		for {
			key, e, ok, err := d.box.head(name)
			if key == nil || (!ok && err == nil) { // empty, or the file failed
				if err != nil {
					log.Error("reading outbox", "err", err)
				}
				break
			}
			d.drop(log, name, key)
			if err != nil {
				log.Error("dropping unreadable outbox entry", "err", err)
				continue
			}
			log.Error("giving up notification for an unconfigured notifier", "rule", e.Alert.Rule, "fingerprint", e.Alert.Fingerprint)
			d.recordDecision(e.Alert, "failed: notifier "+name+" is not configured")
		}
	}
}

func (d *Dispatcher) recordDecision(a event.Alert, decision string) {
	if d.record == nil {
		return
	}
	d.record(event.Transition{
		Time:        d.clk.Now(),
		Rule:        a.Rule,
		Fingerprint: a.Fingerprint,
		Labels:      a.Labels,
		State:       a.State,
		Value:       a.Value,
		Summary:     a.Summary,
		Decision:    decision,
	})
}

// sleep waits for dur on the dispatcher's clock; false means ctx ended first.
func (d *Dispatcher) sleep(ctx context.Context, dur time.Duration) bool {
	var c <-chan time.Time
	if w, ok := d.clk.(Waiter); ok {
		c = w.After(dur)
	} else {
		t := time.NewTimer(dur)
		defer t.Stop()
		c = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-c:
		return true
	}
}

// backoff returns the wait after the given number of failed attempts (>= 1).
func backoff(attempts int) time.Duration {
	d := maxBackoff
	if attempts <= 6 { // 1s << 6 = 64s, past the cap
		d = min(minBackoff<<(attempts-1), maxBackoff)
	}
	return d - rand.N(d/5+1)
}

// retryAfterOf finds a RetryAfter in err's chain, as a value or a pointer.
func retryAfterOf(err error) (time.Duration, bool) {
	var v RetryAfter
	if errors.As(err, &v) {
		return v.After, true
	}
	var p *RetryAfter
	if errors.As(err, &p) && p != nil {
		return p.After, true
	}
	return 0, false
}
