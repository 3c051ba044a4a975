package source

import (
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

func newDecoder(t *testing.T, payload string, maxBytes int) (*Decoder, Deps) {
	t.Helper()
	cfg := config.Source{Name: "bus", Type: "nats"}
	d, err := Deps{}.WithDefaults(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return NewDecoder(cfg.Name, MessageConfig{Payload: payload, MaxMessageBytes: maxBytes}, d), d
}

func TestDecoderDecode(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	broker := now.Add(-time.Minute)
	for _, tc := range []struct {
		name      string
		payload   string
		max       int
		value     string
		ts        time.Time
		wantTime  time.Time
		wantField map[string]any
		wantRaw   string // the ring's copy
		wantRej   string // the rejection's reason; "" = an event
		wantFlags event.Flag
	}{
		{name: "json with its own time", payload: "json", value: `{"id":1,"ts":"2030-01-02T03:00:00Z"}`, ts: broker,
			wantTime: time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC), wantField: map[string]any{"id": 1.0}, wantRaw: `{"id":1,"ts":"2030-01-02T03:00:00Z"}`},
		{name: "json takes the broker time", payload: "json", value: `{"id":2}`, ts: broker,
			wantTime: broker, wantField: map[string]any{"id": 2.0}, wantRaw: `{"id":2}`},
		{name: "json without any time", payload: "json", value: `{"id":3}`,
			wantTime: now, wantField: map[string]any{"id": 3.0}, wantRaw: `{"id":3}`, wantFlags: event.FlagNoTimestamp},
		{name: "text", payload: "text", value: "disk full", ts: broker,
			wantTime: broker, wantField: map[string]any{"message": "disk full"}, wantRaw: "disk full"},
		{name: "not json", payload: "json", value: "oops", wantRaw: "oops", wantRej: "invalid JSON at offset 0"},
		{name: "too large", payload: "json", max: 8, value: `{"id":1234567}`, wantRaw: `{"id":12`,
			wantRej: "message of 14 bytes is larger than max_message_bytes 8"},
		{name: "default limit", payload: "text", value: strings.Repeat("x", DefaultMaxMessageBytes+1),
			wantRaw: strings.Repeat("x", DefaultMaxMessageBytes), wantRej: "larger than max_message_bytes 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec, deps := newDecoder(t, tc.payload, tc.max)
			e, rej := dec.Decode([]byte(tc.value), tc.ts, now)
			if raw := deps.Raw.Last(1); len(raw) != 1 || string(raw[0].Data) != tc.wantRaw {
				t.Errorf("raw ring = %q, want %q", raw, tc.wantRaw)
			}
			if tc.wantRej != "" {
				if e != nil || rej == nil {
					t.Fatalf("Decode = %v, %v; want a rejection", e, rej)
				}
				if !strings.Contains(rej.Reason, tc.wantRej) {
					t.Errorf("reason = %q, want it to say %q", rej.Reason, tc.wantRej)
				}
				if rej.Source != "bus" || !rej.Time.Equal(now) || string(rej.Raw) != tc.wantRaw || rej.Reason == "" {
					t.Errorf("rejected = %+v, want source bus, time %v, raw %q and a reason", rej, now, tc.wantRaw)
				}
				return
			}
			if rej != nil {
				t.Fatalf("rejected: %s", rej.Reason)
			}
			if e.Source != "bus" || string(e.Raw) != tc.value || !e.Time.Equal(tc.wantTime) || e.Flags != tc.wantFlags {
				t.Errorf("event = source %s raw %q time %v flags %v, want bus %q %v %v", e.Source, e.Raw, e.Time, e.Flags, tc.value, tc.wantTime, tc.wantFlags)
			}
			for k, v := range tc.wantField {
				if e.Fields[k] != v {
					t.Errorf("field %s = %#v, want %#v", k, e.Fields[k], v)
				}
			}
		})
	}
}

func TestCollector(t *testing.T) {
	c := NewCollector("bus", 2)
	if !c.Add(5, &event.Event{Source: "bus"}, nil) {
		t.Error("Add of an event reported false")
	}
	if c.Add(7, nil, &event.Rejected{Source: "bus", Reason: "bad"}) {
		t.Error("Add of a rejection reported true")
	}
	if c.Batch.Source != "bus" || len(c.Batch.Events) != 1 || len(c.Rejected) != 1 || c.Bytes != 12 || c.Len() != 2 {
		t.Errorf("collector = source %s, %d events, %d rejected, %d bytes, len %d; want bus 1 1 12 2",
			c.Batch.Source, len(c.Batch.Events), len(c.Rejected), c.Bytes, c.Len())
	}
}

func TestHealthSubmitted(t *testing.T) {
	h := NewHealth("bus", "nats", nil)
	h.Submitted(3, 2, 100)
	h.Submitted(1, 0, 10)
	s := h.Snapshot()
	if !s.Up || s.Events != 4 || s.Rejected != 2 || s.Bytes != 110 || s.LastSuccess.IsZero() {
		t.Errorf("snapshot = %+v, want up, 4 events, 2 rejected, 110 bytes and a last success", s)
	}
}
