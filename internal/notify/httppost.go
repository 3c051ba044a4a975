package notify

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

	"github.com/lookout-dev/lookout/internal/config"
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

// Chat is the HTTP side that the chat channels (dingtalk, wecom, feishu,
// slack) share: a webhook URL that may hold a token, the bound of one POST
// and the client. It is safe for concurrent use.
type Chat struct {
	// What names the channel in error messages ("posting to dingtalk: ...").
	What    string
	URL     string
	Timeout time.Duration
	Client  *http.Client
}

// NewChat checks url (an absolute http or https URL; the error never
// repeats it) and returns the chat webhook at it for the channel what,
// bounded by timeout, or defaultTimeout when that is 0.
func NewChat(what string, url config.Secret, timeout config.Duration, deps Deps, defaultTimeout time.Duration) (Chat, error) {
	if err := CheckHTTPURL(url.Reveal()); err != nil {
		return Chat{}, err
	}
	c := Chat{What: what, URL: url.Reveal(), Timeout: timeout.D(), Client: deps.HTTP}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	return c, nil
}

// Post encodes payload as JSON and posts it with PostJSON to url: c.URL, or
// a signed copy of it. An encoding failure wraps ErrPermanent, since a retry
// would fail the same way.
func (c Chat) Post(ctx context.Context, url string, payload any) (*Response, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encoding %s payload: %w: %w", c.What, ErrPermanent, err)
	}
	return PostJSON(ctx, c.Client, url, body, c.Timeout, c.What)
}

// errCodeAnswer is the verdict DingTalk and WeCom robots send with HTTP 200.
type errCodeAnswer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// CheckErrCode judges the {"errcode":N,"errmsg":"..."} answer that DingTalk
// and WeCom robots send with HTTP 200: errcode 0 is success; -1 (system
// busy) is retried; rateLimitCode is retried after rateLimitWait (a
// RetryAfter); any other code wraps ErrPermanent. A body that is not such an
// answer (a proxy's page?) is retried: the message may not have arrived, and
// a retry is better than a loss.
func CheckErrCode(body []byte, what string, rateLimitCode int, rateLimitWait time.Duration) error {
	var a errCodeAnswer
	if err := json.Unmarshal(body, &a); err != nil || a.ErrCode == nil {
		return fmt.Errorf("posting to %s: unreadable answer %.200q", what, body)
	}
	code := *a.ErrCode
	if code == 0 {
		return nil
	}
	err := fmt.Errorf("posting to %s: errcode %d: %s", what, code, a.ErrMsg)
	switch code {
	case rateLimitCode:
		return RetryAfter{After: rateLimitWait, Err: err}
	case -1: // system busy
		return err
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}
