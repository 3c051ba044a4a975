// Package otlp is the OpenTelemetry metrics receiver: a source.Receiver that
// the app mounts at POST /v1/metrics on lookout's own listener, so services
// instrumented with an OpenTelemetry SDK or Collector can export metrics to
// lookout over OTLP/HTTP (protobuf or JSON, optionally gzip-encoded) without
// a collector in between.
//
// Each data point becomes one event: the metric name, the resource and
// point attributes as fields (service.name and friends keep their dotted
// names, which is how lookout addresses nested fields anyway), and the
// numbers. A histogram point is one event with count, sum, min, max, avg,
// interpolated p50/p90/p99 and the cumulative bucket counts as le_<bound>
// fields, rather than one event per bucket: a window then aggregates
// points, and avg(avg), max(p99) or sum(count) mean what they say.
//
// The receiver answers as the OTLP/HTTP specification asks: an
// ExportMetricsServiceResponse in the request's encoding, partial_success for
// points it could not use, 400 for a body it cannot decode (which also goes to
// the rejected table), 413 over the body limit, and 429 with Retry-After when
// lookout is full, which OTLP exporters retry with backoff.
package otlp
