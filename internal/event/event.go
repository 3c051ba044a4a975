// Package event is lookout's data model: the events that sources produce, the
// inputs that could not be parsed, the window results that pipelines emit and the
// alert transitions that rules decide. It is plain data with no behaviour beyond
// small helpers, so every stage can import it without importing another stage.
package event

import (
	"strings"
	"time"
)

// Flag marks something preprocessing noticed about an event. Flagged events are
// kept, never dropped: the flag travels with the event into the store.
type Flag uint16

// The flags of CONTRACT.md.
const (
	FlagNoTimestamp  Flag = 1 << iota // no time field: the arrival time was used
	FlagOutOfRange                    // a field was outside its min/max
	FlagBadType                       // a field did not have its declared type
	FlagMissingField                  // a required field was absent
	FlagLate                          // the event arrived after its window closed
	FlagFuture                        // stamped further ahead of the wall clock than max_future
)

var flagNames = []struct {
	f    Flag
	name string
}{
	{FlagNoTimestamp, "no_timestamp"},
	{FlagOutOfRange, "out_of_range"},
	{FlagBadType, "bad_type"},
	{FlagMissingField, "missing_field"},
	{FlagLate, "late"},
	{FlagFuture, "future"},
}

// Strings returns the flag names in a fixed order, or nil when no flag is set.
func (f Flag) Strings() []string {
	if f == 0 {
		return nil
	}
	var out []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// String joins the flag names with commas.
func (f Flag) String() string { return strings.Join(f.Strings(), ",") }

// Event is one observation. Fields hold the parsed values, flattened: a nested
// object {"http":{"status":500}} is the key "http.status". Values are float64,
// string, bool or nil (JSON null); arrays are kept as []any.
//
// Raw is the message exactly as received and is shared, not copied: nobody may
// modify it after the event was built.
type Event struct {
	Time   time.Time
	Source string
	Raw    []byte
	Fields map[string]any
	Flags  Flag
	// Origin names the part of its source the event came from, for
	// sources whose parts can move to another lookout (a Kafka partition,
	// numbered by the source); 0 when the source has no such parts. The
	// window engine uses it to forget open windows fed by a part that
	// moved away (see window.Pipeline.Forget).
	Origin int32
}

// Number returns the field as a float64 and whether it is one. Booleans count
// as 0 and 1 so that count-like aggregates work over them.
func (e *Event) Number(key string) (float64, bool) {
	switch v := e.Fields[key].(type) {
	case float64:
		return v, true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// Batch is a group of events from one source, handed from stage to stage. The
// receiver of a Batch owns it; the sender must not touch it after sending.
type Batch struct {
	Source string
	Events []*Event
	// Ack, when set, is called exactly once when lookout is done with the
	// batch: err nil means its events are durably stored and the windows they
	// fell into are closed and stored, so a broker source may commit the
	// offsets / acknowledge the messages; a non-nil err means they were not
	// (the source should let the broker redeliver). It is called from
	// lookout's goroutines: it must be quick and safe for concurrent use.
	Ack func(err error)
	// Stored, when set, is called exactly once when the store has committed
	// the batch's events and rejected inputs (err nil) or failed to (err
	// set): the push API's wait=stored answers then, so that a 200 means
	// the events survive a crash (a restart refills open windows from the
	// store). Like Ack it must be quick and safe for concurrent use.
	Stored func(err error)
	// Trace is the span that produced the batch (a pull, a request), so the
	// ingest span can continue its trace; zero when there is none.
	Trace TraceContext
}

// Rejected is an input that could not be turned into an event at all. It is
// stored with its raw bytes and the reason, so nothing is lost silently.
type Rejected struct {
	Time   time.Time
	Source string
	Raw    []byte
	Reason string
}
