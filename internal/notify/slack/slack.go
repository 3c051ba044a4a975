package slack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/template"
)

// Kind is the config type of this channel.
const Kind = "slack"

// DefaultTimeout bounds one POST when the config sets no timeout.
const DefaultTimeout = 10 * time.Second

// Slack's limits on blocks; a message over them is refused as
// invalid_blocks, so lookout cuts to fit.
const (
	maxHeaderChars  = 150
	maxSectionChars = 3000
	maxBlocks       = 50
)

func init() {
	notify.Register(notify.Kind{Name: Kind, NewConfig: func() config.KindConfig { return &Config{} }, New: New})
}

// Config is the settings of a slack notifier, besides name, type, timeout
// and max_age: the chat keys alone, url and the template keys.
type Config = template.ChatConfig

// Notifier posts messages to one Slack incoming webhook. It is safe for
// concurrent use.
type Notifier struct {
	chat   notify.Chat
	render *template.Renderer
}

// New builds a Slack notifier from its url (the incoming webhook), the
// template keys and cfg.Timeout. It is the notify.Factory registered for
// Kind.
func New(cfg config.Notifier, deps notify.Deps) (notify.Notifier, error) {
	c := notify.SettingsOf[Config](cfg)
	chat, r, err := template.Chat(Kind, cfg, *c, deps, DefaultTimeout)
	if err != nil {
		return nil, err
	}
	return &Notifier{chat: chat, render: r}, nil
}

// Payload is the body of an incoming-webhook message. Text is the fallback
// shown in notifications and by clients that cannot draw blocks.
type Payload struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is a header or a section block.
type Block struct {
	Type string `json:"type"`
	Text Text   `json:"text"`
}

// Text is a block's text object: plain_text or mrkdwn.
type Text struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// BuildPayload renders the message: a header block with the title, then the
// mrkdwn body in sections of at most 3000 characters, split between lines.
func (n *Notifier) BuildPayload(m notify.Message) (Payload, error) {
	title, err := n.render.Title(m)
	if err != nil {
		return Payload{}, err
	}
	body, err := n.render.Body(m, template.Slack)
	if err != nil {
		return Payload{}, err
	}
	p := Payload{
		// The fallback is mrkdwn too, so its free text needs Slack's escaping.
		Text:   strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(title),
		Blocks: []Block{{Type: "header", Text: Text{Type: "plain_text", Text: cutRunes(title, maxHeaderChars), Emoji: true}}},
	}
	for _, chunk := range split(strings.TrimSpace(body), maxSectionChars) {
		if len(p.Blocks) == maxBlocks {
			break
		}
		p.Blocks = append(p.Blocks, Block{Type: "section", Text: Text{Type: "mrkdwn", Text: chunk}})
	}
	return p, nil
}

// split cuts s into pieces of at most limit characters, between lines when
// a line break is near, so links and bold stay whole.
func split(s string, limit int) []string {
	var out []string
	for s != "" {
		r := []rune(s)
		if len(r) <= limit {
			out = append(out, s)
			break
		}
		head := string(r[:limit])
		if i := strings.LastIndexByte(head, '\n'); i > 0 {
			head = head[:i]
		}
		out = append(out, head)
		s = strings.TrimLeft(s[len(head):], "\n")
	}
	return out
}

func cutRunes(s string, limit int) string {
	r := []rune(s)
	if len(r) <= limit {
		return s
	}
	return string(r[:limit-1]) + "…"
}

// Send renders and posts the message. Slack answers 200 "ok" on success;
// 429 (with Retry-After, as a notify.RetryAfter), 5xx, network errors and
// timeouts are retried; other answers (400 invalid_payload, 403
// action_prohibited, 404 no_service, 410 channel_is_archived) wrap
// notify.ErrPermanent.
func (n *Notifier) Send(ctx context.Context, m notify.Message) error {
	p, err := n.BuildPayload(m)
	if err != nil {
		return fmt.Errorf("rendering slack message: %w: %w", notify.ErrPermanent, err)
	}
	_, err = n.chat.Post(ctx, n.chat.URL, p)
	return err
}

var _ notify.Notifier = (*Notifier)(nil)
