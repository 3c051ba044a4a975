package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sender delivers one batch of NDJSON lines to lookout by some transport:
// the push API, or a broker lookout consumes from.
//
// Send blocks until the batch was taken or ctx ended, and is safe for
// concurrent use. A Sender never drops a batch on back-pressure: it waits
// as told and sends the same batch again, reporting how often in the Reply.
// An error means the batch was not delivered (ctx ended, or lookout refused
// it for good, e.g. 401); the caller counts it as unsent.
type Sender interface {
	Send(ctx context.Context, body []byte) (Reply, error)
}

// Reply is what happened to one batch.
type Reply struct {
	// Accepted and Rejected are lookout's counts when the transport reports
	// them (the push API does; a broker does not, and sets Accepted to the
	// number of lines written).
	Accepted, Rejected int
	// Throttled and Unavailable count the 429 and 503 answers before the
	// batch was taken; Waited is the time spent honouring Retry-After.
	Throttled, Unavailable int
	Waited                 time.Duration
}

// Push sends batches to POST /api/v1/events.
type Push struct {
	url    string
	token  string
	client *http.Client
	// sleep waits d or until ctx ends; a field so tests can observe the
	// back-off without waiting it out.
	sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetryAfter is how long Push waits after a 429/503 without a usable
// Retry-After header.
const DefaultRetryAfter = time.Second

// maxNetworkRetries bounds retries of a batch that failed on the network
// (connection refused or reset): lookout has most likely gone.
const maxNetworkRetries = 5

// NewPush returns a sender to the push API at target (http://host:port) for
// the named push source. conns is how many connections may be kept open;
// use the number of sending goroutines.
func NewPush(target, source, token string, conns int) (*Push, error) {
	u, err := url.Parse(strings.TrimSuffix(target, "/") + "/api/v1/events")
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("parsing target %q: not an http URL", target)
	}
	q := u.Query()
	q.Set("source", source)
	u.RawQuery = q.Encode()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(conns, 2)
	return &Push{
		url: u.String(), token: token,
		client: &http.Client{Transport: tr, Timeout: time.Minute},
		sleep:  sleepCtx,
	}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pushResult is the push API's answer.
type pushResult struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
}

// Send posts body, waiting out 429 and 503 answers as their Retry-After
// says and posting the same body again.
func (p *Push) Send(ctx context.Context, body []byte) (Reply, error) {
	var r Reply
	netFails := 0
	for {
		status, hdr, resp, err := p.post(ctx, body)
		if err != nil {
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
			netFails++
			if netFails > maxNetworkRetries {
				return r, fmt.Errorf("posting batch: %w", err)
			}
			if err := p.sleep(ctx, 100*time.Millisecond); err != nil {
				return r, err
			}
			continue
		}
		switch status {
		case http.StatusOK, http.StatusBadRequest:
			// 400 is "nothing accepted": a batch of only bad lines. The
			// counts still say what happened to each line.
			var pr pushResult
			if err := json.Unmarshal(resp, &pr); err != nil || (status == http.StatusBadRequest && pr.Rejected == 0) {
				return r, fmt.Errorf("posting batch: %d %s", status, snippet(resp))
			}
			r.Accepted, r.Rejected = pr.Accepted, pr.Rejected
			return r, nil
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			if status == http.StatusTooManyRequests {
				r.Throttled++
			} else {
				r.Unavailable++
			}
			d := retryAfter(hdr.Get("Retry-After"))
			r.Waited += d
			if err := p.sleep(ctx, d); err != nil {
				return r, err
			}
		default:
			return r, fmt.Errorf("posting batch: %d %s", status, snippet(resp))
		}
	}
}

func (p *Push) post(ctx context.Context, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, b, nil
}

// retryAfter reads Retry-After as delay seconds (lookout sends those); an
// absent or unreadable one means DefaultRetryAfter.
func retryAfter(v string) time.Duration {
	s, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || s < 0 {
		return DefaultRetryAfter
	}
	return time.Duration(s * float64(time.Second))
}

func snippet(b []byte) string {
	const n = 200
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// errNoSender is returned for a target scheme without a sender.
var errNoSender = errors.New("no sender for this target")

// NewSender picks the sender for target by its scheme. Only http(s), the
// push API, exists so far; a broker sender plugs in here.
func NewSender(target, source, token string, conns int) (Sender, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("parsing target: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
		return NewPush(target, source, token, conns)
	}
	return nil, fmt.Errorf("target %q: %w (supported: http://host:port, the push API)", target, errNoSender)
}

var _ Sender = (*Push)(nil)

// hostOf returns host:port of an http URL, with the scheme's default port.
func hostOf(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}
