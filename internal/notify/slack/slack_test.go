package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/notifytest"
	"github.com/lookout-dev/lookout/internal/notify/slack"
	"github.com/lookout-dev/lookout/internal/notify/template"
)

// hook is a Slack incoming webhook as the real service behaves: it checks
// the path, the JSON and Slack's block limits (answering 400 invalid_blocks
// like Slack does), then answers 200 "ok" or what the test asks for.
type hook struct{ *notifytest.Receiver }

func newHook(t *testing.T) *hook {
	return &hook{notifytest.NewReceiver(t, "ok", func(w http.ResponseWriter, req *http.Request, body []byte) bool {
		if req.Method != http.MethodPost || req.URL.Path != "/services/T000/B000/XXXX" {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "no_service")
			return false
		}
		var p slack.Payload
		if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &p) != nil || (p.Text == "" && len(p.Blocks) == 0) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "invalid_payload")
			return false
		}
		if msg := checkBlocks(p.Blocks); msg != "" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "invalid_blocks: "+msg)
			return false
		}
		return true
	})}
}

func checkBlocks(bs []slack.Block) string {
	if len(bs) > 50 {
		return "more than 50 blocks"
	}
	for _, b := range bs {
		n := utf8.RuneCountInString(b.Text.Text)
		switch {
		case b.Type == "header" && (b.Text.Type != "plain_text" || n > 150):
			return "bad header"
		case b.Type == "section" && (b.Text.Type != "mrkdwn" && b.Text.Type != "plain_text" || n > 3000 || n == 0):
			return "bad section"
		case b.Type != "header" && b.Type != "section":
			return "unknown block " + b.Type
		}
	}
	return ""
}

// received returns the bodies of the accepted messages and what they say.
func (h *hook) received() ([][]byte, []slack.Payload) {
	bodies := h.Received()
	payloads := make([]slack.Payload, len(bodies))
	for i, b := range bodies {
		_ = json.Unmarshal(b, &payloads[i]) // the hook accepted only valid ones
	}
	return bodies, payloads
}

func (h *hook) url() config.Secret { return config.Secret(h.URL + "/services/T000/B000/XXXX") }

func newNotifier(t *testing.T, c slack.Config) notify.Notifier {
	t.Helper()
	return notifytest.NewNotifier(t, "chat", slack.Kind, config.Notifier{Settings: &c})
}

func TestPayloadGolden(t *testing.T) {
	for _, tc := range notifytest.Messages() {
		t.Run(tc.Name, func(t *testing.T) {
			h := newHook(t)
			if err := newNotifier(t, slack.Config{URL: h.url()}).Send(context.Background(), tc.Msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			bodies, _ := h.received()
			if len(bodies) != 1 {
				t.Fatalf("hook accepted %d messages, want 1", len(bodies))
			}
			notifytest.Golden(t, tc.Name, bodies[0])
		})
	}
}

func TestEscapesAndLinks(t *testing.T) {
	h := newHook(t)
	m := notifytest.Messages()[0].Msg
	a := m.Alerts[0]
	a.Summary = "p99 > 2s & <rising>"
	m.Alerts = []event.Alert{a}
	if err := newNotifier(t, slack.Config{URL: h.url()}).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	_, ps := h.received()
	text := ps[0].Blocks[1].Text.Text
	for _, want := range []string{
		"- Summary: p99 &gt; 2s &amp; &lt;rising&gt;",
		"<http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71|Alert on the dashboard>",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("section lacks %q:\n%s", want, text)
		}
	}
	if ps[0].Text != "[FIRING] HighErrorRate critical service=checkout" {
		t.Errorf("fallback text = %q", ps[0].Text)
	}
}

func TestLongBodyIsSplitIntoSections(t *testing.T) {
	h := newHook(t)
	m := notifytest.Messages()[0].Msg
	var alerts []event.Alert
	for range 40 {
		a := m.Alerts[0]
		a.Summary = strings.Repeat("word ", 60)
		alerts = append(alerts, a)
	}
	m.Alerts = alerts
	if err := newNotifier(t, slack.Config{URL: h.url()}).Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	_, ps := h.received()
	if len(ps[0].Blocks) < 4 {
		t.Fatalf("got %d blocks, want the body split into several sections", len(ps[0].Blocks))
	}
	var joined []string
	for _, b := range ps[0].Blocks[1:] {
		joined = append(joined, b.Text.Text)
	}
	if got := strings.Count(strings.Join(joined, "\n"), "- Summary: "); got != 40 {
		t.Errorf("sections hold %d summaries, want all 40", got)
	}
}

func TestSendClassifiesAnswers(t *testing.T) {
	tests := []struct {
		name           string
		status         int
		answer         string
		retryAfter     string
		wantErr        bool
		wantPermanent  bool
		wantRetryAfter time.Duration
	}{
		{name: "200 ok", status: 200, answer: "ok"},
		{name: "400 invalid_payload", status: 400, answer: "invalid_payload", wantErr: true, wantPermanent: true},
		{name: "403 action_prohibited", status: 403, answer: "action_prohibited", wantErr: true, wantPermanent: true},
		{name: "404 no_service", status: 404, answer: "no_service", wantErr: true, wantPermanent: true},
		{name: "410 channel_is_archived", status: 410, answer: "channel_is_archived", wantErr: true, wantPermanent: true},
		{name: "429 retry-after", status: 429, answer: "rate_limited", retryAfter: "30", wantErr: true, wantRetryAfter: 30 * time.Second},
		{name: "500", status: 500, answer: "rollup_error", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHook(t)
			h.Status, h.Answer = tt.status, tt.answer
			if tt.retryAfter != "" {
				h.Header.Set("Retry-After", tt.retryAfter)
			}
			err := newNotifier(t, slack.Config{URL: h.url()}).Send(context.Background(), notifytest.Messages()[0].Msg)
			notifytest.CheckVerdict(t, err, notifytest.Verdict{Err: tt.wantErr, Permanent: tt.wantPermanent, RetryAfter: tt.wantRetryAfter}, "XXXX")
		})
	}
}

func TestNetworkErrorIsRetryableAndRedacted(t *testing.T) {
	h := newHook(t)
	u := h.url()
	h.Close()
	err := newNotifier(t, slack.Config{URL: u}).Send(context.Background(), notifytest.Messages()[0].Msg)
	if err == nil || errors.Is(err, notify.ErrPermanent) || strings.Contains(err.Error(), "XXXX") {
		t.Fatalf("err = %v, want a retryable error without the URL", err)
	}
}

func TestTemplateFile(t *testing.T) {
	h := newHook(t)
	path := t.TempDir() + "/slack.tmpl"
	if err := writeFile(path, "{{ range .Alerts }}{{ bold .Rule }} on {{ .Labels.service }}{{ end }}"); err != nil {
		t.Fatal(err)
	}
	if err := newNotifier(t, slack.Config{URL: h.url(), Config: template.Config{TemplateFile: path}}).Send(context.Background(), notifytest.Messages()[0].Msg); err != nil {
		t.Fatal(err)
	}
	_, ps := h.received()
	if got := ps[0].Blocks[1].Text.Text; got != "*HighErrorRate* on checkout" {
		t.Errorf("section = %q, want the user template's rendering", got)
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
