package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/lookout-dev/lookout/internal/event"
)

// TracerName is the instrumentation scope of lookout's own spans.
const TracerName = "github.com/lookout-dev/lookout"

// Tracing is lookout's tracer of its own pipeline. When tracing is off it
// holds a no-op tracer: starting a span then costs a few nanoseconds and no
// allocation, so the stages call it unconditionally.
type Tracing struct {
	// Tracer starts lookout's spans.
	Tracer trace.Tracer
	// Enabled is false when spans go nowhere; callers use it to skip work
	// that only feeds spans (attributes, links).
	Enabled  bool
	shutdown func(context.Context) error
}

// Off returns tracing that records nothing.
func Off() *Tracing {
	return &Tracing{Tracer: noop.NewTracerProvider().Tracer(TracerName), shutdown: func(context.Context) error { return nil }}
}

// NewTracing configures tracing from the standard OpenTelemetry environment
// variables, read through getenv (os.Getenv in production):
//
//   - OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none: off.
//   - OTEL_TRACES_EXPORTER=otlp, or OTEL_EXPORTER_OTLP_ENDPOINT or
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set: on, exporting OTLP/HTTP
//     protobuf. The exporter reads the endpoint, headers, timeout,
//     compression and TLS variables itself.
//   - otherwise off: tracing is opt-in.
//
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the process (service
// name default "lookout"); OTEL_TRACES_SAMPLER(_ARG) pick the sampler and
// OTEL_BSP_* tune the batch processor. Only the http/protobuf protocol is
// built in: asking for grpc is an error rather than a silent no-op.
func NewTracing(ctx context.Context, getenv func(string) string, version string) (*Tracing, error) {
	if !tracingWanted(getenv) {
		return Off(), nil
	}
	if exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp != "" && exp != "otlp" {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: only otlp (or none) is built in", exp)
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(k)); p != "" {
			if p != "http/protobuf" {
				return nil, fmt.Errorf("%s=%s: only http/protobuf is built in", k, p)
			}
			break // the signal-specific one wins
		}
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("creating the OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("lookout"), semconv.ServiceVersion(version)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("describing the process for traces: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{Tracer: tp.Tracer(TracerName, trace.WithInstrumentationVersion(version)), Enabled: true, shutdown: tp.Shutdown}, nil
}

func tracingWanted(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	switch strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")) {
	case "none":
		return false
	case "":
		return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	}
	return true
}

// Shutdown exports the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("flushing traces: %w", err)
	}
	return nil
}

// Propagator is the W3C trace-context propagator, for the traceparent of
// outgoing and incoming HTTP requests.
var Propagator = propagation.TraceContext{}

// ToEvent turns a span context into the event package's plain form.
func ToEvent(sc trace.SpanContext) event.TraceContext {
	if !sc.IsValid() {
		return event.TraceContext{}
	}
	return event.TraceContext{TraceID: sc.TraceID(), SpanID: sc.SpanID(), Flags: byte(sc.TraceFlags())}
}

// FromEvent turns a stored trace context back into a remote span context, to
// parent or link a span in another stage or process.
func FromEvent(tc event.TraceContext) trace.SpanContext {
	if !tc.IsValid() {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tc.TraceID, SpanID: tc.SpanID, TraceFlags: trace.TraceFlags(tc.Flags), Remote: true,
	})
}

// ContextWith returns ctx carrying tc as the remote parent of the next span.
func ContextWith(ctx context.Context, tc event.TraceContext) context.Context {
	sc := FromEvent(tc)
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}
