// Package app wires lookout together: it builds every stage from the config,
// joins them with bounded queues and callbacks, starts them in order, serves
// the API, and shuts down in the reverse order so that open writes are flushed.
//
// Data path (ARCHITECTURE.md):
//
//	sources ──Sink──► ingest queue ──► ingest goroutine ──► pipelines (window) ──emit──► store, rules, live feed
//	                                                    └──► store (events, rejected)
//	rules ──Notify──► dispatcher (durable outbox) ──► notifiers
//
// One ingest goroutine owns every pipeline, so the window engine needs no locks;
// a full ingest queue makes the push API answer 429 and broker sources block.
package app
