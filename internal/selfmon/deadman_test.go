package selfmon

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// countingTransport answers every request with status and counts them. The
// real HTTP path (an httptest receiver) is covered end to end; here the
// schedule is under test, in a synctest bubble where time is fake.
type countingTransport struct {
	n      atomic.Int64
	status int
	last   atomic.Pointer[http.Request]
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	c.last.Store(r)
	return &http.Response{StatusCode: c.status, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

func TestDeadmanPingsOnlyWhileHealthy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		url     string
		healthy bool
		want    int64
	}{
		{"healthy: one ping per interval", "https://hc-ping.example/abc", true, 5},
		{"unhealthy: no ping", "https://hc-ping.example/abc", false, 0},
		{"no url: off", "", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := &countingTransport{status: 200}
				d := &Deadman{
					Settings: func() (string, time.Duration) { return tc.url, time.Minute },
					Healthy:  func(context.Context) (bool, string) { return tc.healthy, "store behind" },
					HTTP:     &http.Client{Transport: tr},
					Log:      slog.New(slog.DiscardHandler),
				}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() { d.Run(ctx); close(done) }()
				time.Sleep(5*time.Minute + time.Second)
				synctest.Wait()
				cancel()
				<-done
				if got := tr.n.Load(); got != tc.want {
					t.Errorf("%d pings in 5 intervals, want %d", got, tc.want)
				}
				if r := tr.last.Load(); r != nil && (r.Method != http.MethodGet || r.URL.String() != tc.url) {
					t.Errorf("ping was %s %s, want GET %s", r.Method, r.URL, tc.url)
				}
			})
		})
	}
}

func TestDeadmanPingReportsFailureWithoutTheURL(t *testing.T) {
	d := &Deadman{HTTP: &http.Client{Transport: &countingTransport{status: 503}}}
	err := d.Ping(t.Context(), "https://hc-ping.example/secret-uuid")
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Ping = %v, want a status 503 error", err)
	}
	d.HTTP = &http.Client{Transport: failing{}}
	err = d.Ping(t.Context(), "https://hc-ping.example/secret-uuid")
	if err == nil || strings.Contains(err.Error(), "secret-uuid") {
		t.Fatalf("Ping = %v, want an error that does not show the URL", err)
	}
}

type failing struct{}

func (failing) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, io.ErrUnexpectedEOF
}
