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
