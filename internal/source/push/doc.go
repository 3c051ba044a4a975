// Package push is the source behind POST /api/v1/events: producers send
// NDJSON or a JSON array of events, and the API hands each body to Ingest,
// which decodes it, records it in the raw ring and passes it on in one batch.
// It has nothing to run in the background; Run only marks it up.
package push
