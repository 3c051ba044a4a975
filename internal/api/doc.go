// Package api serves lookout's HTTP API (CONTRACT.md "HTTP API"): ingest,
// window results, alerts, raw messages, source health, read-only SQL, the live
// feed over Server-Sent Events, /metrics, health probes and the dashboard.
//
// The package declares the small interfaces it consumes (the parts of
// Backend) and the plain data of internal/event they carry, and knows
// nothing of how the stages behind them are wired; internal/app implements them.
package api
