package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// TestRemoteWriteSurvivesKill: Prometheus's own remote write client sends
// to lookout (ack: stored), lookout is killed with SIGKILL in the middle of
// a window and started again on the same data directory while the client
// retries as Prometheus does: the window counts every sample sent in it
// exactly once.
func TestRemoteWriteSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	addr := lookouttest.FreeAddr(t)
	cfg := lookouttest.WriteFile(t, dir, "lookout.yaml", fmt.Sprintf(`
server: {listen: %s}
storage: {path: %s}
sources: [{name: prom, type: remote_write, ack: stored}]
pipelines:
  - name: jobs
    from: [prom]
    group_by: [job]
    window: 20s
    aggregates: {samples: count()}
`, addr, dir+"/data"))
	p := lookouttest.Start(t, binary, addr, "run", "-config", cfg)
	u, _ := url.Parse(p.URL("/api/v1/write"))
	client, err := remote.NewWriteClient("lookout", &remote.ClientConfig{
		URL: &config_util.URL{URL: u}, Timeout: model.Duration(30 * time.Second), RetryOnRateLimit: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Start right after a window boundary so the test fits in one window.
	for time.Now().UnixMilli()%20_000 > 300 {
		time.Sleep(20 * time.Millisecond)
	}
	sent := map[int64]int{} // window start (unix s) → samples answered 204
	restarted := false
	send := func(i int) {
		t.Helper()
		now := time.Now()
		req := &prompb.WriteRequest{}
		for k := range 50 {
			req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
				Labels:  []prompb.Label{{Name: "__name__", Value: "jobs_done_total"}, {Name: "job", Value: "batch"}, {Name: "series", Value: fmt.Sprint(k)}},
				Samples: []prompb.Sample{{Value: float64(i), Timestamp: now.UnixMilli()}},
			})
		}
		raw, _ := req.Marshal()
		body := snappy.Encode(nil, raw)
		for attempt := 0; ; attempt++ {
			_, err := client.Store(ctx, body, attempt)
			if err == nil {
				break
			}
			var rec remote.RecoverableError
			if !errors.As(err, &rec) || ctx.Err() != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			if !restarted {
				// lookout is gone: start it again, as a supervisor
				// would, while the client keeps retrying.
				p = lookouttest.Start(t, binary, addr, "run", "-config", cfg)
				restarted = true
			}
			time.Sleep(100 * time.Millisecond)
		}
		sent[now.Unix()-now.Unix()%20] += len(req.Timeseries)
	}
	for i := range 10 {
		send(i)
		time.Sleep(100 * time.Millisecond)
	}
	p.Kill()
	for i := 10; i < 20; i++ {
		send(i)
		time.Sleep(100 * time.Millisecond)
	}
	if !restarted {
		t.Fatal("no request failed after the kill")
	}

	var res struct {
		Data []windowJSON `json:"data"`
	}
	lookouttest.WaitFor(t, 45*time.Second, "the window to close", func() bool {
		lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=jobs"), &res)
		return len(res.Data) > 0
	})
	for _, w := range res.Data {
		start, _ := time.Parse(time.RFC3339Nano, w.Start)
		if got, want := *w.Values["samples"], float64(sent[start.Unix()]); got != want {
			t.Errorf("window %s counted %v samples, want %v (every sample sent in it, once)", w.Start, got, want)
		}
	}
	if !strings.Contains(p.Output(), "refilled open windows from the store") {
		t.Errorf("the restart did not say it refilled the open window:\n%s", p.Output())
	}
}
