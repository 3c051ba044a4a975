// Package source holds what every input of lookout shares: the Source
// interface and its registry of kinds, the Sink sources hand their batches to
// (the bus, which applies backpressure), the Ring of raw messages behind
// /api/v1/raw, and the Health that /api/v1/sources and /metrics report.
//
// Each kind lives in its own package under source/ (push, host, http, ...)
// and registers, in its init(), a Kind: its Factory and its Config, the keys
// it adds to a source's name, type and preprocessing, which config.Parse
// decodes, defaults and validates. internal/plugin/all imports every kind;
// internal/app imports that and builds sources with New. Every source passes what it produces
// through its preprocess.Processor, so time_field and fields work the same for
// all of them.
//
// Scale-out: a source whose parts can move to another lookout (Kafka
// partitions in a consumer group) stamps each event with the number of its
// part (event.Event.Origin, from Deps.Origins) and, when parts move away,
// calls Deps.Revoked before letting the move finish. The app then drops the
// parts' events it has not yet folded into windows and forgets the open
// windows they fed (window.Pipeline.Forget): the new owner re-reads them from
// the last committed offset, so each window is emitted once, by one lookout.
package source
