// Package window is lookout's window engine: it turns the events of a
// pipeline's sources into window results for the rules.
//
// In the data flow it sits between preprocess and rule: the app hands each
// Pipeline batches of preprocessed events (Add) and ticks it with the wall
// clock (Advance); the Pipeline filters them (where), groups them (group_by),
// folds each event into the aggregates of its window (package agg) and, when a
// window closes, calls the app's EmitFunc with an event.Window, which the app
// passes on to the rules and the store.
//
// Time follows ARCHITECTURE.md: an event lands in the tumbling window of its
// own timestamp; a window [s, e) closes when either the wall clock or the
// highest event time seen reaches e + lateness, so a replayed backlog closes
// windows at replay speed. An event for a window that has already closed is
// flagged event.FlagLate and counted, never folded in after the fact: emitted
// results do not change. An event stamped more than max_future ahead of the
// wall clock is flagged event.FlagFuture and counted, but folded into no
// window and left out of the highest event time: otherwise one bad clock
// would close every open window at once and make every later event late.
// {count: N} windows instead keep the last N samples of each group and emit
// on every event.
//
// A pipeline is compiled once (Compile) into a Plan, which never changes
// and judges the pipeline's shape by the same rules as config validation
// (config.Pipeline.ShapeErrors); Plan.NewPipeline starts a Pipeline of it.
// The Pipeline embeds its Plan and its parts (the group table, the slot
// store of aggregate state, the per-batch scratch, the late state) by value,
// so the per-event path reads them without a pointer hop.
//
// Expressions (where, aggregate arguments, expressions over aggregates) are
// compiled once with expr-lang. Dotted field names such as http.status are
// rewritten into single lookups of the flattened key. Bare field names and
// simple comparisons of a field with a constant skip the expression VM
// entirely, because they are the common case and the per-event budget is a
// few hundred nanoseconds.
package window
