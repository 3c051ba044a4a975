package rule

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/state"
)

// NotifyFunc hands a firing or resolved alert to the notifiers. It is called
// synchronously, after the new state is persisted, while the engine holds the
// alert's lock: it must not block for long and must not call back into the
// Engine. The alert is a copy; its Labels and Notify must not be modified.
type NotifyFunc func(a event.Alert)

// RecordFunc receives every state transition and every notify decision, for
// the history and the store. It is called like NotifyFunc, with the same
// restrictions.
type RecordFunc func(t event.Transition)

// MuteFunc tells whether a firing notification about a must be held back, and
// why: "" sends it; otherwise the reason is recorded as "suppressed: " +
// reason, e.g. "silence 3fa2", "inhibited by HighErrorRate 1a2b" or
// "acknowledged by alice". firing yields the engine's firing alerts (for
// inhibition); it must be used only during the call and the alerts must not be
// modified. It is called like NotifyFunc, with the same restrictions, and
// again on later windows while the alert fires unsent, so a silence that
// ends lets the alert out on the next window.
type MuteFunc func(a event.Alert, firing iter.Seq[event.Alert]) string

// StateInactive is recorded when a pending alert's condition stops holding
// before it fired. Inactive instances are not kept.
const StateInactive event.AlertState = "inactive"

// The notify decisions recorded in event.Transition.Decision.
const (
	// DecisionQueued: the alert was handed to Options.Notify, which queues
	// it; the dispatcher records "sent to <notifier>" or "retrying …" as
	// the delivery happens.
	DecisionQueued = "queued"
	// DecisionSuppressedRepeat: the alert is still firing but was sent less
	// than `repeat` ago. Recorded once after each send, not per window.
	DecisionSuppressedRepeat = "suppressed: repeat"
	// DecisionSuppressedPrefix starts every held-back decision; MuteFunc's
	// reason follows it.
	DecisionSuppressedPrefix = "suppressed: "
	// DecisionResolvedUnsent: the alert resolved before its firing message
	// went out (it was muted all along), so no resolved message is sent.
	DecisionResolvedUnsent = "suppressed: resolved before its firing message was sent"
	// DecisionFlapping prefixes the decision recorded when the condition is
	// false but keep_firing_for or resolve_after keeps the alert firing.
	DecisionFlapping = "suppressed: flapping, resolve held"
)

// Options are the Engine's dependencies. All are optional.
type Options struct {
	// Store persists alert state; nil keeps it in memory only.
	Store state.Store
	// Clock stamps LastSent and measures repeat; nil is the wall clock.
	Clock clock.Clock
	// Notify receives firing and resolved alerts; nil drops them.
	Notify NotifyFunc
	// Record receives transitions and decisions; nil drops them.
	Record RecordFunc
	// Log receives evaluation and persistence problems; nil discards them.
	Log *slog.Logger
	// Threshold answers threshold("name", default) in `when`; when nil or
	// when it reports false, the default is used.
	Threshold func(name string) (float64, bool)
	// Pipelines, when not nil, lets New check each `when` against its
	// pipeline's aggregates and group_by keys, so unknown names, type
	// mismatches and non-boolean conditions fail at New instead of making
	// the condition false at run time.
	Pipelines []config.Pipeline
	// Query runs an SQL rule's statement (read-only, over the store); nil
	// makes every SQL rule evaluation fail. See EvaluateSQL.
	Query QueryFunc
	// Mute, when not nil, may hold back firing notifications (silences,
	// inhibition, acknowledgements). Resolved messages are never muted:
	// one is sent for every alert whose firing message was sent.
	Mute MuteFunc
	// Claimer, when not nil, is asked before each firing or resolved
	// notification whether this instance sends it (lookouts sharing a
	// Redis state backend and fed the same events notify once); a lost
	// claim is recorded as DecisionSuppressedClaimed. See claim.go.
	Claimer state.Claimer
	// CheckSQL, when not nil, lets New check each SQL rule's statement
	// (parse, bind against the schema, refuse what Query would refuse)
	// without running it.
	CheckSQL func(ctx context.Context, sql string) error
}

// lockStripes is how many locks serialise evaluation per fingerprint. Windows
// of different groups evaluate in parallel; two windows of the same group
// never interleave their state changes.
const lockStripes = 64

// Engine evaluates `when` rules on closed windows and keeps the state of their
// alert instances. It is safe for concurrent use.
type Engine struct {
	byPipeline map[string][]*compiled
	byName     map[string]*compiled
	sqlRules   map[string]bool
	sql        []*sqlRule
	query      QueryFunc

	store     state.Store
	clock     clock.Clock
	notify    NotifyFunc
	record    RecordFunc
	mute      MuteFunc
	claimer   state.Claimer
	log       *slog.Logger
	vms       sync.Pool
	seed      maphash.Seed
	stripes   [lockStripes]sync.Mutex
	mu        sync.Mutex // guards alerts
	alerts    map[string]instance
	threshold func(string) (float64, bool)
	// groups records the groups of no_data reset and alert rules, for Tick.
	groups groups
}

// instance is the engine's view of one alert instance.
type instance struct {
	a event.Alert
	// noted lists the held-back decisions recorded since the last send, so
	// the history gets one row per reason ("suppressed: repeat", a silence,
	// flapping) per send instead of one per window.
	noted []string
}

// New compiles the rules. Rules with `sql` are skipped (a separate engine runs
// them). When some rules do not compile, New returns every problem joined
// with errors.Join, each a *CompileError.
func New(rules []config.Rule, opts Options) (*Engine, error) {
	e := &Engine{
		byPipeline: map[string][]*compiled{},
		byName:     map[string]*compiled{},
		sqlRules:   map[string]bool{},
		store:      opts.Store,
		clock:      opts.Clock,
		notify:     opts.Notify,
		record:     opts.Record,
		mute:       opts.Mute,
		claimer:    opts.Claimer,
		log:        opts.Log,
		seed:       maphash.MakeSeed(),
		alerts:     map[string]instance{},
		threshold:  opts.Threshold,
		query:      opts.Query,
		groups:     groups{m: map[string]*seenGroup{}},
	}
	e.vms.New = func() any { return new(vm.VM) }
	if e.clock == nil {
		e.clock = clock.Real{}
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	var pipes map[string]*config.Pipeline
	if opts.Pipelines != nil {
		pipes = make(map[string]*config.Pipeline, len(opts.Pipelines))
		for i := range opts.Pipelines {
			pipes[opts.Pipelines[i].Name] = &opts.Pipelines[i]
		}
	}

	var errs []error
	seen := map[string]bool{}
	for i, r := range rules {
		fail := func(path string, err error) {
			errs = append(errs, &CompileError{Index: i, Rule: r.Name, Path: path, Err: err})
		}
		if r.Name == "" {
			fail("name", errors.New("a rule needs a name"))
			continue
		}
		if seen[r.Name] {
			// The name is half of an alert's identity: two rules with one
			// name would share alert state.
			fail("name", fmt.Errorf("duplicate rule name %q", r.Name))
			continue
		}
		seen[r.Name] = true
		if strings.TrimSpace(r.SQL) != "" {
			e.sqlRules[r.Name] = true
			sr, serrs := compileSQLRule(i, r, opts.CheckSQL)
			if len(serrs) > 0 {
				errs = append(errs, serrs...)
				continue
			}
			e.sql = append(e.sql, sr)
			continue
		}
		var pipe *config.Pipeline
		switch {
		case r.Pipeline == "":
			fail("pipeline", errors.New("a `when` rule needs a pipeline"))
			continue
		case pipes != nil:
			if pipe = pipes[r.Pipeline]; pipe == nil {
				fail("pipeline", fmt.Errorf("unknown pipeline %q", r.Pipeline))
				continue
			}
		}
		c, cerrs := compileRule(i, r, pipe, e.lookupThreshold)
		if len(cerrs) > 0 {
			errs = append(errs, cerrs...)
			continue
		}
		c.noData = compileNoData(c, pipe)
		if pipe != nil {
			c.groupBy = append([]string{}, pipe.GroupBy...)
		}
		e.byPipeline[r.Pipeline] = append(e.byPipeline[r.Pipeline], c)
		e.byName[r.Name] = c
	}
	for _, r := range rules {
		c := e.byName[r.Name]
		if c == nil || c.noData == nil {
			continue
		}
		if ac := c.noData.alert; ac != nil {
			if seen[ac.cfg.Name] {
				// The NoData alert would share its identity with that rule's.
				errs = append(errs, &CompileError{Index: c.index, Rule: c.cfg.Name, Path: "no_data",
					Err: fmt.Errorf("no_data: alert names its alerts %q, which is another rule's name", ac.cfg.Name)})
				continue
			}
			e.byName[ac.cfg.Name] = ac
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

func (e *Engine) lookupThreshold(name string) (float64, bool) {
	if e.threshold == nil {
		return 0, false
	}
	return e.threshold(name)
}

// Restore loads the persisted alert state. Call it before the first window.
// Instances of rules that no longer exist are deleted from the store (they
// can never resolve).
func (e *Engine) Restore(ctx context.Context) error {
	if e.store == nil {
		return nil
	}
	alerts, err := e.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("restoring alert state: %w", err)
	}
	now := e.clock.Now()
	for _, a := range alerts {
		_, known := e.byName[a.Rule]
		known = known || e.sqlRules[a.Rule]
		if !known || (a.State != event.StatePending && a.State != event.StateFiring) {
			e.log.Info("dropping stored alert", "rule", a.Rule, "fingerprint", a.Fingerprint, "state", a.State)
			if err := e.store.Delete(ctx, a.Fingerprint); err != nil {
				return fmt.Errorf("restoring alert state: %w", err)
			}
			continue
		}
		e.mu.Lock()
		e.alerts[a.Fingerprint] = instance{a: a}
		e.mu.Unlock()
		if c, ok := e.byName[a.Rule]; ok {
			e.restoreGroup(c, a, now)
		}
	}
	return nil
}

// Active returns the pending and firing alerts, sorted by rule then
// fingerprint. The slice is the caller's; the maps and slices inside the
// alerts are shared and must not be modified.
func (e *Engine) Active() []event.Alert {
	e.mu.Lock()
	out := make([]event.Alert, 0, len(e.alerts))
	for _, in := range e.alerts {
		out = append(out, in.a)
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b event.Alert) int {
		if c := strings.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return strings.Compare(a.Fingerprint, b.Fingerprint)
	})
	return out
}

// OnWindow evaluates the rules of w.Pipeline for w's group and acts on the
// outcome: persisting state, then notifying and recording. It is safe for
// concurrent use; it does not keep w.
func (e *Engine) OnWindow(w *event.Window) {
	rules := e.byPipeline[w.Pipeline]
	if len(rules) == 0 {
		return
	}
	group := w.GroupMap()
	// One environment serves every rule of the window; programs only read it.
	env := make(map[string]any, len(group)+len(w.Names))
	for k, v := range group {
		env[k] = v
	}
	for i, n := range w.Names {
		if i < len(w.Values) {
			env[n] = w.Values[i]
		}
	}
	for _, c := range rules {
		e.evaluate(c, w, env, group)
	}
}

// eval runs the condition. A window that lacks a name the condition reads, or
// a run-time error, makes it false: there is nothing to alert on, and the
// problem is logged once per rule rather than once per window.
func (e *Engine) eval(c *compiled, w *event.Window, env map[string]any) bool {
	for _, n := range c.names {
		if _, ok := env[n]; !ok {
			e.warnOnce(c, "rule reads a name the window lacks", "name", n, "pipeline", w.Pipeline)
			return false
		}
	}
	m := e.vms.Get().(*vm.VM)
	out, err := m.Run(c.prog, env)
	e.vms.Put(m)
	if err != nil {
		e.warnOnce(c, "evaluating rule", "err", err, "pipeline", w.Pipeline)
		return false
	}
	b, ok := out.(bool)
	if !ok {
		e.warnOnce(c, "rule condition is not boolean", "result", fmt.Sprintf("%T", out), "pipeline", w.Pipeline)
	}
	return b
}

func (e *Engine) warnOnce(c *compiled, msg string, args ...any) {
	args = append(args, "rule", c.cfg.Name)
	if c.warned.CompareAndSwap(false, true) {
		e.log.Warn(msg, args...)
		return
	}
	e.log.Debug(msg, args...)
}

func (e *Engine) evaluate(c *compiled, w *event.Window, env map[string]any, group map[string]string) {
	cond := e.eval(c, w, env)
	fp := Fingerprint(c.cfg.Name, group)
	wasSilent := e.observe(c, fp, group, e.clock.Now())
	e.step(c, fp, group, cond, w.End, func(a *event.Alert) {
		a.Value = firstValue(c, w)
		a.Summary = render(c, a.Labels, w)
		a.Exemplar = firstExemplar(c, w)
	})
	if wasSilent {
		e.resolveNoData(c, group, e.clock.Now())
	}
}

// step is the alert state machine, shared by window rules and SQL rules: it
// moves the instance fp of rule c on by one observation at time at (a
// window's end, or an SQL evaluation's time) in which the condition was cond.
// When cond is true, fill sets the alert's Value and Summary from the
// observation once its Labels (from group) are in place.
func (e *Engine) step(c *compiled, fp string, group map[string]string, cond bool, at time.Time, fill func(a *event.Alert)) {
	mu := &e.stripes[maphash.String(e.seed, fp)%lockStripes]
	mu.Lock()
	defer mu.Unlock()

	e.mu.Lock()
	in, exists := e.alerts[fp]
	e.mu.Unlock()

	if !cond {
		if exists {
			e.clear(c, in, at)
		}
		return
	}

	a := in.a
	if !exists {
		a = event.Alert{
			Rule:        c.cfg.Name,
			State:       event.StatePending,
			Since:       at,
			Fingerprint: fp,
		}
		in.noted = nil
	}
	a.Labels = alertLabels(c.cfg, group)
	fill(&a)
	a.Severity = c.cfg.Severity
	a.Notify = c.cfg.Notify
	a.Group = c.grouping()
	a.ResolvedAt = time.Time{}
	a.Consecutive++
	wasClean := a.Clean > 0
	a.LastActive, a.Clean = at, 0

	now := e.clock.Now()
	switch {
	case a.State == event.StatePending && c.ready(a.Consecutive, a.Since, at):
		a.State = event.StateFiring
		in.a, in.noted = a, nil
		e.send(in, at, now, true)
	case a.State == event.StatePending:
		in.a = a
		e.put(in)
		if !exists {
			e.emit(a, at, "", false)
		}
	case a.LastSent.IsZero():
		// Firing but never sent: it was muted, and may not be any more.
		in.a = a
		e.send(in, at, now, wasClean)
	case c.cfg.Repeat > 0 && now.Sub(a.LastSent) >= c.cfg.Repeat.D():
		in.a = a
		e.send(in, at, now, true)
	default:
		// Still firing, sent recently: keep the fresh value and summary in
		// memory for Active, but spare the disk a write per window (except
		// when a flapping streak ends, so a restart sees it).
		in.a = a
		e.hold(in, at, DecisionSuppressedRepeat, wasClean)
	}
}

// send hands a firing alert on unless Mute holds it back. changed says the
// instance differs from what is stored, so it is written even when held.
func (e *Engine) send(in instance, at, now time.Time, changed bool) {
	if e.mute != nil {
		if why := e.mute(in.a, e.firing); why != "" {
			e.hold(in, at, DecisionSuppressedPrefix+why, changed)
			return
		}
	}
	in.a.LastSent = now
	in.noted = nil
	e.put(in)
	e.emit(in.a, at, DecisionQueued, true)
}

// hold keeps a notification back, recording decision the first time since
// the last send. The instance is persisted when it changed or the decision is
// new (so a restart resumes from it), else only kept in memory.
func (e *Engine) hold(in instance, at time.Time, decision string, changed bool) {
	first := !slices.Contains(in.noted, decision)
	if first {
		in.noted = append(slices.Clip(in.noted), decision)
	}
	if changed || first {
		e.put(in)
	} else {
		e.keep(in)
	}
	if first {
		e.emit(in.a, at, decision, false)
	}
}

// Firing returns an iterator over the firing alerts, in no order, for
// inhibition checks outside a MuteFunc (e.g. the API's view of what mutes an
// alert). The iterator holds the engine's lock while it runs: consume it
// quickly and do not call the Engine from the loop.
func (e *Engine) Firing() iter.Seq[event.Alert] { return e.firing }

// firing yields the firing alerts, for MuteFunc. It holds e.mu meanwhile.
func (e *Engine) firing(yield func(event.Alert) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, in := range e.alerts {
		if in.a.State == event.StateFiring && !yield(in.a) {
			return
		}
	}
}

// clear handles a false condition for an existing instance.
func (e *Engine) clear(c *compiled, in instance, at time.Time) {
	a := in.a
	if a.State != event.StateFiring {
		e.drop(a.Fingerprint)
		a.State = StateInactive
		e.emit(a, at, "", false)
		return
	}
	a.Clean++
	if why := c.holdResolve(a, at); why != "" {
		// Flapping: stay firing. Write the first clean observation of a
		// streak (LastActive and Clean) so a restart keeps holding.
		in.a = a
		e.hold(in, at, DecisionFlapping+" ("+why+")", a.Clean == 1)
		return
	}
	e.drop(a.Fingerprint)
	// Keep the value and summary of the last firing window: the resolved
	// message tells what the alert was about.
	a.State = event.StateResolved
	a.ResolvedAt = at
	if a.LastSent.IsZero() {
		e.emit(a, at, DecisionResolvedUnsent, false)
		return
	}
	e.emit(a, at, DecisionQueued, true)
}

// put persists the instance, then makes it visible to Active.
func (e *Engine) put(in instance) {
	if e.store != nil {
		// OnWindow carries no context: a closed window is judged in full.
		if err := e.store.Put(context.Background(), in.a); err != nil {
			// Go on: a duplicate notification after a crash is better than
			// a lost one, and the next window will try to write again.
			e.log.Error("persisting alert state", "err", err, "rule", in.a.Rule, "fingerprint", in.a.Fingerprint)
		}
	}
	e.keep(in)
}

func (e *Engine) keep(in instance) {
	e.mu.Lock()
	e.alerts[in.a.Fingerprint] = in
	e.mu.Unlock()
}

// drop deletes the instance from the store, then from memory.
func (e *Engine) drop(fp string) {
	if e.store != nil {
		if err := e.store.Delete(context.Background(), fp); err != nil {
			e.log.Error("deleting alert state", "err", err, "fingerprint", fp)
		}
	}
	e.mu.Lock()
	delete(e.alerts, fp)
	e.mu.Unlock()
}

// emit records the transition or decision and, when notify is set, hands the
// alert to the notifiers. Callers have persisted the state already.
func (e *Engine) emit(a event.Alert, at time.Time, decision string, notify bool) {
	if notify && !e.claim(a) {
		decision, notify = DecisionSuppressedClaimed, false
	}
	if e.record != nil {
		e.record(event.Transition{
			Time:        at,
			Rule:        a.Rule,
			Fingerprint: a.Fingerprint,
			Labels:      a.Labels,
			State:       a.State,
			Value:       a.Value,
			Summary:     a.Summary,
			Decision:    decision,
		})
	}
	if notify && e.notify != nil {
		e.notify(a)
	}
}
