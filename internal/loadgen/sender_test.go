package loadgen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// answer is one scripted reply of the fake push API.
type answer struct {
	status     int
	retryAfter string
	body       string
}

// pushAPI answers POST /api/v1/events from a script and keeps the bodies.
type pushAPI struct {
	mu      sync.Mutex
	script  []answer
	bodies  [][]byte
	queries []string
	auth    []string
}

func (p *pushAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bodies = append(p.bodies, b)
	p.queries = append(p.queries, r.URL.Path+"?"+r.URL.RawQuery)
	p.auth = append(p.auth, r.Header.Get("Authorization"))
	a := p.script[0]
	if len(p.script) > 1 {
		p.script = p.script[1:]
	}
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func TestPushRetriesThrottledBatch(t *testing.T) {
	ok := answer{200, "", `{"accepted":3,"rejected":1,"errors":[{"line":2,"error":"bad"}]}`}
	full := answer{429, "2", `{"error":"pipeline full, retry later"}`}
	for _, tc := range []struct {
		name       string
		script     []answer
		wantSleeps []time.Duration
		want       Reply
		wantErr    string
	}{
		{"taken at once", []answer{ok}, nil, Reply{Accepted: 3, Rejected: 1}, ""},
		{"429 twice then taken", []answer{full, full, ok},
			[]time.Duration{2 * time.Second, 2 * time.Second},
			Reply{Accepted: 3, Rejected: 1, Throttled: 2, Waited: 4 * time.Second}, ""},
		{"503 without Retry-After waits the default", []answer{{503, "", `{"error":"stopping"}`}, ok},
			[]time.Duration{DefaultRetryAfter},
			Reply{Accepted: 3, Rejected: 1, Unavailable: 1, Waited: DefaultRetryAfter}, ""},
		{"only bad lines is 400 with counts", []answer{{400, "", `{"accepted":0,"rejected":4,"errors":[]}`}}, nil,
			Reply{Rejected: 4}, ""},
		{"401 is not retried", []answer{{401, "", `{"error":"missing token"}`}}, nil, Reply{}, "401"},
		{"413 is not retried", []answer{{413, "", `{"error":"too large"}`}}, nil, Reply{}, "413"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &pushAPI{script: tc.script}
			srv := httptest.NewServer(api)
			defer srv.Close()
			p, err := NewPush(srv.URL, "edge", "s3cret", 2)
			if err != nil {
				t.Fatal(err)
			}
			var sleeps []time.Duration
			p.sleep = func(_ context.Context, d time.Duration) error {
				sleeps = append(sleeps, d)
				return nil
			}
			body := []byte("{\"a\":1}\nnot json\n{\"a\":2}\n{\"a\":3}\n")
			r, err := p.Send(t.Context(), body)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Send error = %v, want one mentioning %s", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if r != tc.want {
				t.Errorf("reply %+v, want %+v", r, tc.want)
			}
			if !slices.Equal(sleeps, tc.wantSleeps) {
				t.Errorf("slept %v, want %v", sleeps, tc.wantSleeps)
			}
			// Every attempt carries the same batch: nothing is dropped or
			// split on back-pressure.
			for i, b := range api.bodies {
				if !bytes.Equal(b, body) {
					t.Errorf("attempt %d sent %q, want the original batch", i+1, b)
				}
				if api.queries[i] != "/api/v1/events?source=edge" || api.auth[i] != "Bearer s3cret" {
					t.Errorf("attempt %d went to %s with %q", i+1, api.queries[i], api.auth[i])
				}
			}
			if want := len(tc.wantSleeps) + 1; len(api.bodies) != want {
				t.Errorf("%d attempts, want %d", len(api.bodies), want)
			}
		})
	}
}

func TestPushStopsWhenContextEnds(t *testing.T) {
	api := &pushAPI{script: []answer{{429, "1", ""}}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	p, _ := NewPush(srv.URL, "push", "", 1)
	ctx, cancel := context.WithCancel(t.Context())
	p.sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}
	r, err := p.Send(ctx, []byte("{}\n"))
	if err == nil || r.Throttled != 1 {
		t.Fatalf("Send = %+v, %v; want one 429 and the context's error", r, err)
	}
}

func TestPushGivesUpOnDeadServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	p, _ := NewPush(url, "push", "", 1)
	tries := 0
	p.sleep = func(context.Context, time.Duration) error { tries++; return nil }
	if _, err := p.Send(t.Context(), []byte("{}\n")); err == nil {
		t.Fatal("Send to a closed server succeeded")
	}
	if tries != maxNetworkRetries {
		t.Errorf("%d retries, want %d", tries, maxNetworkRetries)
	}
}

func TestNewSender(t *testing.T) {
	if _, err := NewSender("http://127.0.0.1:9470", "push", "", 1); err != nil {
		t.Errorf("http target: %v", err)
	}
	if _, err := NewSender("kafka://127.0.0.1:9092", "push", "", 1); err == nil {
		t.Error("kafka target accepted, but there is no kafka sender yet")
	}
}

func TestRetryAfter(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1": time.Second, "0": 0, "2.5": 2500 * time.Millisecond, "": DefaultRetryAfter,
		"Wed, 21 Oct 2015 07:28:00 GMT": DefaultRetryAfter, "-3": DefaultRetryAfter,
	} {
		if got := retryAfter(in); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
