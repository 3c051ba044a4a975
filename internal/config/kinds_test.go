package config_test

import (
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/notify/email"
	"github.com/lookout-dev/lookout/internal/notify/template"
	"github.com/lookout-dev/lookout/internal/notify/wecom"

	// The fixtures name every source and notifier type, whose settings
	// their packages register; linking them here registers them for this
	// package's tests too.
	_ "github.com/lookout-dev/lookout/internal/plugin/all"
)

// A notifier's own keys are decoded into the settings its package
// registered, and the envelope keeps only what every kind has.
func TestNotifierSettingsDecodedIntoTheKind(t *testing.T) {
	c, err := config.Parse("c.yaml", []byte(`
sources: [{name: push, type: push}]
notifiers:
  - name: wx
    type: wecom
    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k
    lang: zh-CN
    timeout: 3s
  - {name: mail, type: email, smtp: "127.0.0.1:25", from: a@example.com, to: [b@example.com]}
`))
	if err != nil {
		t.Fatal(err)
	}
	wx, ok := c.Notifiers[0].Settings.(*wecom.Config)
	if !ok {
		t.Fatalf("wecom settings are %T", c.Notifiers[0].Settings)
	}
	want := wecom.Config{URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", Config: template.Config{Lang: "zh-CN"}}
	if *wx != want || c.Notifiers[0].Timeout.D().String() != "3s" {
		t.Errorf("wecom = %+v timeout %v, want %+v timeout 3s", *wx, c.Notifiers[0].Timeout, want)
	}
	mail, ok := c.Notifiers[1].Settings.(*email.Config)
	if !ok || mail.SMTP != "127.0.0.1:25" || len(mail.To) != 1 || mail.To[0] != "b@example.com" {
		t.Errorf("email settings = %#v", c.Notifiers[1].Settings)
	}
}

// Errors in a kind's keys keep their line; a key of another kind does not
// apply, one of no kind is unknown.
func TestNotifierSettingsErrorsAtTheirLine(t *testing.T) {
	_, err := config.Parse("c.yaml", []byte(`sources: [{name: push, type: push}]
notifiers:
  - name: wx
    type: wecom
    url: ftp://x
    smtp: "127.0.0.1:25"
    colour: red
    lang: fr
`))
	if err == nil {
		t.Fatal("Parse accepted the config")
	}
	for _, want := range []string{
		`c.yaml:5: notifiers[0].url: must be an http:// or https:// URL`,
		`c.yaml:6: notifiers[0]: key "smtp" does not apply to type wecom`,
		`c.yaml:7: notifiers[0]: unknown key "colour"`,
		`c.yaml:8: notifiers[0].lang: "fr" is not a language (en or zh-CN)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in:\n%v", want, err)
		}
	}
}

// The dump shows a notifier's own keys with the envelope, secrets redacted,
// and parses back.
func TestDumpShowsNotifierSettings(t *testing.T) {
	c, err := config.Parse("c.yaml", []byte(`sources: [{name: push, type: push}]
notifiers:
  - {name: wx, type: wecom, url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", title: hello}
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Dump()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"url: <redacted>", "title: hello", "type: wecom"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dump has no %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "key=k") {
		t.Errorf("dump shows the url:\n%s", out)
	}
}
