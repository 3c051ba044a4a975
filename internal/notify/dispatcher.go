package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/retry"
)

// The retry schedule: 1s doubling to a 1m cap, minus up to 20% jitter so that
// many entries failing together do not hit a recovering receiver in lockstep.
const (
	minBackoff = time.Second
	maxBackoff = time.Minute
	// DefaultMaxAge is how long an entry is retried when Options.MaxAge is 0.
	DefaultMaxAge = 24 * time.Hour
)

// backoff.Delay(n) is the wait after n+1 failed attempts.
var backoff = retry.Backoff{Min: minBackoff, Max: maxBackoff, Jitter: 0.2}

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
	// MaxAges overrides MaxAge per notifier name (config max_age).
	MaxAges map[string]time.Duration
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
	maxAges     map[string]time.Duration

	// gmu guards open and sentAt, the grouping state: open holds, per
	// notifier and group key, the Due of the batch still collecting
	// alerts; sentAt when the group's last batch was sent, for
	// group_interval. sentAt lives in memory only: after a restart a group
	// may send sooner than group_interval, never later.
	gmu    sync.Mutex
	open   map[string]map[string]time.Time
	sentAt map[string]map[string]time.Time

	gaveUpMu sync.Mutex
	gaveUp   map[string]int64

	// wake has one channel per notifier, buffered 1: a send means "the
	// outbox may have something new for you".
	wake    map[string]chan struct{}
	pending atomic.Int64
	// idle is closed, and replaced under idleMu, each time the last
	// pending entry is delivered or given up, so Drain waits for that
	// without polling.
	idleMu sync.Mutex
	idle   chan struct{}

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
		maxAges:     map[string]time.Duration{},
		open:        map[string]map[string]time.Time{},
		sentAt:      map[string]map[string]time.Time{},
		gaveUp:      map[string]int64{},
		wake:        map[string]chan struct{}{},
		idle:        make(chan struct{}),
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
		if ma := opts.MaxAges[name]; ma > 0 {
			d.maxAges[name] = ma
		}
	}
	if d.open, err = box.groups(); err != nil {
		box.close()
		return nil, fmt.Errorf("reading outbox groups in %s: %w", opts.OutboxPath, err)
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
	var grouped []item
	d.gmu.Lock()
	defer d.gmu.Unlock()
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
		for _, name := range names {
			it := item{name: name, e: entry{Alert: a, Enqueued: now}}
			if !a.Group.IsZero() {
				it.e.Group = groupKey(a)
				it.e.Due = d.due(name, it.e.Group, a.Group, now)
				grouped = append(grouped, it)
			}
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return nil
	}
	if err := d.box.add(items); err != nil {
		// The batches these would have opened stay open with nothing in
		// them; the next alert of the group joins them, a little early.
		return fmt.Errorf("enqueueing %d alerts: %w", len(items), err)
	}
	d.pending.Add(int64(len(items)))
	for _, it := range grouped {
		d.recordDecision(it.e.Alert, fmt.Sprintf("grouped for %s: waits for its group until %s",
			it.name, it.e.Due.UTC().Format("15:04:05.000Z07:00")))
	}
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

// Drain waits until no entry is pending, grace has passed on the
// dispatcher's clock, or ctx is done, and reports whether nothing is pending.
// Shutdown calls it before stopping Run, to deliver what the last windows
// decided; whatever is left stays in the outbox for the next start. It only
// waits: Run must be running for anything to be delivered. Safe for
// concurrent use.
func (d *Dispatcher) Drain(ctx context.Context, grace time.Duration) bool {
	timer, stop := d.after(grace)
	defer stop()
	for {
		// Take the channel before looking at the count: a last drop in
		// between closes this very channel.
		d.idleMu.Lock()
		idle := d.idle
		d.idleMu.Unlock()
		if d.Pending() == 0 {
			return true
		}
		select {
		case <-idle:
		case <-timer:
			return d.Pending() == 0
		case <-ctx.Done():
			return d.Pending() == 0
		}
	}
}

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
	maxAge := d.maxAgeOf(name)
	for ctx.Err() == nil {
		// This pass reads the outbox anyway: a pending wake-up is spent.
		select {
		case <-d.wake[name]:
		default:
		}
		now := d.clk.Now()
		b, next, bad, err := d.box.pick(name, now)
		if err != nil {
			if bad != nil {
				// An entry we cannot decode can never be sent, and keeping
				// it would block this notifier forever.
				log.Error("dropping unreadable outbox entry", "err", err)
				d.drop(log, name, bad)
				continue
			}
			log.Error("reading outbox", "err", err)
			if !d.sleep(ctx, minBackoff) {
				return
			}
			continue
		}
		if len(b.entries) == 0 {
			// Nothing due: wait for a new entry or for a group's wait to end.
			var timer <-chan time.Time
			stop := func() {}
			if !next.IsZero() {
				timer, stop = d.after(next.Sub(d.clk.Now()))
			}
			select {
			case <-ctx.Done():
				stop()
				return
			case <-d.wake[name]:
			case <-timer:
			}
			stop()
			continue
		}

		// Entries past their max age are given up, one by one; the rest of
		// the batch goes out.
		var keys [][]byte
		var entries []entry
		for i, e := range b.entries {
			if age := now.Sub(e.Enqueued); age >= maxAge {
				d.giveUp(log, name, b.keys[i], e, age)
				continue
			}
			keys, entries = append(keys, b.keys[i]), append(entries, e)
		}
		if len(entries) == 0 {
			continue
		}
		lead := entries[0]
		alerts := make([]event.Alert, len(entries))
		for i, e := range entries {
			alerts[i] = e.Alert
		}
		err = n.Send(ctx, Message{
			Receiver:    name,
			Status:      StatusOf(lead.Alert),
			Alerts:      alerts,
			ExternalURL: d.externalURL,
		})
		switch {
		case err == nil:
			sent := "sent to " + name
			if len(entries) > 1 {
				sent = fmt.Sprintf("sent to %s in a group of %d", name, len(entries))
			}
			for i, e := range entries {
				d.drop(log, name, keys[i])
				d.recordDecision(e.Alert, sent)
			}
			d.groupSent(name, lead.Group)
			continue
		case ctx.Err() != nil:
			// Shutting down interrupted the send; the entries stay for the
			// next Run and this attempt does not count.
			return
		case errors.Is(err, ErrPermanent):
			log.Error("notification failed permanently", "rule", lead.Alert.Rule, "fingerprint", lead.Alert.Fingerprint, "alerts", len(entries), "err", err)
			for i, e := range entries {
				d.drop(log, name, keys[i])
				d.recordDecision(e.Alert, "failed: "+name+": "+err.Error())
			}
			d.groupSent(name, lead.Group)
			continue
		}

		lead.Attempts++
		lead.LastError = err.Error()
		if perr := d.box.put(name, keys[0], lead); perr != nil {
			log.Error("recording attempt in outbox", "err", perr)
		}
		wait := backoff.Delay(lead.Attempts - 1)
		if ra, ok := retryAfterOf(err); ok && ra > 0 {
			wait = ra
		}
		if lead.Attempts == 1 {
			log.Warn("notification failed, retrying", "rule", lead.Alert.Rule, "fingerprint", lead.Alert.Fingerprint, "alerts", len(entries), "err", err, "wait", wait)
			for _, e := range entries {
				d.recordDecision(e.Alert, "retrying "+name+": "+err.Error())
			}
		} else {
			log.Debug("notification failed again", "rule", lead.Alert.Rule, "attempts", lead.Attempts, "err", err, "wait", wait)
		}
		// Never wait past the give-up time, so MaxAge is honoured even when
		// the backoff or a Retry-After is long.
		if left := lead.Enqueued.Add(maxAge).Sub(d.clk.Now()); wait > left {
			wait = max(left, 0)
		}
		if !d.sleep(ctx, wait) {
			return
		}
	}
}

// giveUp drops an entry that stayed undelivered for its notifier's max age,
// and says so in the log, the history and the GaveUp counter.
func (d *Dispatcher) giveUp(log *slog.Logger, name string, key []byte, e entry, age time.Duration) {
	last := e.LastError
	if last == "" {
		last = "never attempted"
	}
	log.Error("giving up notification", "rule", e.Alert.Rule, "fingerprint", e.Alert.Fingerprint,
		"age", age, "attempts", e.Attempts, "err", last)
	d.drop(log, name, key)
	d.gaveUpMu.Lock()
	d.gaveUp[name]++
	d.gaveUpMu.Unlock()
	d.recordDecision(e.Alert, fmt.Sprintf("failed: gave up after %s sending to %s: %s", age.Round(time.Second), name, last))
}

// GaveUp returns, per notifier name, how many notifications this Dispatcher
// gave up after their max age: a counter for /metrics and self-monitoring
// (it starts at zero with each Dispatcher, e.g. after a reload that changed
// the notifiers). Safe for concurrent use.
func (d *Dispatcher) GaveUp() map[string]int64 {
	d.gaveUpMu.Lock()
	defer d.gaveUpMu.Unlock()
	out := make(map[string]int64, len(d.notifiers))
	for name := range d.notifiers {
		out[name] = 0
	}
	for name, n := range d.gaveUp {
		out[name] = n
	}
	return out
}

func (d *Dispatcher) maxAgeOf(name string) time.Duration {
	if ma, ok := d.maxAges[name]; ok {
		return ma
	}
	return d.maxAge
}

// groupSep separates the parts of a group key. It must survive the JSON
// round trip through the outbox, which 0xff (invalid UTF-8) would not.
const groupSep = 0x1f

// groupKey is the batch an alert joins: its rule, its status (firing and
// resolved alerts go out in separate messages, as Message has one Status)
// and the values of its group_by labels.
func groupKey(a event.Alert) string {
	var b strings.Builder
	b.WriteString(a.Rule)
	b.WriteByte(groupSep)
	b.WriteString(StatusOf(a))
	for _, l := range a.Group.By {
		b.WriteByte(groupSep)
		b.WriteString(l)
		b.WriteByte('=')
		b.WriteString(a.Labels[l])
	}
	return b.String()
}

// due returns when a new entry of group key for notifier name may be sent:
// with the batch still collecting, at its time; else group_wait from now, but
// not before group_interval since the group's last batch. Callers hold gmu.
func (d *Dispatcher) due(name, key string, g event.Grouping, now time.Time) time.Time {
	open := d.open[name]
	if open == nil {
		open = map[string]time.Time{}
		d.open[name] = open
	}
	if due, ok := open[key]; ok {
		return due
	}
	due := now.Add(g.Wait)
	if last, ok := d.sentAt[name][key]; ok && g.Interval > 0 {
		due = maxTime(due, last.Add(g.Interval))
	}
	open[key] = due
	return due
}

// groupSent closes the group's batch after it was sent or failed for good.
func (d *Dispatcher) groupSent(name, key string) {
	if key == "" {
		return
	}
	d.gmu.Lock()
	defer d.gmu.Unlock()
	delete(d.open[name], key)
	if d.sentAt[name] == nil {
		d.sentAt[name] = map[string]time.Time{}
	}
	d.sentAt[name][key] = d.clk.Now()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// drop deletes a delivered or abandoned entry.
func (d *Dispatcher) drop(log *slog.Logger, name string, key []byte) {
	found, err := d.box.remove(name, key)
	if err != nil {
		// The entry will be sent again: a duplicate, never a loss.
		log.Error("deleting outbox entry", "err", err)
		return
	}
	if found && d.pending.Add(-1) == 0 {
		d.idleMu.Lock()
		close(d.idle)
		d.idle = make(chan struct{})
		d.idleMu.Unlock()
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

// after returns a channel that fires once dur has passed on the dispatcher's
// clock, and a function that releases it.
func (d *Dispatcher) after(dur time.Duration) (<-chan time.Time, func()) {
	if w, ok := d.clk.(Waiter); ok {
		return w.After(dur), func() {}
	}
	t := time.NewTimer(dur)
	return t.C, func() { t.Stop() }
}

// sleep waits for dur on the dispatcher's clock; false means ctx ended first.
func (d *Dispatcher) sleep(ctx context.Context, dur time.Duration) bool {
	c, stop := d.after(dur)
	defer stop()
	select {
	case <-ctx.Done():
		return false
	case <-c:
		return true
	}
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
