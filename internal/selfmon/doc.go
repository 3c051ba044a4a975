// Package selfmon is lookout watching itself.
//
// The `self` source samples lookout's vital signs every interval — the
// process, each source, pipeline and notifier, the store writer — and emits
// one event per component ({component, name, ...numbers}) into the ordinary
// data path. Builtin returns the pipeline (lookout_self, grouped by component
// and name) and the Lookout* rules that judge those events, so lookout's own
// faults — a silent source, a failing notifier, a backed-up outbox, a store
// writer falling behind, late or overflowing data — become alerts delivered
// through the ordinary notifiers, and resolve when the fault clears.
//
// Monitor turns counters into the judgements the rules need (a source silent
// for three intervals, lag rising three samples in a row, the late-event
// ratio since the last sample), so the rules stay one comparison each.
// Deadman pings an outside URL while lookout is healthy, for the one fault
// lookout cannot report itself: being dead.
package selfmon
