package loadgen

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/webhook"
)

// TestReceiverTakesLookoutsPayload feeds the receiver the exact body
// lookout's webhook notifier builds.
func TestReceiverTakesLookoutsPayload(t *testing.T) {
	end := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	firing := event.Alert{Rule: "ErrorBurst", Labels: map[string]string{"service": "svc-01"},
		State: event.StateFiring, Since: end, Fingerprint: "abc", Severity: "critical"}
	resolved := firing
	resolved.State, resolved.ResolvedAt, resolved.Fingerprint = event.StateResolved, end.Add(2*time.Second), "def"
	body, err := json.Marshal(webhook.BuildPayload(notify.Message{
		Receiver: "hook", Status: "firing", Alerts: []event.Alert{firing, resolved},
	}, "http://127.0.0.1:9470"))
	if err != nil {
		t.Fatal(err)
	}
	r := NewReceiver()
	at := end.Add(1234 * time.Millisecond)
	r.now = func() time.Time { return at }
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/hook", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	resp, _ = http.Post(srv.URL+"/hook", "application/json", bytes.NewReader([]byte(`{"version":"3"}`)))
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("a non-v4 payload got %d, want 400", resp.StatusCode)
	}

	fired := r.Fired()
	if len(fired) != 1 {
		t.Fatalf("%d firing alerts, want 1: %+v", len(fired), fired)
	}
	f := fired[0]
	if f.Rule != "ErrorBurst" || f.Labels["service"] != "svc-01" || !f.StartsAt.Equal(end) || !f.Received.Equal(at) || f.Fingerprint != "abc" {
		t.Errorf("fired %+v", f)
	}
	payloads, res, invalid := r.Counts()
	if payloads != 1 || res != 1 || invalid != 1 {
		t.Errorf("counts %d payloads, %d resolved, %d invalid; want 1, 1, 1", payloads, res, invalid)
	}
}

func TestMatchBursts(t *testing.T) {
	b := Bursts{Every: 4 * time.Second, Len: 2 * time.Second}
	epoch := time.Unix(1_000_000_000, 0) // a multiple of 4 s
	const window, lateness = time.Second, 200 * time.Millisecond
	fire := func(end time.Duration, svc string, delay time.Duration) Fired {
		e := epoch.Add(end)
		return Fired{Rule: "ErrorBurst", StartsAt: e, Received: e.Add(lateness + delay), Labels: map[string]string{"service": svc}}
	}
	fired := []Fired{
		fire(time.Second, "svc-0", 10*time.Millisecond),   // burst at 0: first window [0,1)
		fire(time.Second, "svc-1", 30*time.Millisecond),   // same burst, another service
		fire(5*time.Second, "svc-0", 20*time.Millisecond), // burst at 4
		fire(3500*time.Millisecond, "svc-0", 0),           // window [2.5,3.5): after the burst, a false positive
		{Rule: "OtherRule", StartsAt: epoch.Add(time.Second)},
	}
	// Load ran from 0 to 12 s: bursts at 0, 4 and 8 started; the one at 8
	// had until 8+2+0.2+1 = 11.2 s, so it was due too, and was missed.
	m := MatchBursts(fired, "ErrorBurst", b, 2, window, lateness, epoch, epoch.Add(12*time.Second))
	if m.Injected != 3 || m.Detected != 2 || m.Expected != 6 || m.Matched != 3 || m.Unmatched != 1 {
		t.Errorf("match %+v", m)
	}
	d := NewDist(m.LatencyMS)
	if d.Count != 3 || d.Min != 10 || d.P50 != 20 || d.Max != 30 {
		t.Errorf("latency %+v, want 10/20/30 ms", d)
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for q, want := range map[float64]float64{0: 1, 0.5: 3, 0.99: 5, 1: 5, 0.2: 1, 0.21: 2} {
		if got := Quantile(xs, q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if d := NewDist(nil); d.Count != 0 || d.P99 != 0 {
		t.Errorf("empty dist %+v", d)
	}
}
