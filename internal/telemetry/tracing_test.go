package telemetry

import (
	"context"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/internal/event"
)

func TestNewTracingFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		enabled bool
		err     string
	}{
		{"nothing set: off", nil, false, ""},
		{"endpoint set: on", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true, ""},
		{"traces endpoint set: on", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true, ""},
		{"exporter otlp: on", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, ""},
		{"exporter none wins over an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, false, ""},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false, ""},
		{"http/protobuf is fine", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true, ""},
		{"grpc is refused", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, "only http/protobuf"},
		{"the traces protocol wins", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, true, ""},
		{"zipkin is refused", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "only otlp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewTracing(context.Background(), func(k string) string { return tc.env[k] }, "test")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			if tr.Enabled != tc.enabled {
				t.Errorf("Enabled = %v, want %v", tr.Enabled, tc.enabled)
			}
			_, span := tr.Tracer.Start(context.Background(), "x")
			if got := span.SpanContext().IsValid(); got != tc.enabled {
				t.Errorf("a started span has a valid context: %v, want %v", got, tc.enabled)
			}
			span.End()
		})
	}
}

func TestTraceContextRoundTrip(t *testing.T) {
	tc := event.TraceContext{TraceID: [16]byte{1, 2, 3}, SpanID: [8]byte{4, 5}, Flags: 1}
	sc := FromEvent(tc)
	if !sc.IsValid() || !sc.IsRemote() || !sc.IsSampled() {
		t.Fatalf("FromEvent = %+v", sc)
	}
	if got := ToEvent(sc); got != tc {
		t.Errorf("ToEvent(FromEvent(tc)) = %v, want %v", got, tc)
	}
	if FromEvent(event.TraceContext{}).IsValid() {
		t.Error("the zero TraceContext became a valid span context")
	}
}

// BenchmarkSpanOff is what a span costs when tracing is off (a context
// allocation): the reason the ingest path checks Tracing.Enabled before
// starting one rather than relying on the no-op tracer.
func BenchmarkSpanOff(b *testing.B) {
	tr := Off()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, s := tr.Tracer.Start(ctx, "x")
		s.End()
	}
}
