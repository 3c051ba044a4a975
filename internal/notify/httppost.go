package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Response is the answer to a PostJSON: the status, the headers and the
// start of the body (at most 64 KiB, enough for any service's JSON verdict).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// PostJSON POSTs body as application/json to rawURL and reads the answer,
// for channels that talk to a chat service's webhook. It waits at most
// timeout (when > 0) or until ctx is done.
//
// A 2xx answer returns the Response and a nil error; the caller still judges
// the body (DingTalk and others answer 200 with an error code). Otherwise the
// error is classified for the Dispatcher: network errors, timeouts, 429 and
// 5xx are retryable (a RetryAfter when the answer carries Retry-After); any
// other status wraps ErrPermanent. The Response is returned with the error
// whenever an answer arrived, so the caller can read a service error code
// from it.
//
// The URL is never part of an error: webhook URLs carry access tokens. what
// names the channel in error messages ("posting to dingtalk: ...").
func PostJSON(ctx context.Context, client *http.Client, rawURL string, body []byte, timeout time.Duration, what string) (*Response, error) {
	if client == nil {
		client = http.DefaultClient
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		// The parse error would quote the URL; say only what kind of mistake.
		return nil, fmt.Errorf("building %s request: %w: invalid URL", what, ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "lookout")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("posting to %s: %w", what, RedactURLError(err))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	// Drain a bounded rest so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return r, nil
	}
	snippet := strings.TrimSpace(string(data))
	if len(snippet) > 512 {
		snippet = snippet[:512]
	}
	err = fmt.Errorf("posting to %s: %s: %s", what, resp.Status, snippet)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return r, RetryAfter{After: d, Err: err}
		}
		return r, err
	}
	return r, fmt.Errorf("%w: %w", ErrPermanent, err)
}

// RedactURLError strips the URL from a *url.Error (which net/http returns
// for every failed request) and keeps only the cause, since the URL may hold
// an access token. Other errors are returned as they are.
func RedactURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("%s: %w", uerr.Op, uerr.Err)
	}
	return err
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP date
// (relative to now).
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// CheckHTTPURL reports whether raw is an absolute http or https URL. The
// error never repeats the URL, which may hold a token.
func CheckHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("url must be an absolute http or https URL")
	}
	return nil
}
