package wecom

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/template"
)

// Kind is the config type of this channel.
const Kind = "wecom"

// DefaultTimeout bounds one POST when the config sets no timeout.
const DefaultTimeout = 10 * time.Second

// MaxContentBytes is WeCom's limit on markdown content; longer content is
// refused by the service, so it is cut to fit.
const MaxContentBytes = 4096

// RateLimitWait is how long to wait after WeCom says the robot sends too
// much (45009): a robot may send 20 messages a minute.
const RateLimitWait = time.Minute

// truncatedNote ends content that had to be cut.
const truncatedNote = "\n\n…(truncated)"

func init() { notify.Register(Kind, New) }

// Notifier posts messages to one WeCom group robot. It is safe for concurrent use.
type Notifier struct {
	url     string
	timeout time.Duration
	client  *http.Client
	render  *template.Renderer
}

// New builds a WeCom notifier from cfg.URL (the robot's webhook with its
// key), the template keys and cfg.Timeout. It is the notify.Factory
// registered for Kind.
func New(cfg config.Notifier, deps notify.Deps) (notify.Notifier, error) {
	if err := notify.CheckHTTPURL(cfg.URL.Reveal()); err != nil {
		return nil, err
	}
	r, err := template.New(template.Options{Lang: cfg.Lang, Title: cfg.Title, Body: cfg.Template,
		BodyFile: cfg.TemplateFile, ExternalURL: deps.ExternalURL})
	if err != nil {
		return nil, err
	}
	n := &Notifier{url: cfg.URL.Reveal(), timeout: cfg.Timeout.D(), client: deps.HTTP, render: r}
	if n.timeout <= 0 {
		n.timeout = DefaultTimeout
	}
	return n, nil
}

// Payload is the body of a WeCom robot markdown message.
type Payload struct {
	MsgType  string   `json:"msgtype"`
	Markdown Markdown `json:"markdown"`
}

// Markdown is the markdown part of a Payload.
type Markdown struct {
	Content string `json:"content"`
}

// BuildPayload renders the message: the title in bold on the first line
// (WeCom messages have no title field), then the body, cut to
// MaxContentBytes on a UTF-8 boundary with a note when too long.
func (n *Notifier) BuildPayload(m notify.Message) (Payload, error) {
	title, err := n.render.Title(m)
	if err != nil {
		return Payload{}, err
	}
	body, err := n.render.Body(m, template.Markdown)
	if err != nil {
		return Payload{}, err
	}
	content := template.Truncate("**"+title+"**\n\n"+body, MaxContentBytes, truncatedNote)
	return Payload{MsgType: "markdown", Markdown: Markdown{Content: content}}, nil
}

type answer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// Send renders and posts the message. WeCom answers HTTP 200 with an
// errcode: 0 is success; -1 (system busy) and 45009 (rate limit) are
// retried, the latter after RateLimitWait; any other code (93000 bad
// webhook key, 40058 bad content, ...) wraps notify.ErrPermanent, as do 4xx
// answers. Network errors, timeouts, 429 and 5xx are retried.
func (n *Notifier) Send(ctx context.Context, m notify.Message) error {
	p, err := n.BuildPayload(m)
	if err != nil {
		return fmt.Errorf("rendering wecom message: %w: %w", notify.ErrPermanent, err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding wecom payload: %w: %w", notify.ErrPermanent, err)
	}
	resp, err := notify.PostJSON(ctx, n.client, n.url, body, n.timeout, "wecom")
	if err != nil {
		return err
	}
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.ErrCode == nil {
		// Not WeCom's answer: the message may not have arrived, and a
		// retry is better than a loss.
		return fmt.Errorf("posting to wecom: unreadable answer %.200q", resp.Body)
	}
	return classify(*a.ErrCode, a.ErrMsg)
}

func classify(code int, msg string) error {
	if code == 0 {
		return nil
	}
	err := fmt.Errorf("posting to wecom: errcode %d: %s", code, msg)
	switch code {
	case 45009: // api freq out of limit
		return notify.RetryAfter{After: RateLimitWait, Err: err}
	case -1: // system busy
		return err
	}
	return fmt.Errorf("%w: %w", notify.ErrPermanent, err)
}

var _ notify.Notifier = (*Notifier)(nil)
