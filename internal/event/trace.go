package event

import (
	"encoding/hex"
	"errors"
	"strings"
)

// TraceContext is a W3C trace context (https://www.w3.org/TR/trace-context/)
// as plain data: which trace a batch or an alert belongs to and which span
// it continues. It lets a trace follow one event's path across the queues
// and the durable outbox without the event package depending on a tracing
// library. The zero value means "no trace".
type TraceContext struct {
	TraceID [16]byte
	SpanID  [8]byte
	// Flags are the W3C trace flags; bit 0 is "sampled".
	Flags byte
}

// IsValid reports whether tc names a trace and a span (neither all zero).
func (tc TraceContext) IsValid() bool {
	return tc.TraceID != [16]byte{} && tc.SpanID != [8]byte{}
}

// IsZero reports whether tc is the zero value, for `omitzero`.
func (tc TraceContext) IsZero() bool { return tc == TraceContext{} }

// Traceparent returns the W3C traceparent header value, or "" when tc is not
// valid.
func (tc TraceContext) Traceparent() string {
	if !tc.IsValid() {
		return ""
	}
	var b strings.Builder
	b.Grow(55)
	b.WriteString("00-")
	b.WriteString(hex.EncodeToString(tc.TraceID[:]))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(tc.SpanID[:]))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString([]byte{tc.Flags}))
	return b.String()
}

// String is Traceparent.
func (tc TraceContext) String() string { return tc.Traceparent() }

// errTraceparent is the one way a traceparent can be wrong that callers see.
var errTraceparent = errors.New("not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)")

// ParseTraceparent reads a W3C traceparent header value. Versions other than
// 00 are accepted when the first four parts have the version-00 shape, as the
// specification asks of a version-00 parser.
func ParseTraceparent(s string) (TraceContext, error) {
	var tc TraceContext
	s = strings.TrimSpace(s)
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' || (len(s) > 55 && s[55] != '-') {
		return tc, errTraceparent
	}
	if s[:2] == "ff" || (s[:2] == "00" && len(s) != 55) {
		return tc, errTraceparent
	}
	var ver [1]byte
	if _, err := hex.Decode(ver[:], []byte(s[:2])); err != nil {
		return tc, errTraceparent
	}
	if _, err := hex.Decode(tc.TraceID[:], []byte(s[3:35])); err != nil {
		return TraceContext{}, errTraceparent
	}
	if _, err := hex.Decode(tc.SpanID[:], []byte(s[36:52])); err != nil {
		return TraceContext{}, errTraceparent
	}
	var fl [1]byte
	if _, err := hex.Decode(fl[:], []byte(s[53:55])); err != nil {
		return TraceContext{}, errTraceparent
	}
	tc.Flags = fl[0]
	if !tc.IsValid() {
		return TraceContext{}, errTraceparent
	}
	return tc, nil
}

// MarshalText writes the traceparent form, so a TraceContext survives JSON
// (the durable outbox) as one readable string.
func (tc TraceContext) MarshalText() ([]byte, error) { return []byte(tc.Traceparent()), nil }

// UnmarshalText reads the traceparent form; an empty text is the zero value.
func (tc *TraceContext) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*tc = TraceContext{}
		return nil
	}
	v, err := ParseTraceparent(string(b))
	if err != nil {
		return err
	}
	*tc = v
	return nil
}

// The event fields that carry a producer's trace: a W3C traceparent, or a
// bare 32-hex-digit trace id (the OpenTelemetry log data model's name).
const (
	FieldTraceparent = "traceparent"
	FieldTraceID     = "trace_id"
)

// Trace returns the trace the event's producer put into it: the
// `traceparent` field (W3C form) or the `trace_id` field (32 hex digits; the
// span id is then zero and ok reports true only for the trace id). It reads
// only parsed fields, so it finds them when a pipeline uses them or the
// source parses every field. Later exemplar support in windows keeps the
// trace ids of a window's extreme samples from here (docs/observability.md).
func (e *Event) Trace() (TraceContext, bool) {
	if s, ok := e.Fields[FieldTraceparent].(string); ok {
		if tc, err := ParseTraceparent(s); err == nil {
			return tc, true
		}
	}
	if s, ok := e.Fields[FieldTraceID].(string); ok && len(s) == 32 {
		var tc TraceContext
		if _, err := hex.Decode(tc.TraceID[:], []byte(s)); err == nil && tc.TraceID != [16]byte{} {
			return tc, true
		}
	}
	return TraceContext{}, false
}
