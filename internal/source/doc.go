// Package source holds what every input of lookout shares: the Source
// interface and its registry of kinds, the Sink sources hand their batches to
// (the bus, which applies backpressure), the Ring of raw messages behind
// /api/v1/raw, and the Health that /api/v1/sources and /metrics report.
//
// Each kind lives in its own package under source/ (push, host, http, ...)
// and registers a Factory in its init(); internal/app imports the kinds it
// ships and builds sources with New. Every source passes what it produces
// through its preprocess.Processor, so time_field and fields work the same for
// all of them.
package source
