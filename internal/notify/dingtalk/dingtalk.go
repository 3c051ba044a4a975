package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/template"
)

// Kind is the config type of this channel.
const Kind = "dingtalk"

// DefaultTimeout bounds one POST when the config sets no timeout.
const DefaultTimeout = 10 * time.Second

// RateLimitWait is how long to wait after DingTalk says "send too fast"
// (130101): a robot may send 20 messages a minute.
const RateLimitWait = time.Minute

func init() { notify.Register(Kind, New) }

// Notifier posts messages to one DingTalk robot. It is safe for concurrent use.
type Notifier struct {
	url     string
	secret  string
	timeout time.Duration
	client  *http.Client
	render  *template.Renderer
}

// New builds a DingTalk notifier from cfg.URL (the robot's webhook with its
// access_token), cfg.Secret (optional, for signed robots), the template keys
// and cfg.Timeout. It is the notify.Factory registered for Kind.
func New(cfg config.Notifier, deps notify.Deps) (notify.Notifier, error) {
	if err := notify.CheckHTTPURL(cfg.URL.Reveal()); err != nil {
		return nil, err
	}
	r, err := template.New(template.Options{Lang: cfg.Lang, Title: cfg.Title, Body: cfg.Template,
		BodyFile: cfg.TemplateFile, ExternalURL: deps.ExternalURL})
	if err != nil {
		return nil, err
	}
	n := &Notifier{url: cfg.URL.Reveal(), secret: cfg.Secret.Reveal(), timeout: cfg.Timeout.D(), client: deps.HTTP, render: r}
	if n.timeout <= 0 {
		n.timeout = DefaultTimeout
	}
	return n, nil
}

// Payload is the body of a DingTalk robot markdown message.
type Payload struct {
	MsgType  string   `json:"msgtype"`
	Markdown Markdown `json:"markdown"`
}

// Markdown is the markdown part of a Payload: Title is what the chat list
// and the phone notification show, Text is the message.
type Markdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

// BuildPayload renders the message into a DingTalk markdown payload. The
// text starts with the title as a heading, since DingTalk shows the title
// only in previews.
func (n *Notifier) BuildPayload(m notify.Message) (Payload, error) {
	title, err := n.render.Title(m)
	if err != nil {
		return Payload{}, err
	}
	body, err := n.render.Body(m, template.Markdown)
	if err != nil {
		return Payload{}, err
	}
	return Payload{MsgType: "markdown", Markdown: Markdown{Title: title, Text: "### " + title + "\n\n" + body}}, nil
}

// Sign computes DingTalk's robot signature for a timestamp in Unix
// milliseconds: Base64(HMAC-SHA256(key = secret, message = timestamp + "\n" +
// secret)), before URL encoding.
func Sign(timestampMS int64, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestampMS, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// signedURL appends timestamp and sign to the robot URL when a secret is set.
func (n *Notifier) signedURL(now time.Time) (string, error) {
	if n.secret == "" {
		return n.url, nil
	}
	u, err := url.Parse(n.url)
	if err != nil {
		return "", fmt.Errorf("parsing dingtalk url: %w: invalid URL", notify.ErrPermanent)
	}
	ts := now.UnixMilli()
	q := u.Query()
	q.Set("timestamp", strconv.FormatInt(ts, 10))
	q.Set("sign", Sign(ts, n.secret))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// answer is DingTalk's verdict, sent with HTTP 200.
type answer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// Send renders and posts the message. DingTalk answers HTTP 200 with an
// errcode: 0 is success; -1 (system busy) and 130101 (send too fast) are
// retried, the latter after RateLimitWait; any other code (310000 signature,
// keyword or IP error, 300001 bad token, ...) wraps notify.ErrPermanent, as
// do 4xx answers. Network errors, timeouts, 429 and 5xx are retried.
func (n *Notifier) Send(ctx context.Context, m notify.Message) error {
	p, err := n.BuildPayload(m)
	if err != nil {
		return fmt.Errorf("rendering dingtalk message: %w: %w", notify.ErrPermanent, err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding dingtalk payload: %w: %w", notify.ErrPermanent, err)
	}
	u, err := n.signedURL(time.Now())
	if err != nil {
		return err
	}
	resp, err := notify.PostJSON(ctx, n.client, u, body, n.timeout, "dingtalk")
	if err != nil {
		return err
	}
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.ErrCode == nil {
		// Not DingTalk's answer (a proxy's page?): the message may not have
		// arrived, and a retry is better than a loss.
		return fmt.Errorf("posting to dingtalk: unreadable answer %.200q", resp.Body)
	}
	return classify(*a.ErrCode, a.ErrMsg)
}

// classify turns DingTalk's errcode into the error the Dispatcher acts on.
func classify(code int, msg string) error {
	if code == 0 {
		return nil
	}
	err := fmt.Errorf("posting to dingtalk: errcode %d: %s", code, msg)
	switch code {
	case 130101: // send too fast: 20 messages a minute per robot
		return notify.RetryAfter{After: RateLimitWait, Err: err}
	case -1: // system busy
		return err
	}
	return fmt.Errorf("%w: %w", notify.ErrPermanent, err)
}

var _ notify.Notifier = (*Notifier)(nil)
