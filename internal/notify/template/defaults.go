package template

// The built-in templates. One set serves both languages: every word people
// read goes through t (or kv), which looks it up in the language's
// dictionary, so the English and Chinese messages cannot drift apart in
// content.
const (
	defaultTitle = `{{ if eq .Status "resolved" }}[{{ t "RESOLVED" }}]{{ else }}[{{ t "FIRING" }}{{ if gt (len .Alerts) 1 }}:{{ len .Alerts }}{{ end }}]{{ end }} ` +
		`{{ if .Rule }}{{ .Rule }}{{ else }}{{ len .Alerts }} {{ t "alerts" }}{{ end }}` +
		`{{ with .Severity }} {{ t . }}{{ end }}{{ range $k, $v := .Labels }} {{ $k }}={{ $v }}{{ end }}`

	// The body leaves the heading of a lone alert to the title, which every
	// channel shows (subject, card header, first line); with several alerts
	// each gets its own heading.
	defaultBody = `{{ define "alert" -}}
- {{ kv "Severity" (t .Severity) }}
- {{ kv "Status" (t .Status) }}
{{ range $k, $v := .Labels }}- {{ $k }}{{ t ": " }}{{ $v }}
{{ end -}}
- {{ kv "Value" (value .Value) }}
- {{ kv "Summary" .Summary }}
- {{ kv "Since" (time .Since) }}
{{ if eq .Status "resolved" }}- {{ kv "Resolved at" (time .ResolvedAt) }}
{{ end -}}
{{ if .TraceURL }}- {{ t "trace" }}{{ t ": " }}{{ .TraceURL }}
{{ else if .TraceID }}- {{ t "trace" }}{{ t ": " }}{{ .TraceID }}
{{ end -}}
{{ if .DashboardURL }}
{{ link (t "Alert on the dashboard") .DashboardURL }} | {{ link (t "Raw events") .RawURL }}
{{ end -}}
{{ end -}}
{{ $many := gt (len .Alerts) 1 -}}
{{ range $i, $a := .Alerts }}{{ if $i }}
---

{{ end }}{{ if $many }}{{ bold (printf "[%s] %s" (t (upper .Status)) .Rule) }}

{{ end }}{{ template "alert" $a }}{{ end }}`

	defaultHTML = `<!DOCTYPE html>
<html><body style="font-family: sans-serif; font-size: 14px;">
{{ range .Alerts -}}
<h3 style="color: {{ if eq .Status "resolved" }}#2e7d32{{ else }}#c62828{{ end }};">[{{ t (upper .Status) }}] {{ .Rule }}</h3>
<table cellpadding="4" style="border-collapse: collapse;">
<tr><th align="left">{{ t "Severity" }}</th><td>{{ t .Severity }}</td></tr>
<tr><th align="left">{{ t "Status" }}</th><td>{{ t .Status }}</td></tr>
{{ range $k, $v := .Labels }}<tr><th align="left">{{ $k }}</th><td>{{ $v }}</td></tr>
{{ end -}}
<tr><th align="left">{{ t "Value" }}</th><td>{{ value .Value }}</td></tr>
<tr><th align="left">{{ t "Summary" }}</th><td>{{ .Summary }}</td></tr>
<tr><th align="left">{{ t "Since" }}</th><td>{{ time .Since }}</td></tr>
{{ if eq .Status "resolved" }}<tr><th align="left">{{ t "Resolved at" }}</th><td>{{ time .ResolvedAt }}</td></tr>
{{ end -}}
{{ if .TraceURL }}<tr><th align="left">{{ t "trace" }}</th><td><a href="{{ .TraceURL }}">{{ .TraceID }}</a></td></tr>
{{ else if .TraceID }}<tr><th align="left">{{ t "trace" }}</th><td>{{ .TraceID }}</td></tr>
{{ end -}}
</table>
{{ if .DashboardURL }}<p><a href="{{ .DashboardURL }}">{{ t "Alert on the dashboard" }}</a> | <a href="{{ .RawURL }}">{{ t "Raw events" }}</a></p>
{{ end -}}
{{ end -}}
</body></html>`
)

// dictionaries translate the words of the built-in templates; a word missing
// from a dictionary is shown as it is, which is what English needs.
var dictionaries = map[string]map[string]string{
	LangEN: {},
	LangZH: {
		"FIRING":                 "告警",
		"RESOLVED":               "已恢复",
		"alerts":                 "条告警",
		": ":                     "：",
		"Severity":               "级别",
		"Status":                 "状态",
		"Value":                  "数值",
		"Summary":                "摘要",
		"Since":                  "开始时间",
		"Resolved at":            "恢复时间",
		"Alert on the dashboard": "在仪表盘查看告警",
		"Raw events":             "查看原始事件",
		"trace":                  "链路追踪",
		"firing":                 "告警中",
		"resolved":               "已恢复",
		"critical":               "严重",
		"warning":                "警告",
		"info":                   "提示",
	},
}
