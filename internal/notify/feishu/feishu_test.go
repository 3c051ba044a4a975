package feishu_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/feishu"
	"github.com/lookout-dev/lookout/internal/notify/notifytest"
	"github.com/lookout-dev/lookout/internal/notify/template"
)

// bot is a Feishu custom bot endpoint as the real service behaves: with a
// secret it recomputes the signature from the secret and the received
// timestamp exactly as Feishu documents it (independently of the code under
// test) and answers code 19021 on a mismatch or a timestamp more than an
// hour off; without one it accepts unsigned requests, as an unsigned bot does.
type bot struct{ *notifytest.Receiver }

func newBot(t *testing.T, secret string) *bot {
	ok := `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`
	return &bot{notifytest.NewReceiver(t, ok, func(w http.ResponseWriter, req *http.Request, body []byte) bool {
		w.Header().Set("Content-Type", "application/json")
		if req.Method != http.MethodPost || req.URL.Path != "/open-apis/bot/v2/hook/HOOK-7" {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"code":19001,"msg":"param invalid: incoming webhook access token invalid"}`)
			return false
		}
		var p struct {
			Timestamp string `json:"timestamp"`
			Sign      string `json:"sign"`
			MsgType   string `json:"msg_type"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.MsgType == "" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"code":9499,"msg":"Bad Request"}`)
			return false
		}
		if secret != "" {
			ts, err := strconv.ParseInt(p.Timestamp, 10, 64)
			mac := hmac.New(sha256.New, []byte(p.Timestamp+"\n"+secret))
			if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Hour || p.Sign != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
				io.WriteString(w, `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`)
				return false
			}
		}
		return true
	})}
}

func (b *bot) url() config.Secret { return config.Secret(b.URL + "/open-apis/bot/v2/hook/HOOK-7") }

func newNotifier(t *testing.T, c feishu.Config) notify.Notifier {
	t.Helper()
	return notifytest.NewNotifier(t, "lark", feishu.Kind, config.Notifier{Settings: &c})
}

var signature = regexp.MustCompile(`^\{"timestamp":"\d+","sign":"[A-Za-z0-9+/=]+",`)

func TestPayloadGolden(t *testing.T) {
	for _, signed := range []bool{false, true} {
		for _, tc := range notifytest.Messages() {
			name, secret := tc.Name, ""
			if signed {
				name, secret = name+"_signed", "lark-secret-xyz"
			}
			t.Run(name, func(t *testing.T) {
				b := newBot(t, secret)
				if err := newNotifier(t, feishu.Config{ChatConfig: template.ChatConfig{URL: b.url()}, Secret: config.Secret(secret)}).Send(context.Background(), tc.Msg); err != nil {
					t.Fatalf("Send: %v", err)
				}
				got := b.Received()
				if len(got) != 1 {
					t.Fatalf("bot accepted %d messages, want 1", len(got))
				}
				body := got[0]
				if signed {
					// The bot verified the signature; only its changing
					// value is masked for the comparison.
					if !signature.Match(body) {
						t.Fatalf("signed body does not start with timestamp and sign: %s", body)
					}
					body = signature.ReplaceAll(body, []byte(`{"timestamp":"TIMESTAMP","sign":"SIGN",`))
				}
				notifytest.Golden(t, name, body)
			})
		}
	}
}

func TestSignKnownVector(t *testing.T) {
	// Computed outside Go with the recipe of Feishu's documentation:
	// python3 -c "import hmac,hashlib,base64; k=b'1700000000\nfeishu-example';
	// print(base64.b64encode(hmac.new(k, b'', hashlib.sha256).digest()).decode())"
	const want = "EGuqcEvceI5ejF/ixosjJtmrgfmN3YDVi10b8vgFR+Q="
	if got := feishu.Sign(1700000000, "feishu-example"); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestWrongSecretIsPermanent(t *testing.T) {
	b := newBot(t, "right")
	err := newNotifier(t, feishu.Config{ChatConfig: template.ChatConfig{URL: b.url()}, Secret: "wrong"}).Send(context.Background(), notifytest.Messages()[0].Msg)
	if !errors.Is(err, notify.ErrPermanent) || !strings.Contains(err.Error(), "19021") {
		t.Fatalf("err = %v, want a permanent 19021 error", err)
	}
	if len(b.Received()) != 0 {
		t.Fatal("bot accepted a message with a wrong signature")
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
		{name: "code 0", answer: `{"code":0,"data":{},"msg":"success"}`},
		{name: "legacy StatusCode 0", answer: `{"StatusCode":0,"StatusMessage":"success"}`},
		{name: "code 19021 signature", answer: `{"code":19021,"msg":"sign match fail"}`, wantErr: true, wantPermanent: true},
		{name: "code 19024 keyword", answer: `{"code":19024,"msg":"Key Words Not Found"}`, wantErr: true, wantPermanent: true},
		{name: "code 9499 too many", answer: `{"code":9499,"msg":"too many request"}`, wantErr: true},
		{name: "code 11232 frequency", answer: `{"code":11232,"msg":"frequency limited"}`, wantErr: true},
		{name: "code 11232 with http 400", status: 400, answer: `{"code":11232,"msg":"frequency limited"}`, wantErr: true},
		{name: "code 19001 with http 400", status: 400, answer: `{"code":19001,"msg":"param invalid"}`, wantErr: true, wantPermanent: true},
		{name: "not json", answer: `<html/>`, wantErr: true},
		{name: "http 503", status: 503, answer: `down`, wantErr: true},
		{name: "http 429 retry-after", status: 429, answer: `{"code":9499,"msg":"too many request"}`, retryAfter: "3", wantErr: true, wantRetryAfter: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBot(t, "")
			b.Status, b.Answer = tt.status, tt.answer
			if tt.retryAfter != "" {
				b.Header.Set("Retry-After", tt.retryAfter)
			}
			err := newNotifier(t, feishu.Config{ChatConfig: template.ChatConfig{URL: b.url()}}).Send(context.Background(), notifytest.Messages()[0].Msg)
			notifytest.CheckVerdict(t, err, notifytest.Verdict{Err: tt.wantErr, Permanent: tt.wantPermanent, RetryAfter: tt.wantRetryAfter}, "HOOK-7")
		})
	}
}

func TestChineseTemplate(t *testing.T) {
	b := newBot(t, "")
	if err := newNotifier(t, feishu.Config{ChatConfig: template.ChatConfig{URL: b.url(), Config: template.Config{Lang: "zh-CN"}}}).Send(context.Background(), notifytest.Messages()[0].Msg); err != nil {
		t.Fatal(err)
	}
	var p feishu.Payload
	if err := json.Unmarshal(b.Received()[0], &p); err != nil {
		t.Fatal(err)
	}
	if p.Card.Header.Title.Content != "[告警] HighErrorRate 严重 service=checkout" || p.Card.Header.Template != "red" {
		t.Errorf("header = %+v", p.Card.Header)
	}
	if c := p.Card.Elements[0].Content; !strings.Contains(c, "- 开始时间：2025-03-01 12:00:00 UTC") {
		t.Errorf("body lacks the start time:\n%s", c)
	}
}
