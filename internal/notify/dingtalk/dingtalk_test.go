package dingtalk_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/dingtalk"
	"github.com/lookout-dev/lookout/internal/notify/notifytest"
	"github.com/lookout-dev/lookout/internal/notify/template"
)

// newRobot starts a DingTalk robot endpoint as the real service behaves: it checks
// the access token, and, when it has a secret, the signature exactly as
// DingTalk documents it (recomputed here from the secret and the received
// timestamp, never with the code under test), rejecting a mismatch or a
// timestamp more than an hour off with errcode 310000 and HTTP 200.
func newRobot(t *testing.T, secret string) *notifytest.Receiver {
	return notifytest.NewReceiver(t, `{"errcode":0,"errmsg":"ok"}`, func(w http.ResponseWriter, req *http.Request, _ []byte) bool {
		w.Header().Set("Content-Type", "application/json")
		q := req.URL.Query()
		if req.Method != http.MethodPost || req.URL.Path != "/robot/send" || q.Get("access_token") != "TOKEN123" {
			io.WriteString(w, `{"errcode":300001,"errmsg":"token is not exist"}`)
			return false
		}
		if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
			io.WriteString(w, `{"errcode":43004,"errmsg":"invalid content type"}`)
			return false
		}
		if secret != "" {
			ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
			if err != nil || time.Since(time.UnixMilli(ts)).Abs() > time.Hour {
				io.WriteString(w, `{"errcode":310000,"errmsg":"sign not match, more: [timestamp is over one hour]"}`)
				return false
			}
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(q.Get("timestamp") + "\n" + secret))
			// q.Get has already URL-decoded the sign, as DingTalk does.
			if q.Get("sign") != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
				io.WriteString(w, `{"errcode":310000,"errmsg":"sign not match"}`)
				return false
			}
		}
		return true
	})
}

func newNotifier(t *testing.T, c dingtalk.Config) notify.Notifier {
	t.Helper()
	return newNotifierWith(t, config.Notifier{}, c)
}

// newNotifierWith builds the notifier of envelope with settings c.
func newNotifierWith(t *testing.T, envelope config.Notifier, c dingtalk.Config) notify.Notifier {
	t.Helper()
	cfg := envelope
	cfg.Settings = &c
	return notifytest.NewNotifier(t, "ding", dingtalk.Kind, cfg)
}

func TestPayloadGolden(t *testing.T) {
	for _, signed := range []bool{false, true} {
		for _, tc := range notifytest.Messages() {
			name := tc.Name
			secret := ""
			if signed {
				name += "_signed"
				secret = "SEC0123456789abcdef"
			}
			t.Run(name, func(t *testing.T) {
				rb := newRobot(t, secret)
				n := newNotifier(t, dingtalk.Config{ChatConfig: template.ChatConfig{URL: config.Secret(rb.URL + "/robot/send?access_token=TOKEN123")}, Secret: config.Secret(secret)})
				if err := n.Send(context.Background(), tc.Msg); err != nil {
					t.Fatalf("Send: %v", err)
				}
				got := rb.Received()
				if len(got) != 1 {
					t.Fatalf("robot accepted %d messages, want 1", len(got))
				}
				// The signature travels in the URL, so signed and unsigned
				// bodies are the same bytes.
				notifytest.Golden(t, tc.Name, got[0])
			})
		}
	}
}

func TestWrongSecretIsPermanent(t *testing.T) {
	rb := newRobot(t, "the-right-secret")
	n := newNotifier(t, dingtalk.Config{ChatConfig: template.ChatConfig{URL: config.Secret(rb.URL + "/robot/send?access_token=TOKEN123")}, Secret: "a-wrong-secret"})
	err := n.Send(context.Background(), notifytest.Messages()[0].Msg)
	if !errors.Is(err, notify.ErrPermanent) || !strings.Contains(err.Error(), "310000") {
		t.Fatalf("err = %v, want a permanent 310000 error", err)
	}
	if len(rb.Received()) != 0 {
		t.Fatal("robot accepted a message with a wrong signature")
	}
}

func TestSignKnownVector(t *testing.T) {
	// Computed outside Go with the recipe of DingTalk's documentation:
	// python3 -c "import hmac,hashlib,base64; s=b'SEC-example';
	// print(base64.b64encode(hmac.new(s, b'1700000000000\n'+s, hashlib.sha256).digest()).decode())"
	const want = "Q7aaP99yyzdhi28n7EfYsanxv8lOWozU7g5iKwLmNuI="
	if got := dingtalk.Sign(1700000000000, "SEC-example"); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
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
		{name: "errcode 310000 keyword", answer: `{"errcode":310000,"errmsg":"keywords not in content"}`, wantErr: true, wantPermanent: true},
		{name: "errcode 300001 token", answer: `{"errcode":300001,"errmsg":"token is not exist"}`, wantErr: true, wantPermanent: true},
		{name: "errcode 130101 too fast", answer: `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`, wantErr: true, wantRetryAfter: time.Minute},
		{name: "errcode -1 busy", answer: `{"errcode":-1,"errmsg":"system busy"}`, wantErr: true},
		{name: "not json", answer: `<html>gateway</html>`, wantErr: true},
		{name: "http 500", status: 500, answer: `oops`, wantErr: true},
		{name: "http 429 retry-after", status: 429, answer: `slow down`, retryAfter: "30", wantErr: true, wantRetryAfter: 30 * time.Second},
		{name: "http 404", status: 404, answer: `not found`, wantErr: true, wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rb := newRobot(t, "")
			rb.Status, rb.Answer = tt.status, tt.answer
			if tt.retryAfter != "" {
				rb.Header.Set("Retry-After", tt.retryAfter)
			}
			n := newNotifier(t, dingtalk.Config{ChatConfig: template.ChatConfig{URL: config.Secret(rb.URL + "/robot/send?access_token=TOKEN123")}})
			err := n.Send(context.Background(), notifytest.Messages()[0].Msg)
			notifytest.CheckVerdict(t, err, notifytest.Verdict{Err: tt.wantErr, Permanent: tt.wantPermanent, RetryAfter: tt.wantRetryAfter}, "TOKEN123")
		})
	}
}

func TestNetworkErrorIsRetryableAndRedacted(t *testing.T) {
	rb := newRobot(t, "")
	u := rb.URL + "/robot/send?access_token=TOKEN123"
	rb.Close()
	err := newNotifier(t, dingtalk.Config{ChatConfig: template.ChatConfig{URL: config.Secret(u)}}).Send(context.Background(), notifytest.Messages()[0].Msg)
	if err == nil || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
	if strings.Contains(err.Error(), "TOKEN123") || strings.Contains(err.Error(), "access_token") {
		t.Errorf("error leaks the URL: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	n := newNotifierWith(t, config.Notifier{Timeout: config.Duration(50 * time.Millisecond)},
		dingtalk.Config{ChatConfig: template.ChatConfig{URL: config.Secret(notifytest.Hanging(t) + "/robot/send?access_token=x")}})
	err := n.Send(context.Background(), notifytest.Messages()[0].Msg)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("err = %v, want a retryable deadline exceeded", err)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  dingtalk.Config
	}{
		{"no url", dingtalk.Config{}},
		{"ftp url", dingtalk.Config{ChatConfig: template.ChatConfig{URL: "ftp://x/robot/send"}}},
		{"bad title template", dingtalk.Config{ChatConfig: template.ChatConfig{URL: "https://oapi.dingtalk.com/robot/send?access_token=x", Config: template.Config{Title: "{{ .Rule "}}}},
		{"bad body template", dingtalk.Config{ChatConfig: template.ChatConfig{URL: "https://oapi.dingtalk.com/robot/send?access_token=x", Config: template.Config{Template: "{{ range }}"}}}},
		{"missing template file", dingtalk.Config{ChatConfig: template.ChatConfig{URL: "https://oapi.dingtalk.com/robot/send?access_token=x", Config: template.Config{TemplateFile: "/nonexistent/lookout.tmpl"}}}},
		{"bad lang", dingtalk.Config{ChatConfig: template.ChatConfig{URL: "https://oapi.dingtalk.com/robot/send?access_token=x", Config: template.Config{Lang: "fr"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Notifier{Name: "ding", Type: dingtalk.Kind, Settings: &tt.cfg}
			if _, err := notify.New(cfg, notify.Deps{}); err == nil {
				t.Fatal("New accepted the config")
			} else if strings.Contains(err.Error(), "access_token") {
				t.Errorf("error leaks the URL: %v", err)
			}
		})
	}
}

// TestChineseTemplate checks what a zh-CN robot message says.
func TestChineseTemplate(t *testing.T) {
	rb := newRobot(t, "")
	n := newNotifier(t, dingtalk.Config{ChatConfig: template.ChatConfig{URL: config.Secret(rb.URL + "/robot/send?access_token=TOKEN123"), Config: template.Config{Lang: "zh-CN"}}})
	if err := n.Send(context.Background(), notifytest.Messages()[1].Msg); err != nil {
		t.Fatal(err)
	}
	var p dingtalk.Payload
	if err := json.Unmarshal(rb.Received()[0], &p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[已恢复] HighErrorRate", "级别：严重", "恢复时间：2025-03-01 12:01:30 UTC", "[在仪表盘查看告警](http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71)"} {
		if !strings.Contains(p.Markdown.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, p.Markdown.Text)
		}
	}
	if p.Markdown.Title != "[已恢复] HighErrorRate 严重 service=checkout" {
		t.Errorf("title = %q", p.Markdown.Title)
	}
}
