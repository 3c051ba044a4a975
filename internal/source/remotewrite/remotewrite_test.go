package remotewrite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage/remote"

	"github.com/lookout-dev/lookout/internal/clock"
	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
	"github.com/lookout-dev/lookout/internal/source/remotewrite"
	"github.com/lookout-dev/lookout/internal/source/sourcetest"
)

var (
	now = time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
	t0  = now.Add(-15 * time.Second).UnixMilli()
)

func newSource(t testing.TB, settings *remotewrite.Config) *remotewrite.Source {
	t.Helper()
	cfg := config.Source{Name: "prom", Type: "remote_write"}
	if settings != nil {
		cfg.Settings = settings
	}
	s, err := source.New(cfg, source.Deps{Clock: clock.NewFake(now)})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*remotewrite.Source)
}

// serve mounts the receiver as the app does, on a real listener.
func serve(t testing.TB, s *remotewrite.Source, sink source.Sink) string {
	mux := http.NewServeMux()
	mux.Handle(s.Pattern(), s.Handler(sink))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/api/v1/write"
}

// newClient is Prometheus's own remote write client, configured as its
// remote_write section would (retry_on_http_429 on), speaking 1.0 or 2.0.
func newClient(t testing.TB, rawURL string, msg remoteapi.WriteMessageType) remote.WriteClient {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := remote.NewWriteClient("lookout", &remote.ClientConfig{
		URL:              &config_util.URL{URL: u},
		Timeout:          model.Duration(30 * time.Second),
		RetryOnRateLimit: true,
		WriteProtoMsg:    msg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// series is a test series: labels as name, value pairs, with float samples.
type series struct {
	labels  []string
	samples []prompb.Sample
}

func fixture() []series {
	return []series{
		{[]string{"__name__", "http_requests_total", "instance", "web-1:9100", "job", "web", "code", "500"},
			[]prompb.Sample{{Value: 7, Timestamp: t0}, {Value: 9, Timestamp: t0 + 5000}}},
		{[]string{"__name__", "node_load1", "instance", "web-1:9100", "job", "node", "metric", "shadowed"},
			[]prompb.Sample{{Value: 0.5, Timestamp: t0 + 1000}}},
		{[]string{"__name__", "up", "instance", "web-2:9100", "job", "node"},
			[]prompb.Sample{{Value: 1, Timestamp: t0 + 2000}, {Value: math.Float64frombits(value.StaleNaN), Timestamp: t0 + 3000}}},
	}
}

// wantEvents is what fixture must turn into, in time order rather than
// series by series (else the later series would be late for windows the
// first one's last sample moved event time past): the stale marker ends
// the series and makes no event.
func wantEvents() []string {
	return []string{
		fmt.Sprintf(`%d code=500 instance=web-1:9100 job=web metric=http_requests_total value=7`, t0),
		fmt.Sprintf(`%d instance=web-1:9100 job=node label_metric=shadowed metric=node_load1 value=0.5`, t0+1000),
		fmt.Sprintf(`%d instance=web-2:9100 job=node metric=up value=1`, t0+2000),
		fmt.Sprintf(`%d code=500 instance=web-1:9100 job=web metric=http_requests_total value=9`, t0+5000),
	}
}

func encodeV1(t testing.TB, ss []series) []byte {
	t.Helper()
	req := &prompb.WriteRequest{}
	for _, s := range ss {
		ts := prompb.TimeSeries{Samples: s.samples}
		for i := 0; i < len(s.labels); i += 2 {
			ts.Labels = append(ts.Labels, prompb.Label{Name: s.labels[i], Value: s.labels[i+1]})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

func encodeV2(t testing.TB, ss []series) []byte {
	t.Helper()
	st := writev2.NewSymbolTable()
	req := &writev2.Request{}
	for _, s := range ss {
		ts := writev2.TimeSeries{}
		for _, smp := range s.samples {
			ts.Samples = append(ts.Samples, writev2.Sample{Value: smp.Value, Timestamp: smp.Timestamp})
		}
		for _, l := range s.labels {
			ts.LabelsRefs = append(ts.LabelsRefs, st.Symbolize(l))
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Symbols = st.Symbols()
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

// describe writes an event as "<ms> k=v ..." with the fields sorted.
func describe(e *event.Event) string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d", e.Time.UnixMilli())
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, e.Fields[k])
	}
	return b.String()
}

func describeAll(evs []*event.Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, describe(e))
	}
	return out
}

// store sends body as Prometheus's queue manager does: a recoverable error
// (a 5xx, or a 429 with retry_on_http_429) is retried after the
// Retry-After it carries; anything else ends the batch.
func store(ctx context.Context, c remote.WriteClient, body []byte, retried func(attempt int, err error)) (remote.WriteResponseStats, error) {
	for attempt := 0; ; attempt++ {
		rs, err := c.Store(ctx, body, attempt)
		var rec remote.RecoverableError
		if err == nil || !errors.As(err, &rec) {
			return rs, err
		}
		retried(attempt, err)
		select {
		case <-ctx.Done():
			return rs, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestPrometheusClient sends with Prometheus's own remote write client, in
// both protocol versions: every sample becomes the event a scrape would
// make, with its own timestamp; 2.0's answer says how many were written.
func TestPrometheusClient(t *testing.T) {
	for _, tt := range []struct {
		name   string
		msg    remoteapi.WriteMessageType
		encode func(testing.TB, []series) []byte
	}{
		{"1.0", remoteapi.WriteV1MessageType, encodeV1},
		{"2.0", remoteapi.WriteV2MessageType, encodeV2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, nil)
			sink := &sourcetest.Sink{}
			c := newClient(t, serve(t, s, sink), tt.msg)
			rs, err := c.Store(context.Background(), tt.encode(t, fixture()), 0)
			if err != nil {
				t.Fatalf("store: %v", err)
			}
			if got := describeAll(sink.Events()); !reflect.DeepEqual(got, wantEvents()) {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantEvents(), "\n"))
			}
			for _, e := range sink.Events() {
				if e.Source != "prom" || e.Flags != 0 {
					t.Errorf("event %s: source %q flags %v", describe(e), e.Source, e.Flags)
				}
			}
			// Five samples were taken, the stale marker among them.
			if !rs.Confirmed || rs.Samples != 5 || rs.Histograms != 0 || rs.Exemplars != 0 {
				t.Errorf("response stats %+v, want 5 samples written, confirmed", rs)
			}
			if h := s.Health().Snapshot(); h.Events != 4 || h.Rejected != 0 {
				t.Errorf("health %+v", h)
			}
			raw := s.Raw().Last(1)
			if len(raw) != 1 || !strings.Contains(string(raw[0].Data), `http_requests_total{instance="web-1:9100",job="web",code="500"} 7 `) {
				t.Errorf("raw view %q", raw)
			}
		})
	}
}

// TestHistograms: a native histogram sample becomes one event with its
// count and sum, in both versions.
func TestHistograms(t *testing.T) {
	h1 := prompb.Histogram{Count: &prompb.Histogram_CountInt{CountInt: 12}, Sum: 3.5, Timestamp: t0}
	v1 := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:     []prompb.Label{{Name: "__name__", Value: "rpc_seconds"}, {Name: "job", Value: "api"}},
		Histograms: []prompb.Histogram{h1},
	}}}
	b1, err := v1.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v2 := &writev2.Request{Symbols: []string{"", "__name__", "rpc_seconds", "job", "api"}, Timeseries: []writev2.TimeSeries{{
		LabelsRefs: []uint32{1, 2, 3, 4},
		Histograms: []writev2.Histogram{{Count: &writev2.Histogram_CountFloat{CountFloat: 12}, Sum: 3.5, Timestamp: t0}},
	}}}
	b2, err := v2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("%d count=12 job=api metric=rpc_seconds sum=3.5", t0)}
	for _, tt := range []struct {
		name string
		msg  remoteapi.WriteMessageType
		body []byte
	}{{"1.0", remoteapi.WriteV1MessageType, b1}, {"2.0", remoteapi.WriteV2MessageType, b2}} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, nil)
			sink := &sourcetest.Sink{}
			rs, err := newClient(t, serve(t, s, sink), tt.msg).Store(context.Background(), snappy.Encode(nil, tt.body), 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := describeAll(sink.Events()); !reflect.DeepEqual(got, want) {
				t.Errorf("events %q, want %q", got, want)
			}
			if rs.Histograms != 1 || rs.Samples != 0 {
				t.Errorf("stats %+v, want 1 histogram", rs)
			}
		})
	}
}

// TestFull: when lookout is full the client hears 429 with Retry-After,
// nothing of the request is kept, and its retry once there is room again
// delivers every sample exactly once.
func TestFull(t *testing.T) {
	s := newSource(t, nil)
	sink := &sourcetest.Sink{}
	sink.SetFull(true)
	u := serve(t, s, sink)

	resp := post(t, u, "application/x-protobuf", encodeV1(t, fixture()))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("status %d Retry-After %q, want 429 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	var retries []string
	rs, err := store(context.Background(), newClient(t, u, remoteapi.WriteV1MessageType), encodeV1(t, fixture()), func(attempt int, err error) {
		retries = append(retries, err.Error())
		if len(sink.Events()) != 0 || len(sink.Rejected()) != 0 || len(s.Raw().Last(10)) != 0 {
			t.Error("something of a refused request was kept")
		}
		if attempt == 2 {
			sink.SetFull(false)
		}
	})
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	if len(retries) != 3 || !strings.Contains(retries[0], "429") {
		t.Errorf("retries %q, want three after 429s", retries)
	}
	if got := describeAll(sink.Events()); !reflect.DeepEqual(got, wantEvents()) {
		t.Errorf("events after the retries:\n%s", strings.Join(got, "\n"))
	}
	if rs.Samples != 5 {
		t.Errorf("stats %+v", rs)
	}
}

func post(t *testing.T, u, ct string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Content-Encoding", "snappy")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestBadRequests: a body that cannot be decoded is answered 400 with the
// reason and kept, as sent, in the rejected table; a message or encoding
// lookout does not speak is 415 and one over the limit 413, neither kept.
func TestBadRequests(t *testing.T) {
	garbage := snappy.Encode(nil, []byte("\xff\xff\xff\xff not protobuf"))
	bomb := snappy.Encode(nil, bytes.Repeat([]byte{0}, 8192))
	noName := encodeV1(t, []series{
		{[]string{"job", "web"}, []prompb.Sample{{Value: 1, Timestamp: t0}}},
		{[]string{"__name__", "up", "job", "web"}, []prompb.Sample{{Value: 1, Timestamp: t0}}},
	})
	badRef := snappy.Encode(nil, mustMarshal(t, &writev2.Request{Symbols: []string{"", "__name__", "up"}, Timeseries: []writev2.TimeSeries{
		{LabelsRefs: []uint32{1, 7}, Samples: []writev2.Sample{{Value: 1, Timestamp: t0}}},
	}}))
	tests := []struct {
		name       string
		ct         string
		hdr        []string
		body       []byte
		status     int
		wantReason string // reason stored in the rejected table; "" = nothing stored
		wantRaw    []byte // the rejected record's raw; nil = the body as sent
		wantEvents int
	}{
		{"not snappy", "application/x-protobuf", nil, []byte("plain text, not snappy"), 400, "decompressing the snappy body: ", nil, 0},
		{"not a 1.0 message", "application/x-protobuf", nil, garbage, 400, "decoding the remote write 1.0 request (prometheus.WriteRequest): ", nil, 0},
		{"not a 2.0 message", "application/x-protobuf;proto=io.prometheus.write.v2.Request", nil, garbage, 400, "decoding the remote write 2.0 request (io.prometheus.write.v2.Request): ", nil, 0},
		{"a series without a name", "application/x-protobuf", nil, noName, 400, `series {job="web"} has no __name__ label`, []byte(`{job="web"}`), 1},
		{"a label out of the symbols", "application/x-protobuf;proto=io.prometheus.write.v2.Request", nil, badRef, 400, "series 0: label reference 1 or 7 out of the 3 symbols", []byte("{}"), 0},
		{"unknown proto", "application/x-protobuf;proto=io.prometheus.write.v3.Request", nil, encodeV1(t, fixture()), 415, "", nil, 0},
		{"not protobuf", "application/json", nil, []byte(`{}`), 415, "", nil, 0},
		{"not snappy encoded", "application/x-protobuf", []string{"Content-Encoding", "zstd"}, []byte("x"), 415, "", nil, 0},
		{"over the limit once decompressed", "application/x-protobuf", nil, bomb, 413, "", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, &remotewrite.Config{MaxBodyBytes: 4096})
			sink := &sourcetest.Sink{}
			resp := post(t, serve(t, s, sink), tt.ct, tt.body, tt.hdr...)
			var msg bytes.Buffer
			msg.ReadFrom(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, msg.String())
			}
			if len(sink.Events()) != tt.wantEvents {
				t.Errorf("%d events, want %d", len(sink.Events()), tt.wantEvents)
			}
			rej := sink.Rejected()
			if tt.wantReason == "" {
				if len(rej) != 0 {
					t.Errorf("rejected %v", rej)
				}
				if msg.Len() == 0 {
					t.Error("error answer without a message")
				}
				return
			}
			want := tt.wantRaw
			if want == nil {
				want = tt.body
			}
			if len(rej) != 1 || !strings.HasPrefix(rej[0].Reason, tt.wantReason) || !bytes.Equal(rej[0].Raw, want) || rej[0].Source != "prom" {
				t.Fatalf("rejected = %+v, want one with reason %q", rej, tt.wantReason)
			}
			if !strings.Contains(msg.String(), tt.wantReason) {
				t.Errorf("answer %q does not give the reason %q", msg.String(), tt.wantReason)
			}
			if h := s.Health().Snapshot(); h.Rejected != 1 {
				t.Errorf("health %+v", h)
			}
		})
	}
}

func mustMarshal(t testing.TB, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadConfig: a second remote_write source could never get a request,
// so the config says so; ack is one of two words.
func TestBadConfig(t *testing.T) {
	if _, err := config.Parse("lookout.yaml", []byte(`
sources:
  - {name: a, type: remote_write, ack: committed}
`)); err == nil || !strings.Contains(err.Error(), `lookout.yaml:3: `) || !strings.Contains(err.Error(), `ack must be queued or stored, not "committed"`) {
		t.Errorf("err = %v", err)
	}
	_, err := config.Parse("lookout.yaml", []byte(`
sources:
  - {name: a, type: remote_write}
  - {name: b, type: remote_write}
`))
	if err == nil || !strings.Contains(err.Error(), `lookout.yaml:4: `) || !strings.Contains(err.Error(), "only one remote_write source") {
		t.Fatalf("err = %v", err)
	}
}

// TestDecodeV1LikePrompb: the receiver's own reading of the 1.0 wire
// format gives, for requests of random series, samples, histograms,
// exemplars and metadata marshalled by prompb, the events prompb's fields
// say.
func TestDecodeV1LikePrompb(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		w := []string{"a", "job", "instance", "éte", "", "x y", "le", "0.5", "💡", strings.Repeat("z", 200)}
		return w[rng.IntN(len(w))]
	}
	for i := range 200 {
		req := &prompb.WriteRequest{}
		type want struct {
			ms int64
			d  string
		}
		var wants []want
		for range rng.IntN(5) {
			ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "m" + word()}}}
			lbl := map[string]string{}
			for range rng.IntN(4) {
				n, v := "l"+word(), word()
				if _, dup := lbl[n]; dup {
					continue
				}
				lbl[n] = v
				ts.Labels = append(ts.Labels, prompb.Label{Name: n, Value: v})
			}
			fieldsOf := func(extra ...string) string {
				keys := []string{"metric=" + ts.Labels[0].Value}
				for n, v := range lbl {
					keys = append(keys, n+"="+v)
				}
				keys = append(keys, extra...)
				sort.Strings(keys)
				return strings.Join(keys, " ")
			}
			for range rng.IntN(3) {
				s := prompb.Sample{Value: float64(rng.IntN(100)) / 4, Timestamp: t0 + rng.Int64N(10000)}
				ts.Samples = append(ts.Samples, s)
				wants = append(wants, want{s.Timestamp, fmt.Sprintf("%d %s", s.Timestamp, fieldsOf(fmt.Sprintf("value=%v", s.Value)))})
			}
			for range rng.IntN(2) {
				h := prompb.Histogram{Count: &prompb.Histogram_CountInt{CountInt: uint64(rng.IntN(50))}, Sum: 2.5, Timestamp: t0 + rng.Int64N(10000)}
				ts.Histograms = append(ts.Histograms, h)
				wants = append(wants, want{h.Timestamp, fmt.Sprintf("%d %s", h.Timestamp, fieldsOf(fmt.Sprintf("count=%d", h.GetCountInt()), "sum=2.5"))})
			}
			if rng.IntN(2) == 0 {
				ts.Exemplars = append(ts.Exemplars, prompb.Exemplar{Labels: []prompb.Label{{Name: "trace_id", Value: "abc"}}, Value: 1, Timestamp: t0})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		if rng.IntN(2) == 0 {
			req.Metadata = append(req.Metadata, prompb.MetricMetadata{MetricFamilyName: "m", Help: "help", Type: prompb.MetricMetadata_COUNTER})
		}
		sort.SliceStable(wants, func(a, b int) bool { return wants[a].ms < wants[b].ms })
		wantD := []string{}
		for _, w := range wants {
			wantD = append(wantD, w.d)
		}
		s := newSource(t, nil)
		sink := &sourcetest.Sink{}
		resp := post(t, serve(t, s, sink), "application/x-protobuf", snappy.Encode(nil, mustMarshal(t, req)))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		got := []string{}
		for _, e := range sink.Events() {
			keys := []string{}
			for k, v := range e.Fields {
				keys = append(keys, fmt.Sprintf("%s=%v", k, v))
			}
			sort.Strings(keys)
			got = append(got, fmt.Sprintf("%d %s", e.Time.UnixMilli(), strings.Join(keys, " ")))
		}
		if !reflect.DeepEqual(got, wantD) {
			t.Fatalf("request %d (%s):\ngot  %q\nwant %q", i, req.String(), got, wantD)
		}
	}
}

// FuzzV1 feeds the 1.0 decoder arbitrary bodies: it never panics, and a
// body it takes whole that prompb decodes too gives an event per sample
// prompb sees. (It may refuse what prompb lets through: prompb skips
// groups whose end marker does not match.)
func FuzzV1(f *testing.F) {
	f.Add(mustMarshal(f, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels: []prompb.Label{{Name: "__name__", Value: "up"}}, Samples: []prompb.Sample{{Value: 1, Timestamp: 5}},
	}}}))
	f.Add([]byte("\x0a\x05\x0a\x03\x0a\x01x"))
	s := newSource(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		sink := &sourcetest.Sink{}
		r := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(snappy.Encode(nil, body)))
		r.Header.Set("Content-Type", "application/x-protobuf")
		w := httptest.NewRecorder()
		s.Handler(sink).ServeHTTP(w, r)
		var ref prompb.WriteRequest
		if w.Code != http.StatusNoContent || ref.Unmarshal(body) != nil {
			return
		}
		n := 0
		for _, ts := range ref.Timeseries {
			for _, smp := range ts.Samples {
				if !value.IsStaleNaN(smp.Value) {
					n++
				}
			}
			for _, h := range ts.Histograms {
				if !value.IsStaleNaN(h.Sum) {
					n++
				}
			}
		}
		if len(sink.Events()) != n {
			t.Fatalf("%d events, prompb sees %d samples in %s", len(sink.Events()), n, ref.String())
		}
	})
}
