package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
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

func init() {
	notify.Register(notify.Kind{Name: Kind, NewConfig: func() config.KindConfig { return &Config{} }, New: New})
}

// Config is the settings of a dingtalk notifier, besides name, type, timeout
// and max_age.
type Config struct {
	template.ChatConfig `yaml:",inline"`
	// Secret signs each request (optional: for robots with signing on).
	Secret config.Secret `yaml:"secret"`
}

// Notifier posts messages to one DingTalk robot. It is safe for concurrent use.
type Notifier struct {
	chat   notify.Chat
	secret string
	render *template.Renderer
}

// New builds a DingTalk notifier from its url (the robot's webhook with its
// access_token), its secret (optional, for signed robots), the template keys
// and cfg.Timeout. It is the notify.Factory registered for Kind.
func New(cfg config.Notifier, deps notify.Deps) (notify.Notifier, error) {
	c := notify.SettingsOf[Config](cfg)
	chat, r, err := template.Chat(Kind, cfg, c.ChatConfig, deps, DefaultTimeout)
	if err != nil {
		return nil, err
	}
	return &Notifier{chat: chat, secret: c.Secret.Reveal(), render: r}, nil
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
		return n.chat.URL, nil
	}
	u, err := url.Parse(n.chat.URL)
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
	u, err := n.signedURL(time.Now())
	if err != nil {
		return err
	}
	resp, err := n.chat.Post(ctx, u, p)
	if err != nil {
		return err
	}
	// 130101 is "send too fast": 20 messages a minute per robot.
	return notify.CheckErrCode(resp.Body, Kind, 130101, RateLimitWait)
}

var _ notify.Notifier = (*Notifier)(nil)
