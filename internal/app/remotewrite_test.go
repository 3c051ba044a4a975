package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage/remote"

	"github.com/lookout-dev/lookout/internal/store"
)

// rwBody is one remote write request of 600 series of instance inst with
// 100 samples each, 300 ms apart from t0, all of value 2, in protocol 1.0
// or 2.0: 20,400 samples fall into the first 10 s window, 19,800 into each
// of the next two. Many samples per series is what a sender catching up
// after 429s sends.
func rwBody(t *testing.T, v2 bool, inst string, t0 time.Time) []byte {
	t.Helper()
	var b []byte
	var err error
	if v2 {
		st := writev2.NewSymbolTable()
		req := &writev2.Request{}
		for k := range 600 {
			ts := writev2.TimeSeries{LabelsRefs: []uint32{
				st.Symbolize("__name__"), st.Symbolize("jobs_done_total"),
				st.Symbolize("instance"), st.Symbolize(inst),
				st.Symbolize("series"), st.Symbolize(fmt.Sprint(k)),
			}}
			for j := range 100 {
				ts.Samples = append(ts.Samples, writev2.Sample{Value: 2, Timestamp: t0.Add(time.Duration(j) * 300 * time.Millisecond).UnixMilli()})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		req.Symbols = st.Symbols()
		b, err = req.Marshal()
	} else {
		req := &prompb.WriteRequest{}
		for k := range 600 {
			ts := prompb.TimeSeries{Labels: []prompb.Label{
				{Name: "__name__", Value: "jobs_done_total"}, {Name: "instance", Value: inst}, {Name: "series", Value: fmt.Sprint(k)},
			}}
			for j := range 100 {
				ts.Samples = append(ts.Samples, prompb.Sample{Value: 2, Timestamp: t0.Add(time.Duration(j) * 300 * time.Millisecond).UnixMilli()})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		b, err = req.Marshal()
	}
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

// TestRemoteWriteIntoWindows sends to a running lookout with Prometheus's
// own remote write client, 1.0 and 2.0, while lookout is full: the client
// hears 429, retries as Prometheus does with retry_on_http_429, and every
// sample ends up in exactly one window; an undecodable body is answered 400
// and its reason is in the rejected table.
func TestRemoteWriteIntoWindows(t *testing.T) {
	a := runApp(t, `
sources: [{name: prom, type: remote_write}]
pipelines:
  - name: jobs
    from: [prom]
    group_by: [instance]
    window: 10s
    aggregates: {samples: count(), total: sum(value)}
`)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/api/v1/write")
	client := func(msg remoteapi.WriteMessageType) remote.WriteClient {
		c, err := remote.NewWriteClient("lookout", &remote.ClientConfig{
			URL: &config_util.URL{URL: u}, Timeout: model.Duration(time.Minute),
			RetryOnRateLimit: true, WriteProtoMsg: msg,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// send retries a recoverable error (429, 5xx) after a moment, as the
	// queue manager does, and returns how many attempts were refused.
	send := func(c remote.WriteClient, body []byte, refused func()) int {
		t.Helper()
		for attempt := 0; ; attempt++ {
			_, err := c.Store(ctx, body, attempt)
			var rec remote.RecoverableError
			if err == nil {
				return attempt
			}
			if !errors.As(err, &rec) || !strings.Contains(err.Error(), "429") {
				t.Fatalf("attempt %d: %v", attempt, err)
			}
			if refused != nil {
				refused()
			}
			select {
			case <-ctx.Done():
				t.Fatalf("still refused after %d attempts: %v", attempt+1, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	// Holding the ingest goroutine keeps what is queued queued: the
	// first request fills most of the queue, so the second is refused
	// until the goroutine is let go.
	held, release := make(chan struct{}), make(chan struct{})
	go a.bus.Do(ctx, func() { close(held); <-release })
	<-held

	t0 := time.Now().Add(-time.Hour).Truncate(10 * time.Second)
	if n := send(client(remoteapi.WriteV1MessageType), rwBody(t, false, "a", t0), nil); n != 0 {
		t.Fatalf("first request refused %d times with room in the queue", n)
	}
	released := false
	// The next 30 s, as one remote write shard sends them: in time order.
	n := send(client(remoteapi.WriteV2MessageType), rwBody(t, true, "b", t0.Add(30*time.Second)), func() {
		if !released {
			close(release)
			released = true
		}
	})
	if n == 0 {
		t.Fatal("a full lookout took the second request")
	}

	// A body that is not snappy: 400, not retried, kept as rejected.
	if _, err := client(remoteapi.WriteV1MessageType).Store(ctx, []byte("not snappy"), 0); err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "decompressing the snappy body") {
		t.Fatalf("undecodable body: %v, want a 400 saying why", err)
	}
	// A sample two minutes later moves event time past the windows above.
	late := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "jobs_done_total"}, {Name: "instance", Value: "z"}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: t0.Add(2 * time.Minute).UnixMilli()}},
	}}}
	lb, _ := late.Marshal()
	send(client(remoteapi.WriteV1MessageType), snappy.Encode(nil, lb), nil)

	want := []string{
		"a 0s samples=20400 total=40800", "a 10s samples=19800 total=39600", "a 20s samples=19800 total=39600",
		"b 30s samples=20400 total=40800", "b 40s samples=19800 total=39600", "b 50s samples=19800 total=39600",
	}
	var got []string
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := a.store.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		ws, err := a.store.Windows(ctx, store.WindowQuery{Pipeline: "jobs"})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, w := range ws {
			if w.Group[0] == "z" {
				continue
			}
			got = append(got, fmt.Sprintf("%s %s %s=%d %s=%v", w.Group[0], w.Start.Sub(t0), w.Names[0], int64(w.Values[0]), w.Names[1], w.Values[1]))
			if w.Late != 0 || int64(w.Values[0]) != w.Count {
				t.Errorf("window %+v: late or miscounted", w)
			}
		}
		sort.Strings(got)
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("windows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	res, err := backend{a}.Query(ctx, `SELECT source, raw, reason FROM rejected`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Rows); !strings.HasPrefix(got, "[[prom not snappy decompressing the snappy body: ") || len(res.Rows) != 1 {
		t.Errorf("rejected rows %s", got)
	}
}

// TestRemoteWriteUnknownMessage: a remote write message lookout does not
// know is 415 on a running lookout, whose JSON-only guard on /api/v1/
// leaves the receiver's protobuf alone.
func TestRemoteWriteUnknownMessage(t *testing.T) {
	a := runApp(t, `
sources: [{name: prom, type: remote_write}]
pipelines:
  - {name: jobs, from: [prom], window: 10s, aggregates: {n: count()}}
`)
	for ct, want := range map[string]int{
		"application/x-protobuf;proto=io.prometheus.write.v3.Request": http.StatusUnsupportedMediaType,
		"application/x-protobuf": http.StatusNoContent,
	} {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9470/api/v1/write", strings.NewReader(string(snappy.Encode(nil, nil))))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Content-Encoding", "snappy")
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%s: %d %s, want %d", ct, rec.Code, rec.Body, want)
		}
	}
}

// BenchmarkAppRemoteWrite is remote write into a running lookout, raw
// storage on: each op is one 1.0 request of 2,000 series of one sample
// (Prometheus's max_samples_per_send) from 100 instances, into a pipeline
// grouped by instance; the clock stops when every sample has been folded
// in. samples/cpu-s divides by the CPU time the whole process used.
func BenchmarkAppRemoteWrite(b *testing.B) {
	a := runApp(b, `
sources: [{name: prom, type: remote_write}]
pipelines:
  - name: node
    from: [prom]
    group_by: [instance]
    window: 10s
    lateness: 5s
    aggregates: {samples: count(), busy: avg(value)}
`)
	h := a.Handler()
	const n = 2000
	body := func(at time.Time) []byte {
		req := &prompb.WriteRequest{}
		for i := range n {
			req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
				Labels: []prompb.Label{
					{Name: "__name__", Value: "node_cpu_seconds_total"}, {Name: "cpu", Value: fmt.Sprint(i % 20)},
					{Name: "instance", Value: fmt.Sprintf("node-%d:9100", i/20)}, {Name: "job", Value: "node"}, {Name: "mode", Value: "idle"},
				},
				Samples: []prompb.Sample{{Value: float64(i), Timestamp: at.UnixMilli()}},
			})
		}
		raw, _ := req.Marshal()
		return snappy.Encode(nil, raw)
	}
	start := a.bus.Stats().Events
	cpu0 := cpuTime()
	var sent int64
	var pool [][]byte
	var made time.Time
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if time.Since(made) > time.Second {
			b.StopTimer()
			pool, made = pool[:0], time.Now()
			for range 16 {
				pool = append(pool, body(made))
			}
			b.StartTimer()
		}
		for {
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9470/api/v1/write", strings.NewReader(string(pool[i%len(pool)])))
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("Content-Encoding", "snappy")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code == http.StatusNoContent {
				break
			}
			if rec.Code != http.StatusTooManyRequests {
				b.Fatalf("write: %d %s", rec.Code, rec.Body)
			}
			time.Sleep(time.Millisecond) // full: let the ingest goroutine catch up
		}
		sent += n
	}
	for a.bus.Stats().Events-start < sent {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(sent)/(cpuTime()-cpu0).Seconds(), "samples/cpu-s")
}

// cpuTime is the CPU time, user and system, the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestRemoteWriteAckStored: with ack: stored the 204 comes once the store
// has committed the request, so its samples are in the events table the
// moment the sender hears it, without waiting for the flush interval.
func TestRemoteWriteAckStored(t *testing.T) {
	a := runApp(t, `
storage: {flush_interval: 10s}
sources: [{name: prom, type: remote_write, ack: stored}]
pipelines:
  - {name: jobs, from: [prom], window: 10s, aggregates: {n: count()}}
`)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/api/v1/write")
	c, err := remote.NewWriteClient("lookout", &remote.ClientConfig{URL: &config_util.URL{URL: u}, Timeout: model.Duration(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(context.Background(), rwBody(t, false, "a", time.Now().Add(-time.Hour).Truncate(10*time.Second)), 0); err != nil {
		t.Fatal(err)
	}
	res, err := backend{a}.Query(context.Background(), `SELECT count(*) FROM events WHERE source = 'prom'`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Rows); got != "[[60000]]" {
		t.Errorf("events stored when the 204 came: %s, want 60000", got)
	}
}
