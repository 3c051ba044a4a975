package remotewrite_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/lookout-dev/lookout/internal/event"
)

// discard takes every submission and keeps nothing, so the benchmark
// measures the receiver alone.
type discard struct{}

func (discard) Submit(context.Context, event.Batch, []event.Rejected) error { return nil }
func (discard) TrySubmit(event.Batch, []event.Rejected) error               { return nil }

// BenchmarkWriteV1 decodes and submits remote write 1.0 requests as
// Prometheus sends them by default: 2,000 series (max_samples_per_send) of
// one sample each, with the labels of a node exporter's series.
func BenchmarkWriteV1(b *testing.B) {
	const n = 2000
	req := &prompb.WriteRequest{}
	for i := range n {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels: []prompb.Label{
				{Name: "__name__", Value: "node_cpu_seconds_total"},
				{Name: "cpu", Value: fmt.Sprint(i % 64)},
				{Name: "instance", Value: fmt.Sprintf("node-%d:9100", i/64)},
				{Name: "job", Value: "node"},
				{Name: "mode", Value: "idle"},
			},
			Samples: []prompb.Sample{{Value: float64(i) * 1.5, Timestamp: t0 + int64(i)}},
		})
	}
	raw, err := req.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	body := snappy.Encode(nil, raw)
	h := newSource(b, nil).Handler(discard{})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-protobuf")
		r.Header.Set("Content-Encoding", "snappy")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "samples/s")
}
