// Package store is lookout's DuckDB store: the place where raw events, closed
// window results, alert transitions and rejected inputs end up, and the
// database that SQL rules and /api/v1/query read.
//
// In the data flow it sits beside the windows: the bus hands it events and
// rejected inputs, pipelines hand it each closed window, the rule engine hands
// it each alert transition. All of those writes go through one writer
// goroutine that owns the write connection, a DuckDB appender per table and
// the open event segment,
// and commits by size or time (ARCHITECTURE.md, "One writer for DuckDB"). Its
// queue is bounded: a full queue blocks the caller, so back-pressure reaches
// the sources instead of rows being dropped.
//
// Raw events are the bulk of what is written, so they are not DuckDB rows
// (package segment): a row cost DuckDB more CPU than lookout's whole budget
// per event. WriteEvents only queues the event pointers; the writer
// goroutine appends each to the segment log under Dir/events, which encodes
// it as one NDJSON line (a hand-written encoder, fuzzed against
// encoding/json) into a reused buffer, writes it to the open segment file,
// syncs at each commit and compresses closed segments with zstd in the
// background. The events view (view.go) is made from the log's Files and
// reads the segments with DuckDB's CSV reader and from_json, so SQL sees one
// events table whichever file holds a row: the segments plus the rows of
// events_rows (events stored by older versions, and the rare event too long
// for a segment line).
// Encoding happens on the writer rather than the caller, which is the ingest
// goroutine that also runs the windows. The fields are always encoded from
// the parsed, flattened Fields, never copied from Raw: Raw is nested where
// the contract's fields are flattened, and a marker on the shared Event
// saying "Fields still equal Raw" would silently go stale the moment a
// source added a field after decoding (several do).
//
// A window re-emitted with Update (late: update) replaces its stored row:
// the writer commits what it holds, then deletes the old row and inserts the
// new one in one transaction.
//
// Reads (Windows, History, Query) use other connections. Query runs
// user-supplied SQL, so it is checked by DuckDB's own parser and planner
// (one statement, of a read-only type), run inside a read-only transaction,
// and the database has external access disabled (but for reading the
// segment directory) and its configuration locked, so even a case the
// checks miss cannot read other files or reach the network.
//
// For SQL rules the store ships helpers (macros.go: compare, topk_change,
// baseline, absent, window_values, wval), created at Open, and per-pipeline
// typed views (CreatePipelineViews); Checker validates a statement against
// that schema without a data directory, for `lookout check`. Prune deletes
// expired rows in bounded chunks, each a short turn of the writer (for
// events: one segment a turn, deleted whole or rewritten without its expired
// lines), and with
// Options.ArchiveDir writes each chunk to Parquet from Go first (archive.go),
// so the database never needs external access. docs/sql.md is the user's
// guide to all of it.
package store
