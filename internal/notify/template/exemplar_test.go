package template_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
	"github.com/lookout-dev/lookout/internal/notify/notifytest"
	"github.com/lookout-dev/lookout/internal/notify/template"
)

// TestTraceLink: an alert with an exemplar shows "trace: <url>" in every
// flavour when trace_url is set, the bare trace id when it is not, and no
// trace line without an exemplar.
func TestTraceLink(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	const tmpl = "https://jaeger.example.com/trace/{trace_id}"
	link := "https://jaeger.example.com/trace/" + id
	a := notifytest.Firing()
	a.Exemplar = event.Exemplar{Aggregate: "latency_p99", Value: 1.5, TraceID: id, Time: a.Since.Add(time.Second)}
	withTrace := notify.Message{Status: "firing", Alerts: []event.Alert{a}}
	plain := notify.Message{Status: "firing", Alerts: []event.Alert{notifytest.Firing()}}
	tests := []struct {
		name     string
		traceURL string
		lang     string
		msg      notify.Message
		flavour  template.Flavour
		want     string
	}{
		{"markdown", tmpl, "", withTrace, template.Markdown, "- trace: " + link + "\n"},
		{"text", tmpl, "", withTrace, template.Text, "- trace: " + link + "\n"},
		{"slack", tmpl, "", withTrace, template.Slack, "- trace: " + link + "\n"},
		{"html", tmpl, "", withTrace, template.HTML, `<th align="left">trace</th><td><a href="` + link + `">` + id + `</a></td>`},
		{"zh-CN", tmpl, "zh-CN", withTrace, template.Markdown, "- 链路追踪：" + link + "\n"},
		{"no trace_url: the id", "", "", withTrace, template.Markdown, "- trace: " + id + "\n"},
		{"no exemplar: no line", tmpl, "", plain, template.Markdown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := render(t, template.Options{Lang: tt.lang, TraceURL: tt.traceURL}, tt.msg, tt.flavour)
			if tt.want == "" {
				if strings.Contains(body, "trace") || strings.Contains(body, "链路追踪") {
					t.Errorf("body has a trace line:\n%s", body)
				}
				return
			}
			if !strings.Contains(body, tt.want) {
				t.Errorf("body lacks %q:\n%s", tt.want, body)
			}
		})
	}
}
