package notify_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify"
)

func TestCheckErrCode(t *testing.T) {
	for _, tc := range []struct {
		name          string
		body          string
		wantErr       string // "" = success
		wantPermanent bool
		wantWait      time.Duration
	}{
		{name: "success", body: `{"errcode":0,"errmsg":"ok"}`},
		{name: "rate limit", body: `{"errcode":777,"errmsg":"too fast"}`, wantErr: "posting to robot: errcode 777: too fast", wantWait: time.Minute},
		{name: "busy", body: `{"errcode":-1,"errmsg":"system busy"}`, wantErr: "posting to robot: errcode -1: system busy"},
		{name: "other code", body: `{"errcode":310000,"errmsg":"sign not match"}`, wantErr: "posting to robot: errcode 310000: sign not match", wantPermanent: true},
		{name: "no errcode", body: `{"ok":true}`, wantErr: `posting to robot: unreadable answer "{\"ok\":true}"`},
		{name: "not json", body: `<html>gateway</html>`, wantErr: `posting to robot: unreadable answer "<html>gateway</html>"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := notify.CheckErrCode([]byte(tc.body), "robot", 777, time.Minute)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tc.wantPermanent {
				t.Errorf("permanent = %v, want %v", got, tc.wantPermanent)
			}
			var ra notify.RetryAfter
			if found := errors.As(err, &ra); found != (tc.wantWait != 0) || ra.After != tc.wantWait {
				t.Errorf("RetryAfter = %v (found %v), want %v", ra.After, found, tc.wantWait)
			}
		})
	}
}

func TestNewChat(t *testing.T) {
	for _, tc := range []struct {
		name        string
		url         config.Secret
		timeout     config.Duration
		wantErr     bool
		wantTimeout time.Duration
	}{
		{name: "default timeout", url: "https://chat.example/hook?token=T", wantTimeout: 7 * time.Second},
		{name: "own timeout", url: "http://chat.example/hook", timeout: config.Duration(time.Second), wantTimeout: time.Second},
		{name: "no url", wantErr: true},
		{name: "ftp url", url: "ftp://chat.example/hook?token=T", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := notify.NewChat("chat", tc.url, tc.timeout, notify.Deps{}, 7*time.Second)
			if tc.wantErr {
				if err == nil || strings.Contains(err.Error(), "token") {
					t.Fatalf("err = %v, want an error that does not repeat the URL", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.What != "chat" || c.URL != tc.url.Reveal() || c.Timeout != tc.wantTimeout {
				t.Errorf("chat = %+v, want what chat, the config's URL and timeout %v", c, tc.wantTimeout)
			}
		})
	}
}

func TestChatPost(t *testing.T) {
	var got []byte
	var contentType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1024)
		n, _ := r.Body.Read(buf)
		got, contentType = buf[:n], r.Header.Get("Content-Type")
		w.Write([]byte(`{"errcode":0}`))
	}))
	defer srv.Close()
	c := notify.Chat{What: "chat", URL: srv.URL, Timeout: 5 * time.Second}
	resp, err := c.Post(context.Background(), c.URL, map[string]string{"text": "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"text":"hi"}` || !strings.HasPrefix(contentType, "application/json") || string(resp.Body) != `{"errcode":0}` {
		t.Errorf("posted %q as %q, answer %q", got, contentType, resp.Body)
	}
	_, err = c.Post(context.Background(), c.URL, math.NaN())
	if !errors.Is(err, notify.ErrPermanent) || !strings.HasPrefix(err.Error(), "encoding chat payload: ") {
		t.Errorf("err = %v, want a permanent encoding error", err)
	}
}
