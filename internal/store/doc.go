// Package store is lookout's DuckDB store: the place where raw events, closed
// window results, alert transitions and rejected inputs end up, and the
// database that SQL rules and /api/v1/query read.
//
// In the data flow it sits beside the windows: the bus hands it events and
// rejected inputs, pipelines hand it each closed window, the rule engine hands
// it each alert transition. All of those writes go through one writer
// goroutine that owns the write connection and a DuckDB appender per table,
// and commits by size or time (ARCHITECTURE.md, "One writer for DuckDB"). Its
// queue is bounded: a full queue blocks the caller, so back-pressure reaches
// the sources instead of rows being dropped.
//
// Raw events are the bulk of what is written, so their path is built for
// speed (issue 10): WriteEvents only queues the event pointers; the writer
// goroutine encodes each event's fields with a hand-written encoder
// (encode.go, fuzzed against encoding/json) into a reused buffer and appends
// it as text to a query appender whose INSERT casts it to JSON inside
// DuckDB, because appending to the JSON column directly makes the driver run
// encoding/json over every value a second time. Encoding on the writer
// rather than the caller keeps the ingest goroutine, which also runs the
// windows, free. The fields are always encoded from the parsed, flattened
// Fields, never copied from Raw: Raw is nested where the contract's fields
// are flattened, and a marker on the shared Event saying "Fields still equal
// Raw" would silently go stale the moment a source added a field after
// decoding (several do), so the few hundred nanoseconds of encoding are kept.
//
// A window re-emitted with Update (late: update) replaces its stored row:
// the writer commits what it holds, then deletes the old row and inserts the
// new one in one transaction.
//
// Reads (Windows, History, Query) use other connections. Query runs
// user-supplied SQL, so it is checked by DuckDB's own parser and planner
// (one statement, of a read-only type), run inside a read-only transaction,
// and the database has external access disabled and its configuration locked,
// so even a case the checks miss cannot read files or reach the network.
//
// For SQL rules the store ships helpers (macros.go: compare, topk_change,
// baseline, absent, window_values, wval), created at Open, and per-pipeline
// typed views (CreatePipelineViews); Checker validates a statement against
// that schema without a data directory, for `lookout check`. Prune deletes
// expired rows in bounded chunks, each a short turn of the writer, and with
// Options.ArchiveDir writes each chunk to Parquet from Go first (archive.go),
// so the database never needs external access. docs/sql.md is the user's
// guide to all of it.
package store
