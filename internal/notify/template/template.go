package template

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"maps"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
)

// Flavour is the markup a body is rendered in.
type Flavour int

// The flavours: what each chat service and each email part understands.
const (
	// Markdown is CommonMark-ish: **bold**, [text](url). DingTalk, WeCom
	// and Feishu cards read it.
	Markdown Flavour = iota
	// Slack is Slack's mrkdwn: *bold*, <url|text>, with &, < and > escaped.
	Slack
	// Text is plain text, links written out; the text part of an email.
	Text
	// HTML is the HTML part of an email.
	HTML
)

// The languages of the built-in templates.
const (
	LangEN = "en"
	LangZH = "zh-CN"
)

// Options configure a Renderer; they mirror the notifier config keys.
type Options struct {
	// Lang is LangEN (also when empty) or LangZH.
	Lang string
	// Title replaces the built-in title template when set (config title).
	Title string
	// Body replaces the built-in body template when set (config template).
	Body string
	// BodyFile is read into Body when Body is empty (config template_file).
	BodyFile string
	// ExternalURL is used for links when a Message carries none.
	ExternalURL string
	// TraceURL is config server.trace_url: an alert's exemplar trace links
	// to it with {trace_id} replaced.
	TraceURL string
}

// Config is the template keys every chat and email notifier has. Kinds embed
// it in their settings with `yaml:",inline"`, so the keys are the kind's own.
type Config struct {
	// Title and Template override the message's title and body (Go
	// text/template); TemplateFile reads the body template from a file
	// instead. Lang picks the built-in templates: en (default) or zh-CN.
	Title        string `yaml:"title"`
	Template     string `yaml:"template"`
	TemplateFile string `yaml:"template_file"`
	Lang         string `yaml:"lang"`
}

// Validate checks lang and template_file, making a relative template_file
// absolute from the config file's directory.
func (c *Config) Validate(v *config.Validator) {
	switch c.Lang {
	case "", LangEN, LangZH:
	default:
		v.Errorf("lang", "%q is not a language (en or zh-CN)", c.Lang)
	}
	if c.TemplateFile != "" {
		if c.Template != "" {
			v.Errorf("template_file", "set template or template_file, not both")
		}
		c.TemplateFile = v.File("template_file", c.TemplateFile)
	}
}

// ForNotifier returns the renderer of a notifier's template keys, with
// links to deps.ExternalURL when a Message carries none and trace links
// through deps.TraceURL.
func ForNotifier(c Config, deps notify.Deps) (*Renderer, error) {
	return New(Options{Lang: c.Lang, Title: c.Title, Body: c.Template,
		BodyFile: c.TemplateFile, ExternalURL: deps.ExternalURL, TraceURL: deps.TraceURL})
}

// ChatConfig is the settings every chat channel (dingtalk, feishu, slack,
// wecom) has: the webhook it posts to and the template keys. A kind with
// keys of its own embeds it inline; one without uses it as its Config.
type ChatConfig struct {
	// URL is the channel's incoming webhook. It carries the channel's
	// token, so it is a secret.
	URL    config.Secret `yaml:"url"`
	Config `yaml:",inline"`
}

// Defaults does nothing: url is required and every template key is
// optional.
func (c *ChatConfig) Defaults() {}

// Validate checks that url is an http(s) URL, and the template keys.
func (c *ChatConfig) Validate(v *config.Validator) {
	v.Required("url", c.URL == "")
	if c.URL != "" {
		v.HTTPURL("url", c.URL.Reveal())
	}
	c.Config.Validate(v)
}

// Chat builds what every chat channel's New starts with: its checked webhook
// url (notify.NewChat, bounded by cfg's timeout or defaultTimeout when it
// sets none) and the renderer of the template keys.
func Chat(kind string, cfg config.Notifier, c ChatConfig, deps notify.Deps, defaultTimeout time.Duration) (notify.Chat, *Renderer, error) {
	chat, err := notify.NewChat(kind, c.URL, cfg.Timeout, deps, defaultTimeout)
	if err != nil {
		return notify.Chat{}, nil, err
	}
	r, err := ForNotifier(c.Config, deps)
	if err != nil {
		return notify.Chat{}, nil, err
	}
	return chat, r, nil
}

// Renderer renders Messages. It is safe for concurrent use: templates are
// parsed once in New and only executed afterwards.
type Renderer struct {
	lang        string
	externalURL string
	traceURL    string
	title       *texttemplate.Template
	// body holds a parsed body per text flavour (Markdown, Slack, Text).
	body     map[Flavour]*texttemplate.Template
	html     *htmltemplate.Template
	userBody bool
}

// Data is what title and body templates see as ".".
type Data struct {
	// Status is "firing" or "resolved".
	Status   string
	Receiver string
	// Rule is the rule of the alerts when they share one, else empty.
	Rule string
	// Severity is the alerts' severity when they share one, else empty.
	Severity string
	// Labels are the labels every alert has with the same value.
	Labels      map[string]string
	ExternalURL string
	Alerts      []Alert
}

// Alert is one alert as templates see it.
type Alert struct {
	Rule     string
	Severity string
	// Status is "firing" or "resolved".
	Status string
	// Labels are the alert's labels: the group_by values and the rule's labels.
	Labels      map[string]string
	Value       float64
	Summary     string
	Fingerprint string
	Since       time.Time
	// ResolvedAt is zero while the alert fires.
	ResolvedAt time.Time
	// DashboardURL and RawURL link back to lookout; empty when lookout's
	// external URL is not known.
	DashboardURL string
	RawURL       string
	// TraceID is the trace of the event behind the alert's value (a
	// window exemplar), TraceURL its link (server.trace_url); both empty
	// when the alert has none, TraceURL also when trace_url is not set.
	TraceID  string
	TraceURL string
}

// New parses the templates opts describe. A user template that does not parse
// (or a template file that cannot be read) is an error naming the config key,
// so the notifier fails at load rather than at its first alert.
func New(opts Options) (*Renderer, error) {
	switch opts.Lang {
	case "":
		opts.Lang = LangEN
	case LangEN, LangZH:
	default:
		return nil, fmt.Errorf("lang %q is not en or zh-CN", opts.Lang)
	}
	if opts.Body == "" && opts.BodyFile != "" {
		data, err := os.ReadFile(opts.BodyFile)
		if err != nil {
			return nil, fmt.Errorf("reading template_file: %w", err)
		}
		opts.Body = string(data)
	}
	r := &Renderer{
		lang:        opts.Lang,
		externalURL: opts.ExternalURL,
		traceURL:    opts.TraceURL,
		body:        map[Flavour]*texttemplate.Template{},
		userBody:    opts.Body != "",
	}
	title, titleKey := defaultTitle, "built-in title"
	if opts.Title != "" {
		title, titleKey = opts.Title, "title"
	}
	var err error
	// A title is one plain line on every service, so it gets the Text funcs.
	if r.title, err = texttemplate.New("title").Option("missingkey=zero").Funcs(r.funcs(Text)).Parse(title); err != nil {
		return nil, fmt.Errorf("parsing %s template: %w", titleKey, err)
	}
	body, bodyKey := defaultBody, "built-in body"
	if r.userBody {
		body, bodyKey = opts.Body, "template"
	}
	for _, f := range []Flavour{Markdown, Slack, Text} {
		t, err := texttemplate.New("body").Option("missingkey=zero").Funcs(r.funcs(f)).Parse(body)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", bodyKey, err)
		}
		r.body[f] = t
	}
	if r.html, err = htmltemplate.New("html").Funcs(htmltemplate.FuncMap(r.funcs(HTML))).Parse(defaultHTML); err != nil {
		return nil, fmt.Errorf("parsing built-in HTML template: %w", err)
	}
	return r, nil
}

// Title renders the message's title: one line, plain text.
func (r *Renderer) Title(m notify.Message) (string, error) {
	var b bytes.Buffer
	if err := r.title.Execute(&b, r.data(m, Text)); err != nil {
		return "", fmt.Errorf("rendering title: %w", err)
	}
	// A title is one line: a user template's stray newlines would break
	// email subjects and card headers.
	return strings.Join(strings.Fields(b.String()), " "), nil
}

// Body renders the message's body in flavour f. With a user template, the
// HTML flavour is the Text rendering shown as preformatted text.
func (r *Renderer) Body(m notify.Message, f Flavour) (string, error) {
	var b bytes.Buffer
	switch {
	case f == HTML && r.userBody:
		text, err := r.Body(m, Text)
		if err != nil {
			return "", err
		}
		return "<pre>" + htmltemplate.HTMLEscapeString(text) + "</pre>\n", nil
	case f == HTML:
		if err := r.html.Execute(&b, r.data(m, HTML)); err != nil {
			return "", fmt.Errorf("rendering HTML body: %w", err)
		}
	default:
		t, ok := r.body[f]
		if !ok {
			return "", fmt.Errorf("rendering body: unknown flavour %d", f)
		}
		if err := t.Execute(&b, r.data(m, f)); err != nil {
			return "", fmt.Errorf("rendering body: %w", err)
		}
	}
	return strings.TrimSpace(b.String()) + "\n", nil
}

// data builds the template data. For Slack the free-text fields are escaped
// as Slack requires (&, <, >); URLs are left alone since they go inside
// <url|text> links built by the link function.
func (r *Renderer) data(m notify.Message, f Flavour) Data {
	ext := m.ExternalURL
	if ext == "" {
		ext = r.externalURL
	}
	ext = strings.TrimSuffix(ext, "/")
	esc := func(s string) string { return s }
	if f == Slack {
		esc = slackEscape
	}
	d := Data{Status: m.Status, Receiver: m.Receiver, ExternalURL: ext}
	if d.Status == "" && len(m.Alerts) > 0 {
		d.Status = notify.StatusOf(m.Alerts[0])
	}
	for i, a := range m.Alerts {
		labels := make(map[string]string, len(a.Labels))
		for k, v := range a.Labels {
			labels[esc(k)] = esc(v)
		}
		al := Alert{
			Rule:        esc(a.Rule),
			Severity:    esc(a.Severity),
			Status:      notify.StatusOf(a),
			Labels:      labels,
			Value:       a.Value,
			Summary:     esc(a.Summary),
			Fingerprint: a.Fingerprint,
			Since:       a.Since,
		}
		if al.Status == notify.StatusResolved {
			al.ResolvedAt = a.ResolvedAt
		}
		if id := a.Exemplar.TraceID; id != "" {
			al.TraceID = id
			if r.traceURL != "" {
				al.TraceURL = strings.ReplaceAll(r.traceURL, "{trace_id}", url.PathEscape(id))
			}
		}
		if ext != "" {
			al.DashboardURL = ext + "/#/alerts?fingerprint=" + url.QueryEscape(a.Fingerprint)
			al.RawURL = ext + "/#/raw?" + rawQuery(a)
		}
		d.Alerts = append(d.Alerts, al)
		if i == 0 {
			d.Rule, d.Severity, d.Labels = al.Rule, al.Severity, maps.Clone(labels)
			continue
		}
		if d.Rule != al.Rule {
			d.Rule = ""
		}
		if d.Severity != al.Severity {
			d.Severity = ""
		}
		for k, v := range d.Labels {
			if labels[k] != v {
				delete(d.Labels, k)
			}
		}
	}
	return d
}

// rawQuery selects the raw events behind an alert: its rule, its group
// labels (group.K=V, as /api/v1/windows takes them) and where to start.
func rawQuery(a event.Alert) string {
	q := url.Values{}
	q.Set("rule", a.Rule)
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		q.Set("group."+k, a.Labels[k])
	}
	if !a.Since.IsZero() {
		q.Set("since", a.Since.UTC().Format(time.RFC3339))
	}
	return q.Encode()
}

// funcs returns the template functions for a flavour and the renderer's
// language.
func (r *Renderer) funcs(f Flavour) texttemplate.FuncMap {
	dict := dictionaries[r.lang]
	tr := func(s string) string {
		if v, ok := dict[s]; ok {
			return v
		}
		return s
	}
	fm := texttemplate.FuncMap{
		"t":     tr,
		"kv":    func(k, v string) string { return tr(k) + tr(": ") + v },
		"time":  formatTime,
		"value": FormatValue,
		"join":  strings.Join,
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
	}
	switch f {
	case Markdown:
		fm["bold"] = func(s string) string { return "**" + s + "**" }
		fm["link"] = func(text, u string) string { return "[" + text + "](" + u + ")" }
	case Slack:
		fm["bold"] = func(s string) string { return "*" + s + "*" }
		fm["link"] = func(text, u string) string { return "<" + u + "|" + slackEscape(text) + ">" }
	case Text:
		fm["bold"] = func(s string) string { return s }
		fm["link"] = func(text, u string) string { return text + ": " + u }
	case HTML:
		// html/template escapes on its own; these only have to exist so
		// the HTML template may use them.
		fm["bold"] = func(s string) string { return s }
		fm["link"] = func(text, u string) string { return text + ": " + u }
	}
	return fm
}

func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

// FormatValue writes a number for people: six significant digits, without
// an exponent in the range people read at a glance.
func FormatValue(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	if a := math.Abs(r); a == 0 || (a >= 1e-4 && a < 1e15) {
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	return strconv.FormatFloat(r, 'g', -1, 64)
}

// Truncate cuts s to at most limit bytes on a UTF-8 boundary, ending it with
// note when it had to cut, so services with a size limit get a readable
// message instead of a rejected one.
func Truncate(s string, limit int, note string) string {
	if len(s) <= limit {
		return s
	}
	cut := limit - len(note)
	if cut < 0 {
		return ""
	}
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

// utf8RuneStart reports whether b can begin a UTF-8 encoded rune (it is not a
// continuation byte 10xxxxxx).
func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
