package push

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

var now = time.Date(2024, 11, 26, 6, 0, 0, 0, time.UTC)

func newSource(t *testing.T, cfg config.Source) *Source {
	t.Helper()
	cfg.Name, cfg.Type = "push", "push"
	s, err := source.New(cfg, source.Deps{Clock: clock.NewFake(now)})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Source)
}

func TestIngest(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		want       Result
		wantEvents []map[string]any
		wantRaw    []string
	}{
		{
			name: "ndjson",
			body: "{\"ts\":1732600000123,\"service\":\"api\",\"status\":200}\n{\"service\":\"web\",\"http\":{\"status\":500}}\n",
			want: Result{Accepted: 2, Errors: []LineError{}},
			wantEvents: []map[string]any{
				{"ts": 1732600000123.0, "service": "api", "status": 200.0},
				{"service": "web", "http.status": 500.0},
			},
			wantRaw: []string{`{"ts":1732600000123,"service":"api","status":200}`, `{"service":"web","http":{"status":500}}`},
		},
		{
			name:       "crlf blank lines and a bad line",
			body:       "{\"a\":1}\r\n\r\nnot json\r\n[1]\r\n{\"b\":2}",
			want:       Result{Accepted: 2, Rejected: 2, Errors: []LineError{{Line: 3, Error: "invalid JSON at offset 1: unexpected character 'o'"}, {Line: 4, Error: "not a JSON object"}}},
			wantEvents: []map[string]any{{"a": 1.0}, {"b": 2.0}},
			wantRaw:    []string{`{"a":1}`, `not json`, `[1]`, `{"b":2}`},
		},
		{
			name:       "array",
			body:       ` [{"a":1}, 5, {"b":{"c":"x"}}] `,
			want:       Result{Accepted: 2, Rejected: 1, Errors: []LineError{{Line: 2, Error: "not a JSON object"}}},
			wantEvents: []map[string]any{{"a": 1.0}, {"b.c": "x"}},
			wantRaw:    []string{`{"a":1}`, `5`, `{"b":{"c":"x"}}`},
		},
		{
			name:    "broken array is one error for line 1",
			body:    `[{"a":1}, {"b":2}`,
			want:    Result{Rejected: 1, Errors: []LineError{{Line: 1, Error: "neither NDJSON nor a JSON array: invalid JSON at offset 17: unexpected end of input"}}},
			wantRaw: []string{`[{"a":1}, {"b":2}`},
		},
		{
			name: "empty body",
			body: "\n \n",
			want: Result{Errors: []LineError{{Line: 1, Error: "empty body"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, config.Source{})
			sink := &sourcetest.Sink{}
			res, err := s.Ingest([]byte(tt.body), sink)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res, tt.want) {
				t.Errorf("Result\n got %+v\nwant %+v", res, tt.want)
			}
			var got []map[string]any
			for _, e := range sink.Events() {
				if e.Source != "push" {
					t.Errorf("event source = %q", e.Source)
				}
				got = append(got, e.Fields)
			}
			if !reflect.DeepEqual(got, tt.wantEvents) {
				t.Errorf("events\n got %v\nwant %v", got, tt.wantEvents)
			}
			if n := len(sink.Batches()); n > 1 {
				t.Errorf("%d submissions, want everything in one", n)
			}
			rej := sink.Rejected()
			if len(rej) != tt.want.Rejected {
				t.Fatalf("%d rejected submitted, want %d", len(rej), tt.want.Rejected)
			}
			for i, r := range rej {
				if r.Source != "push" || r.Reason != tt.want.Errors[i].Error || !r.Time.Equal(now) || len(r.Raw) == 0 {
					t.Errorf("rejected[%d] = %+v", i, r)
				}
			}
			var raw []string
			for _, m := range s.Raw().Last(100) {
				raw = append(raw, string(m.Data))
			}
			if !reflect.DeepEqual(raw, tt.wantRaw) {
				t.Errorf("raw ring = %q, want %q", raw, tt.wantRaw)
			}
			h := s.Health().Snapshot()
			if h.Events != int64(tt.want.Accepted) || h.Rejected != int64(tt.want.Rejected) {
				t.Errorf("health = %+v", h)
			}
		})
	}
}

func TestIngestPreprocesses(t *testing.T) {
	s := newSource(t, config.Source{Fields: map[string]config.Field{
		"latency_ms": {Type: "number", Unit: "ms", To: "s", As: "latency"},
		"status":     {Type: "number", Required: true},
	}})
	sink := &sourcetest.Sink{}
	if _, err := s.Ingest([]byte(`{"latency_ms":"250","ts":"2024-11-26T05:00:00Z"}`), sink); err != nil {
		t.Fatal(err)
	}
	e := sink.Events()[0]
	if e.Fields["latency"] != 0.25 || e.Flags != event.FlagMissingField || !e.Time.Equal(now.Add(-time.Hour)) {
		t.Errorf("event = %+v", e)
	}
	if _, err := s.Ingest([]byte(`{"status":200}`), sink); err != nil {
		t.Fatal(err)
	}
	if e := sink.Events()[1]; e.Flags != event.FlagNoTimestamp || !e.Time.Equal(now) {
		t.Errorf("event without ts = %+v, want arrival time and no_timestamp", e)
	}
}

func TestIngestFull(t *testing.T) {
	s := newSource(t, config.Source{})
	sink := &sourcetest.Sink{}
	sink.SetFull(true)
	res, err := s.Ingest([]byte("{\"a\":1}\nbad\n"), sink)
	if !errors.Is(err, source.ErrFull) {
		t.Fatalf("Ingest into a full sink = %+v, %v; want ErrFull", res, err)
	}
	if len(sink.Events()) != 0 || len(sink.Rejected()) != 0 || len(s.Raw().Last(10)) != 0 {
		t.Error("something of a refused body was kept")
	}
	if h := s.Health().Snapshot(); h.Events != 0 || h.Rejected != 0 {
		t.Errorf("health counted a refused body: %+v", h)
	}
}

func TestRun(t *testing.T) {
	s := newSource(t, config.Source{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, sourcetest.NewSink(1)) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	if strings.Contains(s.Name(), " ") || s.Name() != "push" {
		t.Errorf("Name = %q", s.Name())
	}
}

func BenchmarkIngest(b *testing.B) {
	s, err := New(config.Source{Name: "push", Type: "push"}, source.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	line := `{"ts":1732600000123,"service":"api","status":200,"latency_ms":12.5,"path":"/v1/orders"}` + "\n"
	body := []byte(strings.Repeat(line, 1000))
	sink := &sourcetest.Sink{}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := s.Ingest(body, sink); err != nil {
			b.Fatal(err)
		}
		sink = &sourcetest.Sink{}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkIngestManyServices is BenchmarkIngest with the bodies of the
// push-10k-groups load scenario: 1,000 lines per body over 10,000 services
// and the scenario's unit conversion.
func BenchmarkIngestManyServices(b *testing.B) {
	for _, keep := range []bool{false, true} {
		b.Run(fmt.Sprintf("keep=%v", keep), func(b *testing.B) { benchIngestManyServices(b, keep) })
	}
}

// benchIngestManyServices is BenchmarkIngestManyServices; with keep the
// events keep only the fields the scenario's pipeline reads, as when
// lookout stores no raw events.
func benchIngestManyServices(b *testing.B, keep bool) {
	s, err := New(config.Source{Name: "push", Type: "push", Fields: map[string]config.Field{
		"latency_ms": {Type: "number", Unit: "ms", To: "s", As: "latency"},
	}}, source.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	if keep {
		s.Deps.Pre.Keep([]string{"latency", "service", "status"})
	}
	bodies := make([][]byte, 10)
	for i := range bodies {
		var sb strings.Builder
		for j := range 1000 {
			n := i*1000 + j
			fmt.Fprintf(&sb, "{\"ts\":%d,\"service\":\"svc-%05d\",\"status\":%d,\"latency_ms\":%.2f}\n",
				1_750_000_000_000+int64(n), n, 200+300*(n%50/49), 3.7+float64(n%977)/7)
		}
		bodies[i] = []byte(sb.String())
	}
	b.SetBytes(int64(len(bodies[0])))
	i := 0
	for b.Loop() {
		if _, err := s.Ingest(bodies[i%len(bodies)], &sourcetest.Sink{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
}
