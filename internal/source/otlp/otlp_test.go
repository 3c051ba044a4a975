package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelmetric "go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

var (
	now     = time.Date(2024, 11, 26, 6, 0, 0, 0, time.UTC)
	pointTS = time.Date(2024, 11, 26, 5, 59, 58, 500, time.UTC)
)

func newSource(t testing.TB, cfg config.Source) *Source {
	t.Helper()
	cfg.Name, cfg.Type, cfg.TimeField = "otel", "otlp", "ts"
	s, err := source.New(cfg, source.Deps{Clock: clock.NewFake(now)})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Source)
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func integer(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

func f64(v float64) *float64 { return &v }

// sampleRequest holds a gauge, a sum and a histogram of one service, with
// resource, scope and point attributes.
func sampleRequest() *colmetricpb.ExportMetricsServiceRequest {
	ts := uint64(pointTS.UnixNano())
	return &colmetricpb.ExportMetricsServiceRequest{ResourceMetrics: []*metricpb.ResourceMetrics{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			str("service.name", "checkout"),
			{Key: "k8s", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
				Values: []*commonpb.KeyValue{str("pod", "checkout-1")},
			}}}},
		}},
		ScopeMetrics: []*metricpb.ScopeMetrics{{
			Scope: &commonpb.InstrumentationScope{Name: "shop/checkout", Version: "1.2.0"},
			Metrics: []*metricpb.Metric{
				{Name: "queue.depth", Data: &metricpb.Metric_Gauge{Gauge: &metricpb.Gauge{DataPoints: []*metricpb.NumberDataPoint{
					{Attributes: []*commonpb.KeyValue{str("queue", "orders")}, TimeUnixNano: ts, Value: &metricpb.NumberDataPoint_AsDouble{AsDouble: 12.5}},
				}}}},
				{Name: "http.requests", Unit: "1", Data: &metricpb.Metric_Sum{Sum: &metricpb.Sum{
					IsMonotonic: true, AggregationTemporality: metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA,
					DataPoints: []*metricpb.NumberDataPoint{
						{Attributes: []*commonpb.KeyValue{str("route", "/pay"), integer("status", 503)}, TimeUnixNano: ts, Value: &metricpb.NumberDataPoint_AsInt{AsInt: 7}},
					},
				}}},
				{Name: "http.duration", Unit: "s", Data: &metricpb.Metric_Histogram{Histogram: &metricpb.Histogram{
					AggregationTemporality: metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
					DataPoints: []*metricpb.HistogramDataPoint{{
						Attributes: []*commonpb.KeyValue{str("route", "/pay")}, TimeUnixNano: ts,
						Count: 10, Sum: f64(4), Min: f64(0.05), Max: f64(1.5),
						ExplicitBounds: []float64{0.1, 0.5, 1}, BucketCounts: []uint64{2, 5, 2, 1},
					}},
				}}},
			},
		}},
	}}}
}

// sampleEvents is what sampleRequest must turn into.
func sampleEvents() []map[string]any {
	common := func(m map[string]any) map[string]any {
		m["service.name"], m["k8s.pod"], m["scope"] = "checkout", "checkout-1", "shop/checkout"
		return m
	}
	return []map[string]any{
		common(map[string]any{"metric": "queue.depth", "queue": "orders", "value": 12.5}),
		common(map[string]any{"metric": "http.requests", "unit": "1", "route": "/pay", "status": 503.0, "value": 7.0,
			"monotonic": true, "temporality": "delta"}),
		common(map[string]any{"metric": "http.duration", "unit": "s", "route": "/pay", "temporality": "cumulative",
			"count": 10.0, "sum": 4.0, "avg": 0.4, "min": 0.05, "max": 1.5,
			"le_0_1": 2.0, "le_0_5": 7.0, "le_1": 9.0, "le_inf": 10.0,
			// p50: rank 5 is the 3rd of 5 in (0.1, 0.5]; p90: rank 9 is the
			// last in (0.5, 1]; p99: rank 9.9 is 0.9 of the way through
			// (1, max 1.5].
			"p50": 0.1 + 0.4*3/5, "p90": 1.0, "p99": 1.45}),
	}
}

func encode(t testing.TB, m proto.Message, ct string, gz bool) []byte {
	t.Helper()
	var body []byte
	var err error
	if ct == ContentTypeJSON {
		body, err = protojson.Marshal(m)
	} else {
		body, err = proto.Marshal(m)
	}
	if err != nil {
		t.Fatal(err)
	}
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		zw.Close()
		body = buf.Bytes()
	}
	return body
}

func post(s *Source, sink source.Sink, ct string, gz bool, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/v1/metrics", bytes.NewReader(body))
	r.Header.Set("Content-Type", ct)
	if gz {
		r.Header.Set("Content-Encoding", "gzip")
	}
	w := httptest.NewRecorder()
	s.Handler(sink).ServeHTTP(w, r)
	return w
}

// decodeResponse reads the body of an answer in its content type.
func decodeResponse(t *testing.T, w *httptest.ResponseRecorder, ct string, m proto.Message) {
	t.Helper()
	if got := w.Header().Get("Content-Type"); got != ct {
		t.Fatalf("response Content-Type = %q, want %q", got, ct)
	}
	var err error
	if ct == ContentTypeJSON {
		err = protojson.Unmarshal(w.Body.Bytes(), m)
	} else {
		err = proto.Unmarshal(w.Body.Bytes(), m)
	}
	if err != nil {
		t.Fatalf("decoding the response %q: %v", w.Body.String(), err)
	}
}

func approxEqual(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return false
		}
		wf, wok := w.(float64)
		gf, gok := g.(float64)
		if wok && gok {
			if math.Abs(wf-gf) > 1e-9 {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(g, w) {
			return false
		}
	}
	return true
}

func TestExport(t *testing.T) {
	for _, ct := range []string{ContentTypeProtobuf, ContentTypeJSON} {
		for _, gz := range []bool{false, true} {
			name := encodingName(ct)
			if gz {
				name += " gzip"
			}
			t.Run(name, func(t *testing.T) {
				s := newSource(t, config.Source{})
				sink := &sourcetest.Sink{}
				w := post(s, sink, ct, gz, encode(t, sampleRequest(), ct, gz))
				if w.Code != http.StatusOK {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
				var resp colmetricpb.ExportMetricsServiceResponse
				decodeResponse(t, w, ct, &resp)
				if resp.PartialSuccess != nil {
					t.Errorf("partial success %v for a clean request", resp.PartialSuccess)
				}
				evs := sink.Events()
				want := sampleEvents()
				if len(evs) != len(want) {
					t.Fatalf("%d events, want %d", len(evs), len(want))
				}
				for i, e := range evs {
					if !approxEqual(e.Fields, want[i]) {
						t.Errorf("event %d\n got %v\nwant %v", i, e.Fields, want[i])
					}
					if !e.Time.Equal(pointTS) || e.Flags != 0 || e.Source != "otel" {
						t.Errorf("event %d: time %v flags %v source %q", i, e.Time, e.Flags, e.Source)
					}
					var raw map[string]any
					if err := json.Unmarshal(e.Raw, &raw); err != nil || raw["metric"] != want[i]["metric"] {
						t.Errorf("event %d raw %s", i, e.Raw)
					}
				}
				if len(sink.Rejected()) != 0 || len(sink.Batches()) != 1 {
					t.Errorf("rejected %v, %d batches", sink.Rejected(), len(sink.Batches()))
				}
				raw := s.Raw().Last(10)
				if len(raw) != 1 || !strings.Contains(string(raw[0].Data), `"service.name"`) || !json.Valid(raw[0].Data) {
					t.Errorf("raw ring = %v, want the request as JSON", raw)
				}
				if h := s.Health().Snapshot(); h.Events != 3 || h.Rejected != 0 || h.LastSuccess.IsZero() {
					t.Errorf("health %+v", h)
				}
			})
		}
	}
}

func TestPartialSuccess(t *testing.T) {
	req := &colmetricpb.ExportMetricsServiceRequest{ResourceMetrics: []*metricpb.ResourceMetrics{{
		ScopeMetrics: []*metricpb.ScopeMetrics{{Metrics: []*metricpb.Metric{
			{Name: "ok", Data: &metricpb.Metric_Gauge{Gauge: &metricpb.Gauge{DataPoints: []*metricpb.NumberDataPoint{
				{Value: &metricpb.NumberDataPoint_AsInt{AsInt: 1}},
				{}, // no value
				{Value: &metricpb.NumberDataPoint_AsDouble{AsDouble: math.NaN()}},
			}}}},
			{Name: "broken.histogram", Data: &metricpb.Metric_Histogram{Histogram: &metricpb.Histogram{DataPoints: []*metricpb.HistogramDataPoint{
				{Count: 1, ExplicitBounds: []float64{1, 2}, BucketCounts: []uint64{1}},
			}}}},
		}}},
	}}}
	for _, ct := range []string{ContentTypeProtobuf, ContentTypeJSON} {
		t.Run(encodingName(ct), func(t *testing.T) {
			s := newSource(t, config.Source{})
			sink := &sourcetest.Sink{}
			w := post(s, sink, ct, false, encode(t, req, ct, false))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var resp colmetricpb.ExportMetricsServiceResponse
			decodeResponse(t, w, ct, &resp)
			ps := resp.GetPartialSuccess()
			if ps.GetRejectedDataPoints() != 3 || !strings.Contains(ps.GetErrorMessage(), "metric ok: data point without a value (and 2 more)") {
				t.Errorf("partial success = %v", ps)
			}
			evs := sink.Events()
			if len(evs) != 1 || evs[0].Fields["value"] != 1.0 {
				t.Errorf("events %v", evs)
			}
			// A point without a time gets the arrival time, flagged.
			if len(evs) == 1 && (!evs[0].Time.Equal(now) || evs[0].Flags != event.FlagNoTimestamp) {
				t.Errorf("event time %v flags %v", evs[0].Time, evs[0].Flags)
			}
			rej := sink.Rejected()
			wantReasons := []string{"metric ok: data point without a value", "metric ok: value is NaN", "metric broken.histogram: 1 bucket counts for 2 bounds (want bounds + 1)"}
			if len(rej) != len(wantReasons) {
				t.Fatalf("rejected %v", rej)
			}
			for i, r := range rej {
				if r.Reason != wantReasons[i] || r.Source != "otel" || !json.Valid(r.Raw) {
					t.Errorf("rejected[%d] = %+v (raw %s)", i, r, r.Raw)
				}
			}
			if h := s.Health().Snapshot(); h.Events != 1 || h.Rejected != 3 {
				t.Errorf("health %+v", h)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	var gzGarbage bytes.Buffer
	zw := gzip.NewWriter(&gzGarbage)
	zw.Write([]byte("not protobuf at all \xff\xff\xff"))
	zw.Close()
	bomb := encode(t, &colmetricpb.ExportMetricsServiceRequest{ResourceMetrics: []*metricpb.ResourceMetrics{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("pad", strings.Repeat("x", 5000))}},
	}}}, ContentTypeProtobuf, true)
	tests := []struct {
		name       string
		ct         string
		gz         bool
		body       []byte
		status     int
		wantReason string // the reason stored in the rejected table; "" = none stored
		wantRaw    string // what the rejected record keeps, when not the body as sent
	}{
		{"garbage protobuf", ContentTypeProtobuf, false, []byte("\xff\xff\xff\xff"), 400, "decoding the OTLP protobuf request: ", ""},
		{"garbage json", ContentTypeJSON, false, []byte(`{"resourceMetrics": [`), 400, "decoding the OTLP JSON request: ", ""},
		{"json of the wrong shape", ContentTypeJSON, false, []byte(`{"resourceMetrics": 5}`), 400, "decoding the OTLP JSON request: ", ""},
		{"garbage inside gzip is kept gunzipped", ContentTypeProtobuf, true, gzGarbage.Bytes(), 400, "decoding the OTLP protobuf request: ", "not protobuf at all \xff\xff\xff"},
		{"not gzip at all", ContentTypeProtobuf, true, []byte("plain"), 400, "decompressing the gzip body: ", ""},
		{"over the limit", ContentTypeProtobuf, false, bytes.Repeat([]byte{0}, 4097), 413, "", ""},
		{"over the limit once gunzipped", ContentTypeProtobuf, true, bomb, 413, "", ""},
		{"unknown content type", "text/plain", false, []byte("x"), 415, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, config.Source{Settings: &Config{MaxBodyBytes: 4096}})
			sink := &sourcetest.Sink{}
			w := post(s, sink, tt.ct, tt.gz, tt.body)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if len(sink.Events()) != 0 {
				t.Errorf("events from a bad request: %v", sink.Events())
			}
			if tt.ct != "text/plain" {
				var st statuspb.Status
				decodeResponse(t, w, tt.ct, &st)
				if st.GetMessage() == "" {
					t.Error("error answer without a message")
				}
			}
			rej := sink.Rejected()
			if tt.wantReason == "" {
				if len(rej) != 0 {
					t.Errorf("rejected %v", rej)
				}
				return
			}
			wantRaw := tt.body
			if tt.wantRaw != "" {
				wantRaw = []byte(tt.wantRaw)
			}
			if len(rej) != 1 || !strings.HasPrefix(rej[0].Reason, tt.wantReason) || !bytes.Equal(rej[0].Raw, wantRaw) || rej[0].Source != "otel" {
				t.Fatalf("rejected = %+v, want one with reason %q and the body", rej, tt.wantReason)
			}
			if h := s.Health().Snapshot(); h.Rejected != 1 {
				t.Errorf("health %+v", h)
			}
		})
	}
}

func TestFull(t *testing.T) {
	for _, body := range []string{"good", "garbage"} {
		t.Run(body, func(t *testing.T) {
			s := newSource(t, config.Source{})
			sink := &sourcetest.Sink{}
			sink.SetFull(true)
			b := encode(t, sampleRequest(), ContentTypeProtobuf, false)
			if body == "garbage" {
				b = []byte("\xff\xff")
			}
			w := post(s, sink, ContentTypeProtobuf, false, b)
			if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
				t.Fatalf("status %d Retry-After %q, want 429 and 1", w.Code, w.Header().Get("Retry-After"))
			}
			if len(sink.Events()) != 0 || len(sink.Rejected()) != 0 || len(s.Raw().Last(10)) != 0 {
				t.Error("something of a refused request was kept")
			}
			if h := s.Health().Snapshot(); h.Events != 0 || h.Rejected != 0 {
				t.Errorf("health counted a refused request: %+v", h)
			}
			// Once there is room again the same request is taken.
			sink.SetFull(false)
			if w := post(s, sink, ContentTypeProtobuf, false, b); w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
				t.Errorf("retry status %d", w.Code)
			}
		})
	}
}

func TestBucketQuantile(t *testing.T) {
	bounds := []float64{1, 2, 4}
	tests := []struct {
		name   string
		q      float64
		counts []uint64
		lo, hi *float64
		want   float64
	}{
		{"middle of a bucket", 0.5, []uint64{0, 4, 0, 0}, nil, nil, 1.5},
		{"first bucket starts at 0", 0.5, []uint64{2, 0, 0, 0}, nil, nil, 0.5},
		{"first bucket starts at min", 0.5, []uint64{2, 0, 0, 0}, f64(0.5), nil, 0.75},
		{"overflow bucket without max is its lower bound", 0.99, []uint64{0, 0, 0, 3}, nil, nil, 4},
		{"overflow bucket ends at max", 0.5, []uint64{0, 0, 0, 2}, nil, f64(8), 6},
		{"bounded by max", 1, []uint64{0, 1, 0, 0}, nil, f64(1.2), 1.2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bucketQuantile(tt.q, bounds, tt.counts, tt.lo, tt.hi); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("bucketQuantile = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSDKExporter points the real OpenTelemetry Go SDK's OTLP/HTTP exporter
// at the receiver, as a service instrumented with it would.
func TestSDKExporter(t *testing.T) {
	for _, gz := range []bool{false, true} {
		name := "plain"
		if gz {
			name = "gzip"
		}
		t.Run(name, func(t *testing.T) {
			s := newSource(t, config.Source{})
			sink := &sourcetest.Sink{}
			mux := http.NewServeMux()
			mux.Handle(s.Pattern(), s.Handler(sink))
			srv := httptest.NewServer(mux)
			defer srv.Close()

			ctx := context.Background()
			opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpointURL(srv.URL + "/v1/metrics")}
			if gz {
				opts = append(opts, otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
			}
			exp, err := otlpmetrichttp.New(ctx, opts...)
			if err != nil {
				t.Fatal(err)
			}
			res, err := sdkresource.New(ctx, sdkresource.WithAttributes(attribute.String("service.name", "checkout")))
			if err != nil {
				t.Fatal(err)
			}
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
				sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))))
			defer mp.Shutdown(ctx)
			meter := mp.Meter("shop/checkout")
			reqs, err := meter.Int64Counter("http.requests")
			if err != nil {
				t.Fatal(err)
			}
			lat, err := meter.Float64Histogram("http.duration", otelmetric.WithUnit("s"),
				otelmetric.WithExplicitBucketBoundaries(0.1, 0.5, 1))
			if err != nil {
				t.Fatal(err)
			}
			route := otelmetric.WithAttributes(attribute.String("route", "/pay"))
			reqs.Add(ctx, 3, route)
			for _, v := range []float64{0.05, 0.2, 0.3, 0.7} {
				lat.Record(ctx, v, route)
			}
			if err := mp.ForceFlush(ctx); err != nil {
				t.Fatalf("exporting: %v", err)
			}

			byMetric := map[string]map[string]any{}
			for _, e := range sink.Events() {
				byMetric[e.Fields["metric"].(string)] = e.Fields
				if e.Time.IsZero() || e.Flags != 0 {
					t.Errorf("event %v: time %v flags %v", e.Fields["metric"], e.Time, e.Flags)
				}
			}
			c := byMetric["http.requests"]
			if c == nil || c["value"] != 3.0 || c["route"] != "/pay" || c["service.name"] != "checkout" ||
				c["scope"] != "shop/checkout" || c["monotonic"] != true || c["temporality"] != "cumulative" {
				t.Errorf("counter event = %v", c)
			}
			h := byMetric["http.duration"]
			want := map[string]any{"count": 4.0, "sum": 1.25, "min": 0.05, "max": 0.7, "avg": 0.3125,
				"le_0_1": 1.0, "le_0_5": 3.0, "le_1": 4.0, "le_inf": 4.0, "unit": "s", "route": "/pay", "service.name": "checkout"}
			for k, v := range want {
				got, ok := h[k]
				gf, _ := got.(float64)
				wf, isNum := v.(float64)
				if !ok || (isNum && math.Abs(gf-wf) > 1e-9) || (!isNum && got != v) {
					t.Errorf("histogram %s = %v, want %v (event %v)", k, got, v, h)
				}
			}
		})
	}
}

func FuzzJSON(f *testing.F) {
	s := newSource(f, config.Source{})
	f.Fuzz(func(t *testing.T, body []byte) {
		sink := &sourcetest.Sink{}
		w := post(s, sink, ContentTypeJSON, false, body)
		switch w.Code {
		case http.StatusOK:
			var resp colmetricpb.ExportMetricsServiceResponse
			if err := protojson.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatalf("200 with an undecodable answer %q", w.Body)
			}
			if int(resp.GetPartialSuccess().GetRejectedDataPoints()) != len(sink.Rejected()) {
				t.Fatalf("partial success %v but %d rejected", resp.GetPartialSuccess(), len(sink.Rejected()))
			}
			for _, e := range sink.Events() {
				if _, ok := e.Fields["metric"].(string); !ok || !json.Valid(e.Raw) || e.Time.IsZero() {
					t.Fatalf("bad event %+v", e)
				}
			}
		case http.StatusBadRequest:
			if len(sink.Rejected()) != 1 || len(sink.Events()) != 0 {
				t.Fatalf("400 with events %v, rejected %v", sink.Events(), sink.Rejected())
			}
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}

func BenchmarkExportProtobuf(b *testing.B) {
	s := newSource(b, config.Source{})
	req := sampleRequest()
	sm := req.ResourceMetrics[0].ScopeMetrics[0]
	for len(sm.Metrics) < 300 {
		sm.Metrics = append(sm.Metrics, sm.Metrics[:3]...)
	}
	body := encode(b, req, ContentTypeProtobuf, false)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if w := post(s, &sourcetest.Sink{}, ContentTypeProtobuf, false, body); w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	b.ReportMetric(float64(b.N)*float64(len(sm.Metrics))/b.Elapsed().Seconds(), "points/s")
}
