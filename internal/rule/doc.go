// Package rule turns closed windows into alerts. It sits between the windows
// and the notifiers in the data flow (windows → rules → alert state →
// notifiers): the window stage calls Engine.OnWindow as each window closes, and
// the engine evaluates the rules of that window's pipeline for its group right
// away, with no polling interval in between.
//
// # Conditions
//
// A rule's `when` is compiled once, in New, with github.com/expr-lang/expr.
// It sees the window's aggregate values by name (float64; NaN when the window
// could not compute one), the group labels by key (strings) and a function
// threshold("name", default) that returns the run-time threshold called name
// when one is set, else default. The condition must be boolean.
//
// When Options.Pipelines is given, `when` is type-checked against the rule's
// pipeline: aggregates are numbers, group_by keys are strings, and any other
// name is a compile error that names it. Without it the aggregate names are
// only known when a window arrives, so unknown names are allowed at compile
// time; a window that lacks a name the condition uses makes the condition
// false (and the engine logs it once per rule).
//
// A NaN value makes every comparison false, `!=` included (expr would say
// NaN != x is true; the engine rewrites != so it does not). A window that could
// not compute a value therefore never fires a rule like `error_rate > 0.05`.
// Negating a comparison, `not (x > 1)`, is still true for NaN: write `x <= 1`.
//
// # Alert identity and state
//
// An alert instance is a rule plus one group: its Fingerprint is a hash of the
// rule name and the group labels. Its labels are the group labels, then the
// rule's labels, then alertname (the rule name) and severity. Its Value is the
// value of the first aggregate named in `when` (in source order), and its
// Summary is the rule's summary rendered with text/template over the labels
// and the values by name.
//
// Per fingerprint the engine runs inactive → pending → firing → resolved:
// a true condition counts Consecutive up and makes the instance pending with
// Since = the window's end; it fires once Consecutive ≥ max(1, for) (count
// form) or the window's end is `for` past Since (duration form); `for: 0`
// fires at once. Firing hands the alert to Options.Notify and stamps LastSent
// with the clock. While it stays true it is handed on again only once
// `repeat` has passed since LastSent (repeat 0 means never again); the first
// window held back after each send is recorded as "suppressed: repeat" and
// later ones are not, so the history gets at most one such row per send. A
// false condition drops a pending instance (recorded as "inactive") and
// resolves a firing one: it is handed on once with State resolved and
// ResolvedAt = the window's end, then forgotten.
//
// # Flapping, muting and grouping
//
// keep_firing_for and resolve_after hold a firing alert's resolve: a false
// condition resolves it only once it has been false for keep_firing_for
// (event time since LastActive, the last true observation) and for
// resolve_after consecutive observations (Clean). Meanwhile the alert stays
// firing and "suppressed: flapping, resolve held (...)" is recorded, once per
// send; a true condition in between continues the same firing alert, so a
// flapping input sends at most one firing/resolved pair per keep_firing_for.
// LastActive and Clean are persisted at the start of each clean streak.
//
// Options.Mute may hold back a firing notification (silences, inhibition,
// acknowledgements): the alert still fires, LastSent stays as it was, and
// "suppressed: <reason>" is recorded once per reason per send. An alert that
// fired muted and was never sent is checked again on every later observation
// and sent as soon as nothing mutes it; `repeat` counts from that send. A
// resolved message is sent exactly for the alerts whose firing message was
// sent; one that resolves unsent records DecisionResolvedUnsent instead.
// Each alert carries its rule's group_by/group_wait/group_interval (Group)
// for the dispatcher, which batches the messages.
//
// Event time (the window's end) drives Since and `for`, so a replayed backlog
// behaves as it did live; the Clock drives LastSent and `repeat`, because
// repeat is about how often people are notified.
//
// Every change is written to Options.Store before Options.Notify is called, so
// a crash never forgets that an alert was handed on. Pending instances are
// written on every window so that `for: 3` resumes after a restart; a firing
// instance is written when it fires and each time it is re-sent, not on every
// window in between (its stored Consecutive may lag; nothing reads it).
// When a write fails the engine logs it and notifies anyway: after a crash a
// duplicate notification is better than a lost one.
//
// # Missing data
//
// Windows exist only for groups with events, so a group that stops sending
// gets no window that could move its alert on. A pipeline rule's no_data says
// what that silence means; the engine records, by the Clock (event time does
// not advance when nothing arrives), when each group of a reset or alert rule
// last had a window, and Tick acts on the groups silent for no_data_after
// (default: two windows, or two `every` steps of a sliding window, plus the
// lateness; 5m for {count} windows):
//
//   - keep: nothing; the alert stays as it is until a window says otherwise.
//   - reset (the default, as Prometheus resolves series that disappear): a
//     pending alert is dropped (recorded inactive, "reset: no data for 25s"),
//     so its consecutive count starts over; a firing one resolves, recorded
//     as "resolved: no data for 25s" and then sent like any resolve. The
//     group is then forgotten until its next window.
//   - alert: a separate alert fires for the group, rule and alertname
//     "<Rule>NoData", labels the group, the rule's labels, severity and
//     no_data="true", Value the seconds since the last window, with the
//     rule's notify and repeat; the rule's own alert is kept as it is. The
//     group's next window resolves it. A group silent for no_data_forget
//     (default 24h) is forgotten and both its alerts resolve, so a group
//     that is gone for good does not alert forever.
//
// The record is in memory and bounded by the live groups: reset forgets a
// group as soon as it acted on it (or found nothing to act on). After a
// restart (or a reload) the groups of the restored alerts are seeded with the
// restart time, so a firing group that went silent during the downtime is
// reset, or reported NoData, no_data_after after the restart; a group that had
// no alert state is known again only from its next window.
//
// # SQL rules
//
// Rules with `sql` run their statement over the store every `every`
// (RunSQL schedules them, each on its own goroutine; EvaluateSQL runs one
// once) through Options.Query, the store's read-only query path, with the
// rule's `timeout`. Each row returned is an alert instance whose condition
// holds: string columns (and the keys of JSON object columns) are its group
// labels, numeric columns its values, the column named value (else the first
// numeric one) its Value. An instance of the rule with no row this time has a
// false condition. Both go through the same state machine as window rules
// (step), with the evaluation's time, by the Clock, in place of the window's
// end: `for: 3` is three consecutive evaluations. A failing query is logged,
// recorded as a StateError transition, and changes no instance.
package rule
