package config

import (
	"fmt"
	"time"
)

// The defaults of CONTRACT.md and docs/configuration.md. A default applies
// only when its key is absent (or written with no value): an explicit zero,
// such as `lateness: 0s`, is the user's choice and is kept or rejected by
// validation, never silently replaced.
const (
	DefaultListen       = "127.0.0.1:9470"
	DefaultMaxBodyBytes = 16 << 20
	DefaultStoragePath  = "./data"
	DefaultTimeField    = "ts"
	DefaultRawBuffer    = 100
	DefaultMaxGroups    = 100000
	DefaultSeverity     = "warning"
	DefaultRedisPrefix  = "lookout:"
	// DefaultStorageMemoryLimit is DuckDB's memory cap (storage.memory_limit).
	DefaultStorageMemoryLimit = "64MB"
	// DefaultMaxFuture is how far ahead of the wall clock an event may be
	// stamped before a pipeline flags it future (pipelines[].max_future):
	// beyond ordinary clock skew, short of anything a real clock produces.
	DefaultMaxFuture = 5 * time.Minute
	// DefaultQueryMaxBytes caps the rows of a /api/v1/query answer (query.max_bytes).
	DefaultQueryMaxBytes = 16 << 20
)

// defaults fills in every absent key that has a default.
func (p *parser) defaults() {
	c := p.c
	str := func(path string, v *string, def string) {
		if !c.has(path) {
			*v = def
		}
	}
	dur := func(path string, v *Duration, def time.Duration) {
		if !c.has(path) {
			*v = Duration(def)
		}
	}
	integer := func(path string, v *int, def int) {
		if !c.has(path) {
			*v = def
		}
	}

	str("server.listen", &c.Server.Listen, DefaultListen)
	if !c.has("server.max_body_bytes") {
		c.Server.MaxBodyBytes = DefaultMaxBodyBytes
	}
	dur("server.timeouts.header", &c.Server.Timeouts.Header, 10*time.Second)
	dur("server.timeouts.read", &c.Server.Timeouts.Read, time.Minute)
	dur("server.timeouts.idle", &c.Server.Timeouts.Idle, 2*time.Minute)
	if !c.has("query.max_bytes") {
		c.Query.MaxBytes = DefaultQueryMaxBytes
	}
	str("storage.path", &c.Storage.Path, DefaultStoragePath)
	dur("storage.retention.events", &c.Storage.Retention.Events, 24*time.Hour)
	dur("storage.retention.windows", &c.Storage.Retention.Windows, 30*24*time.Hour)
	dur("storage.retention.alerts", &c.Storage.Retention.Alerts, 90*24*time.Hour)
	if c.Storage.Events == nil {
		t := true
		c.Storage.Events = &t
	}
	dur("storage.flush_interval", &c.Storage.FlushInterval, time.Second)
	str("storage.memory_limit", &c.Storage.MemoryLimit, DefaultStorageMemoryLimit)
	str("storage.compression", &c.Storage.Compression, "zstd")
	str("state.backend", &c.State.Backend, "local")
	str("state.redis.key_prefix", &c.State.Redis.KeyPrefix, DefaultRedisPrefix)

	for i := range c.Sources {
		s := &c.Sources[i]
		at := func(key string) string { return fmt.Sprintf("sources[%d].%s", i, key) }
		s.Line = c.Line(fmt.Sprintf("sources[%d]", i))
		str(at("time_field"), &s.TimeField, DefaultTimeField)
		integer(at("raw_buffer"), &s.RawBuffer, DefaultRawBuffer)
	}
	for i := range c.Pipelines {
		pl := &c.Pipelines[i]
		at := func(key string) string { return fmt.Sprintf("pipelines[%d].%s", i, key) }
		pl.Line = c.Line(fmt.Sprintf("pipelines[%d]", i))
		dur(at("lateness"), &pl.Lateness, time.Second)
		if !pl.Window.IsCount() {
			dur(at("max_future"), &pl.MaxFuture, DefaultMaxFuture)
		}
		integer(at("max_groups"), &pl.MaxGroups, DefaultMaxGroups)
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		at := func(key string) string { return fmt.Sprintf("rules[%d].%s", i, key) }
		r.Line = c.Line(fmt.Sprintf("rules[%d]", i))
		str(at("severity"), &r.Severity, DefaultSeverity)
		dur(at("repeat"), &r.Repeat, 4*time.Hour)
	}
	dur("self.interval", &c.Self.Interval, 10*time.Second)
	dur("self.deadman.interval", &c.Self.Deadman.Interval, time.Minute)
	for i := range c.Notifiers {
		n := &c.Notifiers[i]
		n.Line = c.Line(fmt.Sprintf("notifiers[%d]", i))
		dur(fmt.Sprintf("notifiers[%d].timeout", i), &n.Timeout, 10*time.Second)
	}
	dur("notify_max_age", &c.NotifyMaxAge, 24*time.Hour)
	for i := range c.Notifiers {
		dur(fmt.Sprintf("notifiers[%d].max_age", i), &c.Notifiers[i].MaxAge, c.NotifyMaxAge.D())
	}
	for i := range c.Inhibit {
		c.Inhibit[i].Line = c.Line(fmt.Sprintf("inhibit[%d]", i))
	}
}
