package event

import (
	"encoding/json"
	"errors"
	"time"
)

// The plain data the API reads and answers with. It lives here, not in the
// producers (sources, push, store), so that the API can handle it without
// linking them.

// ErrFull is returned when lookout's queues are full: nothing of the batch
// was kept and the client should retry later (the push API answers 429 with
// Retry-After).
var ErrFull = errors.New("pipeline full")

// ErrNotStored wraps the store's error when a push body waiting for the
// store (wait=stored) was accepted but could not be stored.
var ErrNotStored = errors.New("accepted but not stored")

// PushResult is what the API answers for one push body (CONTRACT.md
// POST /api/v1/events).
type PushResult struct {
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Errors   []LineError `json:"errors"`
}

// LineError is why one message of a body was rejected. Line is the 1-based
// line of an NDJSON body, or the 1-based element index of a JSON array.
type LineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// RawMessage is one message as a source received it.
type RawMessage struct {
	Time time.Time `json:"ts"`
	Data []byte    `json:"-"`
	// Source names the source when a list mixes several (the events
	// behind an alert); empty in a source's own ring.
	Source string `json:"-"`
}

// MarshalJSON writes {"ts":..., "raw":"<the text>", "json":<the parsed value>},
// with "json" only when the message is valid JSON, so the raw view shows
// both what arrived and how it reads.
func (m RawMessage) MarshalJSON() ([]byte, error) {
	out := struct {
		Time   time.Time       `json:"ts"`
		Source string          `json:"source,omitempty"`
		Raw    string          `json:"raw"`
		JSON   json.RawMessage `json:"json,omitempty"`
	}{Time: m.Time, Source: m.Source, Raw: string(m.Data)}
	if json.Valid(m.Data) {
		out.JSON = m.Data
	}
	return json.Marshal(out)
}

// WindowQuery selects stored window results.
type WindowQuery struct {
	// Pipeline selects one pipeline; empty selects all.
	Pipeline string
	// Group keeps windows whose group has each of these key = value pairs.
	Group map[string]string
	// Since keeps windows that end after it (that hold some time after it);
	// zero keeps all. By end, not start: the windows of a {count: N}
	// pipeline all share one start.
	Since time.Time
	// Limit is how many windows to return: the Limit that end last, oldest
	// first.
	// Default 1000.
	Limit int
}

// HealthSnapshot is a consistent-enough copy of a source's health for the API.
type HealthSnapshot struct {
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Up          bool      `json:"up"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Events      int64     `json:"events"`
	Rejected    int64     `json:"rejected"`
	Bytes       int64     `json:"bytes"`
	// Rate is events per second over roughly the last 10 seconds.
	Rate float64 `json:"rate"`
	Lag  int64   `json:"lag"`
	// LagUnit says what Lag counts: "messages" (brokers), "bytes" (a log
	// file's unread bytes); empty for a source that reports no lag.
	LagUnit string `json:"lag_unit,omitempty"`
	// Gaps counts the times a source without redelivery (Redis Pub/Sub,
	// core NATS) was disconnected: what was published meanwhile is lost.
	Gaps int64 `json:"gaps"`
	// Targets is the health of each target of a source that scrapes many
	// (an http source with targets or service discovery), by instance.
	Targets []TargetHealth `json:"targets,omitempty"`
}

// TargetHealth is the health of one scrape target of a source.
type TargetHealth struct {
	Instance   string    `json:"instance"`
	URL        string    `json:"url"`
	Up         bool      `json:"up"`
	LastScrape time.Time `json:"last_scrape,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
}
