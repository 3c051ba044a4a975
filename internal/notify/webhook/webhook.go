package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
)

// Kind is the config type of this channel.
const Kind = "webhook"

// DefaultTimeout bounds one POST when the config sets no timeout.
const DefaultTimeout = 10 * time.Second

func init() {
	notify.Register(notify.Kind{Name: Kind, NewConfig: func() config.KindConfig { return &Config{} }, New: New})
}

// Config is the settings of a webhook notifier, besides name, type, timeout
// and max_age.
type Config struct {
	// URL receives the POSTs; it may hold a token, so it is a secret.
	URL config.Secret `yaml:"url"`
}

// Defaults does nothing: url is required.
func (*Config) Defaults() {}

// Validate checks that url is an http(s) URL.
func (c *Config) Validate(v *config.Validator) {
	v.Required("url", c.URL == "")
	if c.URL != "" {
		v.HTTPURL("url", c.URL.Reveal())
	}
}

// Notifier POSTs messages to one URL. It is safe for concurrent use.
type Notifier struct {
	url         string
	timeout     time.Duration
	client      *http.Client
	externalURL string
}

// New builds a webhook notifier from its url and cfg.Timeout. It is the
// notify.Factory registered for Kind.
func New(cfg config.Notifier, deps notify.Deps) (notify.Notifier, error) {
	raw := notify.SettingsOf[Config](cfg).URL.Reveal()
	if err := notify.CheckHTTPURL(raw); err != nil {
		return nil, err
	}
	n := &Notifier{
		url:         raw,
		timeout:     cfg.Timeout.D(),
		client:      deps.HTTP,
		externalURL: deps.ExternalURL,
	}
	if n.timeout <= 0 {
		n.timeout = DefaultTimeout
	}
	if n.client == nil {
		n.client = &http.Client{}
	}
	return n, nil
}

// Payload is the Alertmanager webhook body, version "4". Field order and
// names follow Alertmanager's own webhook.Message so the bytes match.
type Payload struct {
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []Alert           `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
}

// Alert is one alert of a Payload, as Alertmanager writes it.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// BuildPayload turns a message into the Alertmanager body. externalURL is
// used when the message carries none.
func BuildPayload(m notify.Message, externalURL string) Payload {
	if m.ExternalURL != "" {
		externalURL = m.ExternalURL
	}
	externalURL = strings.TrimSuffix(externalURL, "/")
	p := Payload{
		Receiver:          m.Receiver,
		Status:            m.Status,
		Alerts:            make([]Alert, 0, len(m.Alerts)),
		ExternalURL:       externalURL,
		Version:           "4",
		CommonAnnotations: map[string]string{},
	}
	for i, a := range m.Alerts {
		labels := alertLabels(a)
		ann := map[string]string{"summary": a.Summary}
		al := Alert{
			Status:       notify.StatusOf(a),
			Labels:       labels,
			Annotations:  ann,
			StartsAt:     a.Since.UTC(),
			GeneratorURL: externalURL + "/#/alerts?fingerprint=" + url.QueryEscape(a.Fingerprint),
			Fingerprint:  a.Fingerprint,
		}
		if al.Status == notify.StatusResolved {
			al.EndsAt = a.ResolvedAt.UTC()
		}
		p.Alerts = append(p.Alerts, al)
		if i == 0 {
			p.CommonLabels = maps.Clone(labels)
			p.CommonAnnotations = maps.Clone(ann)
			continue
		}
		intersect(p.CommonLabels, labels)
		intersect(p.CommonAnnotations, ann)
	}
	if p.CommonLabels == nil {
		p.CommonLabels = map[string]string{}
	}
	// lookout groups by rule, which Alertmanager would express as a route
	// with group_by: [alertname].
	p.GroupLabels = map[string]string{}
	if name, ok := p.CommonLabels["alertname"]; ok {
		p.GroupLabels["alertname"] = name
	}
	p.GroupKey = "{}:" + formatLabels(p.GroupLabels)
	return p
}

// alertLabels returns the alert's labels plus alertname and severity, which
// Alertmanager receivers expect to find among the labels.
func alertLabels(a event.Alert) map[string]string {
	l := make(map[string]string, len(a.Labels)+2)
	maps.Copy(l, a.Labels)
	if _, ok := l["alertname"]; !ok {
		l["alertname"] = a.Rule
	}
	if _, ok := l["severity"]; !ok && a.Severity != "" {
		l["severity"] = a.Severity
	}
	return l
}

func intersect(common, m map[string]string) {
	for k, v := range common {
		if m[k] != v {
			delete(common, k)
		}
	}
}

// formatLabels writes labels the way Alertmanager writes a group key:
// {a="1", b="2"}.
func formatLabels(l map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(l)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, l[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Send POSTs the message and waits for the answer. A 2xx answer is success;
// 429 and 5xx answers and network errors are retryable (a notify.RetryAfter
// when the answer carries Retry-After); any other answer wraps
// notify.ErrPermanent.
func (n *Notifier) Send(ctx context.Context, m notify.Message) error {
	body, err := json.Marshal(BuildPayload(m, n.externalURL))
	if err != nil {
		return fmt.Errorf("encoding webhook payload: %w: %w", notify.ErrPermanent, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building webhook request: %w: %w", notify.ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lookout")
	resp, err := n.client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may hold a token; keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("posting webhook: %w", err)
	}
	defer resp.Body.Close()
	// Read a little of the body for the error message, and drain the rest
	// (bounded) so the connection can be reused.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("posting webhook: %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		if d, ok := notify.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return notify.RetryAfter{After: d, Err: err}
		}
		return err
	}
	return fmt.Errorf("%w: %w", notify.ErrPermanent, err)
}

var _ notify.Notifier = (*Notifier)(nil)
