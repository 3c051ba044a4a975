package notifytest

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/notify"
)

// Check is a receiver's model of the real service: it looks at a request
// before the receiver accepts it and, when the service would refuse it,
// writes the service's refusal and returns false.
type Check func(w http.ResponseWriter, req *http.Request, body []byte) bool

// Receiver is a chat service's webhook endpoint on a real loopback HTTP
// server: each request that passes its Check is kept and answered with
// Status, Header and Answer (OK when Answer is empty). Set Status, Answer
// and Header before the request they are for.
type Receiver struct {
	*httptest.Server
	// OK is the service's answer to an accepted message.
	OK string
	// Status is the HTTP status of the answer; 0 = 200.
	Status int
	// Answer is the body of the answer; "" = OK.
	Answer string
	// Header is added to the answer.
	Header http.Header

	check  Check
	mu     sync.Mutex
	bodies [][]byte
}

// NewReceiver starts a receiver that accepts what check lets through and
// answers ok; it is closed when the test ends.
func NewReceiver(t *testing.T, ok string, check Check) *Receiver {
	r := &Receiver{OK: ok, Header: http.Header{}, check: check}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if r.check != nil && !r.check(w, req, body) {
		return
	}
	r.mu.Lock()
	r.bodies = append(r.bodies, body)
	status, answer := r.Status, r.Answer
	for k, v := range r.Header {
		w.Header()[k] = v
	}
	r.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
	}
	if answer == "" {
		answer = r.OK
	}
	io.WriteString(w, answer)
}

// Received returns the bodies of the accepted requests, in order.
func (r *Receiver) Received() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

// Hanging starts a server that never answers until the request gives up (or
// the test ends), for timeout tests, and returns its URL.
func Hanging(t *testing.T) string {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets Close finish
	return srv.URL
}

// Verdict is what a Send's error should tell the Dispatcher.
type Verdict struct {
	// Err is whether Send failed at all.
	Err bool
	// Permanent is whether the error wraps notify.ErrPermanent.
	Permanent bool
	// RetryAfter is the wait of a notify.RetryAfter; 0 = none.
	RetryAfter time.Duration
}

// CheckVerdict fails the test when err is not the verdict want, or when it
// repeats secret (the token or key in the webhook URL).
func CheckVerdict(t *testing.T, err error, want Verdict, secret string) {
	t.Helper()
	if (err != nil) != want.Err {
		t.Fatalf("err = %v, want error %v", err, want.Err)
	}
	if got := errors.Is(err, notify.ErrPermanent); got != want.Permanent {
		t.Errorf("permanent = %v, want %v (err %v)", got, want.Permanent, err)
	}
	var ra notify.RetryAfter
	if gotRA := errors.As(err, &ra); gotRA != (want.RetryAfter != 0) || ra.After != want.RetryAfter {
		t.Errorf("RetryAfter = %v (found %v), want %v", ra.After, gotRA, want.RetryAfter)
	}
	if err != nil && secret != "" && strings.Contains(err.Error(), secret) {
		t.Errorf("error leaks the webhook's secret part: %v", err)
	}
}
