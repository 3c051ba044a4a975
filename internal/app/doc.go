// Package app wires lookout together: it builds every stage from the config,
// joins them with bounded queues and callbacks, starts them in order, serves
// the API, and shuts down in the reverse order so that open writes are flushed.
//
// Data path (ARCHITECTURE.md):
//
//	sources ──Sink──► ingest.Bus ──► pipelines (window) ──emit──► store, rules, live feed
//	                        └──► store (events, rejected)
//	rules ──Notify──► dispatcher (durable outbox) ──► notifiers
//
// The delivery guarantees — bounded queue, acks only once stored and closed,
// catch-up, moved partitions, baseline checkpoints — live in internal/ingest,
// whose one goroutine owns every pipeline.
package app
