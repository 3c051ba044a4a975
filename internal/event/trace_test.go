package event

import (
	"encoding/json"
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want string // Traceparent of the result
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ", true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false, ""},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false, ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01", false, ""},
		{"", false, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTraceparent(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if got.Traceparent() != tc.want {
				t.Errorf("Traceparent() = %q, want %q", got.Traceparent(), tc.want)
			}
		})
	}
}

func TestTraceContextSurvivesJSON(t *testing.T) {
	tc, _ := ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	b, err := json.Marshal(Alert{Rule: "r", Trace: tc})
	if err != nil {
		t.Fatal(err)
	}
	var back Alert
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Trace != tc {
		t.Errorf("after JSON the trace is %v, want %v (%s)", back.Trace, tc, b)
	}
	b, _ = json.Marshal(Alert{Rule: "r"})
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"trace", "window_end", "window_closed", "decided"} {
		if _, ok := m[k]; ok {
			t.Errorf("an alert without %s still writes it: %s", k, b)
		}
	}
}

func TestEventTrace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]any
		ok     bool
		trace  string // hex trace id
	}{
		{"traceparent", map[string]any{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, true, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"trace_id", map[string]any{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}, true, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"bad traceparent falls back to trace_id", map[string]any{"traceparent": "junk", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}, true, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"short trace_id", map[string]any{"trace_id": "4bf92f35"}, false, ""},
		{"number", map[string]any{"trace_id": 12.0}, false, ""},
		{"none", map[string]any{"x": 1.0}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := (&Event{Fields: tc.fields}).Trace()
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok {
				if h := hexID(got.TraceID); h != tc.trace {
					t.Errorf("trace id %s, want %s", h, tc.trace)
				}
			}
		})
	}
}

func hexID(b [16]byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 32)
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}
