// Package ingest is lookout's delivery layer: what happens to a batch
// between the source that read it and the windows and rows it ends up in,
// and when the broker may forget it.
//
// Data path (ARCHITECTURE.md):
//
//	sources ──Submit──► Bus queue ──► Bus.Run ──► pipelines (window) ──Bus.Emit──► app: store, rules, live feed
//	   ▲                (gate: 429)       └──────► Store (events, rejected)
//	   └──────── Ack once the windows closed and the store committed
//
// A Bus implements source.Sink. Its one goroutine, Run, owns every pipeline,
// so the window engine needs no locks; batches, ticks, rebalances (Revoked)
// and reloads (Swap) are applied on it in order. The bus keeps these
// guarantees:
//
//   - Bounded: the queue holds at most a second or so of events (the gate);
//     a full one makes TrySubmit (the push API) answer 429 and Submit (the
//     brokers) wait, and an event's room is given back only once the store
//     has committed it.
//   - Acked only when stored and closed: a batch's Ack runs after every
//     window its events fell into has closed in every pipeline it fed and
//     the store has committed both, in order per source. Until then a crash
//     makes the broker redeliver: at-least-once input, exactly-once windows.
//   - Catch-up: after a start, a pipeline closes windows by event time only
//     while it replays a backlog, so replayed events are not counted late;
//     a current event, its sources' drained backlog or a quiet idle_timeout
//     give the wall clock back.
//   - Moved partitions: when parts of a source move to another lookout, their
//     queued batches, pending acks and open windows are dropped here before
//     the rebalance completes, so the new owner is the only one to emit them.
//   - Baselines: the pipelines' baseline histories are checkpointed under the
//     data directory and restored at start, so anomaly rules are not cold
//     after a restart.
//
// internal/app builds the pipelines with Bus.Emit, wires the store and the
// rules in, runs Run and calls Swap on a config reload.
package ingest
