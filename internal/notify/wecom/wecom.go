package wecom

import (
	"context"
	"fmt"
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

func init() {
	notify.Register(notify.Kind{Name: Kind, NewConfig: func() config.KindConfig { return &Config{} }, New: New})
}

// Config is the settings of a wecom notifier, besides name, type, timeout
// and max_age: the chat keys alone, url and the template keys.
type Config = template.ChatConfig

// Notifier posts messages to one WeCom group robot. It is safe for concurrent use.
type Notifier struct {
	chat   notify.Chat
	render *template.Renderer
}

// New builds a WeCom notifier from its url (the robot's webhook with its
// key), the template keys and cfg.Timeout. It is the notify.Factory
// registered for Kind.
func New(cfg config.Notifier, deps notify.Deps) (notify.Notifier, error) {
	c := notify.SettingsOf[Config](cfg)
	chat, r, err := template.Chat(Kind, cfg, *c, deps, DefaultTimeout)
	if err != nil {
		return nil, err
	}
	return &Notifier{chat: chat, render: r}, nil
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
	resp, err := n.chat.Post(ctx, n.chat.URL, p)
	if err != nil {
		return err
	}
	// 45009 is "api freq out of limit": 20 messages a minute per robot.
	return notify.CheckErrCode(resp.Body, Kind, 45009, RateLimitWait)
}

var _ notify.Notifier = (*Notifier)(nil)
