package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/notifytest"
	"github.com/lookout-dev/lookout/internal/notify/webhook"
)

// The sample alerts are notifytest's, the same as every channel's golden
// tests send.
var (
	since    = notifytest.Since
	firing   = notifytest.Firing
	resolved = notifytest.Resolved
)

// request is what the test receiver saw.
type request struct {
	method, contentType string
	body                []byte
}

// receiver is a real HTTP server that answers with the given status codes in
// turn (the last one repeating) and keeps every request.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []request
	statuses []int
	header   http.Header
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses, header: http.Header{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, request{req.Method, req.Header.Get("Content-Type"), body})
		code := http.StatusOK
		if len(r.statuses) > 0 {
			code = r.statuses[0]
			if len(r.statuses) > 1 {
				r.statuses = r.statuses[1:]
			}
		}
		for k, v := range r.header {
			w.Header()[k] = v
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		io.WriteString(w, http.StatusText(code))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

func newNotifier(t *testing.T, url string, timeout time.Duration) notify.Notifier {
	t.Helper()
	n, err := notify.New(config.Notifier{Name: "ops", Type: webhook.Kind, Settings: &webhook.Config{URL: config.Secret(url)}, Timeout: config.Duration(timeout)},
		notify.Deps{ExternalURL: "http://lookout.example:9470"})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPayloadGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  notify.Message
	}{
		{"firing", notify.Message{Receiver: "ops", Status: notify.StatusFiring, Alerts: []event.Alert{firing()}}},
		{"resolved", notify.Message{Receiver: "ops", Status: notify.StatusResolved, Alerts: []event.Alert{resolved()}}},
		{"two_alerts", notify.Message{Receiver: "ops", Status: notify.StatusFiring, Alerts: []event.Alert{
			firing(),
			func() event.Alert {
				a := firing()
				a.Labels = map[string]string{"service": "search"}
				a.Fingerprint = "0a1b2c3d4e5f6071"
				a.Summary = "search error rate 0.2"
				return a
			}(),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, http.StatusOK)
			n := newNotifier(t, rcv.URL+"/hook", 0)
			if err := n.Send(context.Background(), tt.msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := rcv.requests()
			if len(reqs) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(reqs))
			}
			if reqs[0].method != http.MethodPost || reqs[0].contentType != "application/json" {
				t.Errorf("got %s with Content-Type %q, want POST application/json", reqs[0].method, reqs[0].contentType)
			}
			notifytest.Golden(t, tt.name, reqs[0].body)
		})
	}
}

func TestSendClassifiesAnswers(t *testing.T) {
	tests := []struct {
		name           string
		status         int
		retryAfter     string
		wantErr        bool
		wantPermanent  bool
		wantRetryAfter time.Duration // 0: no RetryAfter expected
	}{
		{name: "200 ok", status: 200},
		{name: "204 ok", status: 204},
		{name: "400 permanent", status: 400, wantErr: true, wantPermanent: true},
		{name: "404 permanent", status: 404, wantErr: true, wantPermanent: true},
		{name: "500 retryable", status: 500, wantErr: true},
		{name: "502 retryable", status: 502, wantErr: true},
		{name: "429 with seconds", status: 429, retryAfter: "7", wantErr: true, wantRetryAfter: 7 * time.Second},
		{name: "503 with seconds", status: 503, retryAfter: "120", wantErr: true, wantRetryAfter: 2 * time.Minute},
		{name: "429 with bad header", status: 429, retryAfter: "soon", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, tt.status)
			if tt.retryAfter != "" {
				rcv.header.Set("Retry-After", tt.retryAfter)
			}
			err := newNotifier(t, rcv.URL, 0).Send(context.Background(), notify.Message{Receiver: "ops", Status: "firing", Alerts: []event.Alert{firing()}})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("errors.Is(err, ErrPermanent) = %v, want %v (err %v)", got, tt.wantPermanent, err)
			}
			var ra notify.RetryAfter
			gotRA := errors.As(err, &ra)
			if gotRA != (tt.wantRetryAfter != 0) || ra.After != tt.wantRetryAfter {
				t.Errorf("RetryAfter = %v (found %v), want %v", ra.After, gotRA, tt.wantRetryAfter)
			}
		})
	}
}

func TestSendRetryAfterHTTPDate(t *testing.T) {
	rcv := newReceiver(t, 503)
	rcv.header.Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	err := newNotifier(t, rcv.URL, 0).Send(context.Background(), notify.Message{Receiver: "ops", Alerts: []event.Alert{firing()}})
	var ra notify.RetryAfter
	if !errors.As(err, &ra) || ra.After < 58*time.Minute || ra.After > time.Hour {
		t.Fatalf("err = %v, want a RetryAfter of about 1h", err)
	}
}

func TestSendNetworkErrorIsRetryable(t *testing.T) {
	rcv := newReceiver(t, 200)
	url := rcv.URL
	rcv.Close() // nothing listens there any more
	err := newNotifier(t, url, 0).Send(context.Background(), notify.Message{Receiver: "ops", Alerts: []event.Alert{firing()}})
	if err == nil || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

func TestSendTimeout(t *testing.T) {
	err := newNotifier(t, notifytest.Hanging(t), 50*time.Millisecond).Send(context.Background(), notify.Message{Receiver: "ops", Alerts: []event.Alert{firing()}})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("err = %v, want a retryable deadline exceeded", err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "not a url", "ftp://x/y", "/relative"} {
		t.Run(u, func(t *testing.T) {
			if _, err := notify.New(config.Notifier{Name: "ops", Type: webhook.Kind, Settings: &webhook.Config{URL: config.Secret(u)}}, notify.Deps{}); err == nil {
				t.Fatalf("New accepted url %q", u)
			}
		})
	}
}

// TestDispatcherRetriesUntilDelivered drives the real dispatcher and the real
// webhook against a receiver that fails three times: the alert must arrive
// exactly once, after backoffs of about 1s, 2s and 4s on the fake clock.
func TestDispatcherRetriesUntilDelivered(t *testing.T) {
	rcv := newReceiver(t, 500, 500, 500, 200)
	clk := notifytest.NewClock(since)
	records := make(chan event.Transition, 16)
	d, err := notify.NewDispatcher(notify.Options{
		Notifiers:  map[string]notify.Notifier{"ops": newNotifier(t, rcv.URL, 0)},
		OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
		Clock:      clk,
		Record:     func(tr event.Transition) { records <- tr },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()

	if err := d.Enqueue(firing()); err != nil {
		t.Fatal(err)
	}
	for i, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		select {
		case w := <-clk.Waits():
			if w > base || w < base*8/10 {
				t.Errorf("backoff %d = %v, want in [%v, %v]", i+1, w, base*8/10, base)
			}
			clk.Advance(w)
		case <-time.After(10 * time.Second):
			t.Fatalf("dispatcher never waited for retry %d", i+1)
		}
	}
	var decisions []string
	for len(decisions) < 2 {
		select {
		case tr := <-records:
			decisions = append(decisions, tr.Decision)
		case <-time.After(10 * time.Second):
			t.Fatalf("decisions so far %q, want a retry and a send", decisions)
		}
	}
	if decisions[0] != "retrying ops: posting webhook: 500 Internal Server Error: Internal Server Error" || decisions[1] != "sent to ops" {
		t.Errorf("decisions = %q", decisions)
	}
	cancel()
	<-done
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	reqs := rcv.requests()
	if len(reqs) != 4 {
		t.Fatalf("receiver got %d requests, want 4 (3 failed + 1 delivered)", len(reqs))
	}
	for _, r := range reqs[1:] {
		if !bytes.Equal(r.body, reqs[0].body) {
			t.Errorf("retry sent a different payload:\n%s\n%s", r.body, reqs[0].body)
		}
	}
	if d.Pending() != 0 {
		t.Errorf("Pending = %d after delivery, want 0", d.Pending())
	}
	select {
	case tr := <-records:
		t.Errorf("unexpected extra decision %q", tr.Decision)
	default:
	}
}
