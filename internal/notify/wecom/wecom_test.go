package wecom_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/notifytest"
	"github.com/lookout-dev/lookout/internal/notify/template"
	"github.com/lookout-dev/lookout/internal/notify/wecom"
)

// robot is a WeCom group robot endpoint as the real service behaves: it
// checks the key, the message type and WeCom's 4096-byte limit on markdown
// content, answering HTTP 200 with an errcode.
type robot struct{ *notifytest.Receiver }

// markdown is the part of a WeCom robot message the robot reads.
type markdown struct {
	MsgType  string `json:"msgtype"`
	Markdown *struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

func newRobot(t *testing.T) *robot {
	return &robot{notifytest.NewReceiver(t, `{"errcode":0,"errmsg":"ok"}`, func(w http.ResponseWriter, req *http.Request, body []byte) bool {
		if req.Method != http.MethodPost || req.URL.Path != "/cgi-bin/webhook/send" || req.URL.Query().Get("key") != "KEY-42" {
			io.WriteString(w, `{"errcode":93000,"errmsg":"invalid webhook url"}`)
			return false
		}
		var p markdown
		if err := json.Unmarshal(body, &p); err != nil || p.MsgType != "markdown" || p.Markdown == nil {
			io.WriteString(w, `{"errcode":40008,"errmsg":"invalid message type"}`)
			return false
		}
		if len(p.Markdown.Content) > 4096 || !utf8.ValidString(p.Markdown.Content) {
			io.WriteString(w, `{"errcode":40058,"errmsg":"markdown.content exceed max length 4096"}`)
			return false
		}
		return true
	})}
}

// received returns the markdown contents and the bodies of the accepted
// messages.
func (r *robot) received() ([]string, [][]byte) {
	bodies := r.Received()
	contents := make([]string, len(bodies))
	for i, b := range bodies {
		var p markdown
		_ = json.Unmarshal(b, &p) // the robot accepted only valid ones
		contents[i] = p.Markdown.Content
	}
	return contents, bodies
}

func (r *robot) url() config.Secret { return config.Secret(r.URL + "/cgi-bin/webhook/send?key=KEY-42") }

func newNotifier(t *testing.T, c wecom.Config) notify.Notifier {
	t.Helper()
	return notifytest.NewNotifier(t, "wx", wecom.Kind, config.Notifier{Settings: &c})
}

func TestPayloadGolden(t *testing.T) {
	for _, tc := range notifytest.Messages() {
		t.Run(tc.Name, func(t *testing.T) {
			rb := newRobot(t)
			if err := newNotifier(t, wecom.Config{URL: rb.url()}).Send(context.Background(), tc.Msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			_, bodies := rb.received()
			if len(bodies) != 1 {
				t.Fatalf("robot accepted %d messages, want 1", len(bodies))
			}
			notifytest.Golden(t, tc.Name, bodies[0])
		})
	}
}

func TestLongContentIsCutOnARuneBoundary(t *testing.T) {
	for _, filler := range []string{"x", "错", "é"} {
		t.Run(filler, func(t *testing.T) {
			rb := newRobot(t)
			m := notifytest.Messages()[0].Msg
			a := m.Alerts[0]
			a.Summary = strings.Repeat(filler, 5000)
			m.Alerts = []event.Alert{a}
			if err := newNotifier(t, wecom.Config{URL: rb.url()}).Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			contents, _ := rb.received()
			if len(contents) != 1 {
				t.Fatalf("robot accepted %d messages, want 1", len(contents))
			}
			c := contents[0]
			if len(c) > 4096 || len(c) < 4090 || !strings.HasSuffix(c, "…(truncated)") {
				t.Errorf("content is %d bytes ending %q, want at most 4096 (and nearly that) ending with the note", len(c), c[max(0, len(c)-20):])
			}
			if !strings.HasPrefix(c, "**[FIRING] HighErrorRate critical service=checkout**") {
				t.Errorf("content starts %q", c[:60])
			}
		})
	}
}

func TestUserTemplateOverridesDefault(t *testing.T) {
	rb := newRobot(t)
	n := newNotifier(t, wecom.Config{URL: rb.url(), Config: template.Config{
		Title:    "{{ .Rule }} is {{ .Status }}",
		Template: `{{ range .Alerts }}{{ .Labels.service }} at {{ value .Value }}: {{ link "see" .DashboardURL }}{{ end }}`}})
	if err := n.Send(context.Background(), notifytest.Messages()[0].Msg); err != nil {
		t.Fatal(err)
	}
	contents, _ := rb.received()
	want := "**HighErrorRate is firing**\n\ncheckout at 0.125: [see](http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71)\n"
	if len(contents) != 1 || contents[0] != want {
		t.Fatalf("content = %q, want %q", contents, want)
	}
}

func TestChineseTemplate(t *testing.T) {
	rb := newRobot(t)
	if err := newNotifier(t, wecom.Config{URL: rb.url(), Config: template.Config{Lang: "zh-CN"}}).Send(context.Background(), notifytest.Messages()[0].Msg); err != nil {
		t.Fatal(err)
	}
	contents, _ := rb.received()
	for _, want := range []string{"**[告警] HighErrorRate 严重 service=checkout**", "- 状态：告警中", "- 数值：0.125", "- 摘要：checkout error rate 0.125", "[查看原始事件](http://lookout.example:9470/#/raw?"} {
		if !strings.Contains(contents[0], want) {
			t.Errorf("content lacks %q:\n%s", want, contents[0])
		}
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
		{name: "errcode 0", answer: `{"errcode":0,"errmsg":"ok"}`},
		{name: "errcode 45009 rate limit", answer: `{"errcode":45009,"errmsg":"api freq out of limit"}`, wantErr: true, wantRetryAfter: time.Minute},
		{name: "errcode -1 busy", answer: `{"errcode":-1,"errmsg":"system busy"}`, wantErr: true},
		{name: "errcode 93000 bad key", answer: `{"errcode":93000,"errmsg":"invalid webhook url"}`, wantErr: true, wantPermanent: true},
		{name: "errcode 40058 too long", answer: `{"errcode":40058,"errmsg":"exceed max length"}`, wantErr: true, wantPermanent: true},
		{name: "not json", answer: `gateway`, wantErr: true},
		{name: "http 502", status: 502, answer: `bad gateway`, wantErr: true},
		{name: "http 429 retry-after", status: 429, answer: `slow`, retryAfter: "12", wantErr: true, wantRetryAfter: 12 * time.Second},
		{name: "http 403", status: 403, answer: `forbidden`, wantErr: true, wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rb := newRobot(t)
			rb.Status, rb.Answer = tt.status, tt.answer
			if tt.retryAfter != "" {
				rb.Header.Set("Retry-After", tt.retryAfter)
			}
			err := newNotifier(t, wecom.Config{URL: rb.url()}).Send(context.Background(), notifytest.Messages()[0].Msg)
			notifytest.CheckVerdict(t, err, notifytest.Verdict{Err: tt.wantErr, Permanent: tt.wantPermanent, RetryAfter: tt.wantRetryAfter}, "KEY-42")
		})
	}
}

func TestNetworkErrorIsRetryableAndRedacted(t *testing.T) {
	rb := newRobot(t)
	u := rb.url()
	rb.Close()
	err := newNotifier(t, wecom.Config{URL: u}).Send(context.Background(), notifytest.Messages()[0].Msg)
	if err == nil || errors.Is(err, notify.ErrPermanent) || strings.Contains(err.Error(), "KEY-42") {
		t.Fatalf("err = %v, want a retryable error without the key", err)
	}
}
