package feishu

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/template"
)

// Kind is the config type of this channel.
const Kind = "feishu"

// DefaultTimeout bounds one POST when the config sets no timeout.
const DefaultTimeout = 10 * time.Second

func init() {
	notify.Register(notify.Kind{Name: Kind, NewConfig: func() config.KindConfig { return &Config{} }, New: New})
}

// Config is the settings of a feishu notifier, besides name, type, timeout
// and max_age.
type Config struct {
	template.ChatConfig `yaml:",inline"`
	// Secret signs each request (optional: for robots with signing on).
	Secret config.Secret `yaml:"secret"`
}

// Notifier posts messages to one Feishu custom bot. It is safe for concurrent use.
type Notifier struct {
	chat   notify.Chat
	secret string
	render *template.Renderer
}

// New builds a Feishu notifier from its url (the bot's webhook), secret
// (optional, for bots with signature verification), the template keys and
// cfg.Timeout. It is the notify.Factory registered for Kind.
func New(cfg config.Notifier, deps notify.Deps) (notify.Notifier, error) {
	c := notify.SettingsOf[Config](cfg)
	chat, r, err := template.Chat(Kind, cfg, c.ChatConfig, deps, DefaultTimeout)
	if err != nil {
		return nil, err
	}
	return &Notifier{chat: chat, secret: c.Secret.Reveal(), render: r}, nil
}

// Payload is the body of a Feishu custom bot message. Timestamp and Sign are
// set only when the bot has a secret.
type Payload struct {
	Timestamp string `json:"timestamp,omitempty"`
	Sign      string `json:"sign,omitempty"`
	MsgType   string `json:"msg_type"`
	Card      Card   `json:"card"`
}

// Card is an interactive message card: a coloured header with the title and
// one markdown element with the body.
type Card struct {
	Config   CardConfig `json:"config"`
	Header   Header     `json:"header"`
	Elements []Element  `json:"elements"`
}

// CardConfig lets the card use the chat's full width.
type CardConfig struct {
	WideScreenMode bool `json:"wide_screen_mode"`
}

// Header is a card's title bar; Template is its colour.
type Header struct {
	Title    Text   `json:"title"`
	Template string `json:"template"`
}

// Text is a card text object.
type Text struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

// Element is one card element; lookout uses only markdown.
type Element struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

// BuildPayload renders the message into an unsigned card payload: a red
// header while firing, green once resolved.
func (n *Notifier) BuildPayload(m notify.Message) (Payload, error) {
	title, err := n.render.Title(m)
	if err != nil {
		return Payload{}, err
	}
	body, err := n.render.Body(m, template.Markdown)
	if err != nil {
		return Payload{}, err
	}
	colour := "red"
	if m.Status == notify.StatusResolved {
		colour = "green"
	}
	return Payload{MsgType: "interactive", Card: Card{
		Config:   CardConfig{WideScreenMode: true},
		Header:   Header{Title: Text{Tag: "plain_text", Content: title}, Template: colour},
		Elements: []Element{{Tag: "markdown", Content: body}},
	}}, nil
}

// Sign computes Feishu's custom bot signature for a timestamp in Unix
// seconds, as Feishu documents it: Base64(HMAC-SHA256(key = timestamp + "\n"
// + secret, message = empty)).
func Sign(timestamp int64, secret string) string {
	mac := hmac.New(sha256.New, []byte(strconv.FormatInt(timestamp, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// answer is Feishu's verdict. Current bots answer {"code":0,"msg":...};
// older ones {"StatusCode":0,"StatusMessage":...}.
type answer struct {
	Code          *int   `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int   `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

// Send renders, signs and posts the message. Feishu answers with a code: 0
// is success; 9499 and 11232 (rate limits) are retried; any other code
// (19021 bad signature or stale timestamp, 19022 IP not allowed, 19024
// keyword missing, ...) wraps notify.ErrPermanent, as do 4xx answers that
// carry no rate-limit code. Network errors, timeouts, 429 and 5xx are
// retried.
func (n *Notifier) Send(ctx context.Context, m notify.Message) error {
	p, err := n.BuildPayload(m)
	if err != nil {
		return fmt.Errorf("rendering feishu message: %w: %w", notify.ErrPermanent, err)
	}
	if n.secret != "" {
		ts := time.Now().Unix()
		p.Timestamp, p.Sign = strconv.FormatInt(ts, 10), Sign(ts, n.secret)
	}
	resp, err := n.chat.Post(ctx, n.chat.URL, p)
	if err != nil && resp == nil {
		return err
	}
	var a answer
	jerr := json.Unmarshal(resp.Body, &a)
	code, msg := a.Code, a.Msg
	if code == nil {
		code, msg = a.StatusCode, a.StatusMessage
	}
	if err != nil {
		// Feishu may send a rate limit with a 4xx status; its code is
		// what tells us to retry.
		if code != nil && isRateLimit(*code) && errors.Is(err, notify.ErrPermanent) {
			return fmt.Errorf("posting to feishu: code %d: %s", *code, msg)
		}
		return err
	}
	if jerr != nil || code == nil {
		// Not Feishu's answer: the message may not have arrived, and a
		// retry is better than a loss.
		return fmt.Errorf("posting to feishu: unreadable answer %.200q", resp.Body)
	}
	if *code == 0 {
		return nil
	}
	cerr := fmt.Errorf("posting to feishu: code %d: %s", *code, msg)
	if isRateLimit(*code) {
		return cerr
	}
	return fmt.Errorf("%w: %w", notify.ErrPermanent, cerr)
}

// isRateLimit reports Feishu's "too many requests" codes.
func isRateLimit(code int) bool { return code == 9499 || code == 11232 }

var _ notify.Notifier = (*Notifier)(nil)
