package template_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/notifytest"
	"github.com/lookout-dev/lookout/internal/notify/template"
)

func render(t *testing.T, opts template.Options, m notify.Message, f template.Flavour) (string, string) {
	t.Helper()
	r, err := template.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	title, err := r.Title(m)
	if err != nil {
		t.Fatal(err)
	}
	body, err := r.Body(m, f)
	if err != nil {
		t.Fatal(err)
	}
	return title, body
}

func TestDefaults(t *testing.T) {
	msgs := notifytest.Messages()
	firing, resolved, two := msgs[0].Msg, msgs[1].Msg, msgs[2].Msg
	noURL := firing
	noURL.ExternalURL = ""
	tests := []struct {
		name      string
		lang      string
		msg       notify.Message
		flavour   template.Flavour
		wantTitle string
		want      []string
		notWant   []string
	}{
		{name: "firing markdown", msg: firing, flavour: template.Markdown, wantTitle: "[FIRING] HighErrorRate critical service=checkout",
			want: []string{"- Severity: critical\n", "- Status: firing\n", "- service: checkout\n", "- Value: 0.125\n", "- Summary: checkout error rate 0.125\n",
				"- Since: 2025-03-01 12:00:00 UTC\n", "[Alert on the dashboard](http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71)",
				"[Raw events](http://lookout.example:9470/#/raw?group.service=checkout&rule=HighErrorRate&since=2025-03-01T12%3A00%3A00Z)"},
			notWant: []string{"Resolved at"}},
		{name: "resolved text", msg: resolved, flavour: template.Text, wantTitle: "[RESOLVED] HighErrorRate critical service=checkout",
			want: []string{"- Resolved at: 2025-03-01 12:01:30 UTC\n", "Alert on the dashboard: http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71"}},
		{name: "two alerts get headings", msg: two, flavour: template.Markdown, wantTitle: "[FIRING:2] HighErrorRate critical",
			want: []string{"**[FIRING] HighErrorRate**\n\n- Severity", "- service: search\n", "\n---\n"}},
		{name: "slack", msg: firing, flavour: template.Slack, wantTitle: "[FIRING] HighErrorRate critical service=checkout",
			want: []string{"<http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71|Alert on the dashboard>"}},
		{name: "html", msg: resolved, flavour: template.HTML, wantTitle: "[RESOLVED] HighErrorRate critical service=checkout",
			want: []string{`<th align="left">Resolved at</th><td>2025-03-01 12:01:30 UTC</td>`, `<a href="http://lookout.example:9470/#/raw?group.service=checkout&amp;rule=HighErrorRate&amp;since=2025-03-01T12%3A00%3A00Z">Raw events</a>`}},
		{name: "no external url, no links", msg: noURL, flavour: template.Markdown, wantTitle: "[FIRING] HighErrorRate critical service=checkout",
			notWant: []string{"dashboard", "/#/"}},
		{name: "zh-CN markdown", lang: "zh-CN", msg: resolved, flavour: template.Markdown, wantTitle: "[已恢复] HighErrorRate 严重 service=checkout",
			want: []string{"- 级别：严重\n", "- 状态：已恢复\n", "- service：checkout\n", "- 数值：0.01\n", "- 摘要：", "- 开始时间：2025-03-01 12:00:00 UTC\n", "- 恢复时间：2025-03-01 12:01:30 UTC\n", "[在仪表盘查看告警](", "[查看原始事件]("}},
		{name: "zh-CN two alerts", lang: "zh-CN", msg: two, flavour: template.Text, wantTitle: "[告警:2] HighErrorRate 严重",
			want: []string{"[告警] HighErrorRate\n"}},
		{name: "zh-CN html", lang: "zh-CN", msg: firing, flavour: template.HTML, wantTitle: "[告警] HighErrorRate 严重 service=checkout",
			want: []string{`<th align="left">状态</th><td>告警中</td>`, "[告警] HighErrorRate</h3>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			title, body := render(t, template.Options{Lang: tt.lang}, tt.msg, tt.flavour)
			if title != tt.wantTitle {
				t.Errorf("title = %q, want %q", title, tt.wantTitle)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("body has %q:\n%s", w, body)
				}
			}
		})
	}
}

func TestUserTemplateOverridesDefault(t *testing.T) {
	opts := template.Options{
		Title: "{{ .Rule }}\n({{ .Status }})",
		Body:  `{{ range .Alerts }}{{ bold .Labels.service }} {{ value .Value }} {{ link "go" .DashboardURL }}{{ end }}`,
	}
	m := notifytest.Messages()[0].Msg
	for _, tt := range []struct {
		flavour template.Flavour
		want    string
	}{
		{template.Markdown, "**checkout** 0.125 [go](http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71)\n"},
		{template.Slack, "*checkout* 0.125 <http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71|go>\n"},
		{template.Text, "checkout 0.125 go: http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71\n"},
		{template.HTML, "<pre>checkout 0.125 go: http://lookout.example:9470/#/alerts?fingerprint=5f1d3a2b9c0e4d71\n</pre>\n"},
	} {
		title, body := render(t, opts, m, tt.flavour)
		if title != "HighErrorRate (firing)" {
			t.Errorf("title = %q: a title is one line", title)
		}
		if body != tt.want {
			t.Errorf("flavour %d: body = %q, want %q", tt.flavour, body, tt.want)
		}
	}
}

func TestNewRejectsBadTemplates(t *testing.T) {
	for name, opts := range map[string]template.Options{
		"title":      {Title: "{{ .Rule"},
		"body":       {Body: "{{ if }}"},
		"unknown fn": {Body: "{{ nosuch .Rule }}"},
		"file":       {BodyFile: "/nonexistent/x.tmpl"},
		"lang":       {Lang: "de"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := template.New(opts); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 0.125: "0.125", 0.1 + 0.2: "0.3", 1234567: "1234570", 42: "42", -3.5: "-3.5", 1e-7: "1e-07", 2.5e20: "2.5e+20"} {
		if got := template.FormatValue(in); got != want {
			t.Errorf("FormatValue(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name, in string
		limit    int
		want     string
	}{
		{"fits", "abc", 3, "abc"},
		{"ascii", "abcdef", 5, "ab..."},
		{"does not split a rune", "错错错", 8, "错..."}, // 8-3 = 5 bytes: one whole rune, not one and two thirds
		{"limit below note", "abcdef", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := template.Truncate(tt.in, tt.limit, "...")
			if got != tt.want || len(got) > tt.limit || !utf8.ValidString(got) {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
		})
	}
}
