package config

import (
	"strings"
	"testing"
)

func TestServerTraceURL(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{"jaeger", "https://jaeger.example.com/trace/{trace_id}", ""},
		{"query parameter", "http://grafana:3000/explore?traceId={trace_id}&x=1", ""},
		{"no placeholder", "https://jaeger.example.com/trace/", "no {trace_id} placeholder"},
		{"not http", "ftp://x/{trace_id}", "not an http(s) URL"},
		{"no host", "https:///{trace_id}", "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(`
server: {trace_url: '`+tt.url+`'}
sources: [{name: push, type: push}]
pipelines: [{name: p, from: [push], window: 10s, aggregates: {n: count()}}]
`))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if c.Server.TraceURL != tt.url {
					t.Errorf("TraceURL = %q, want %q", c.Server.TraceURL, tt.url)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "server.trace_url") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error = %v, want server.trace_url: %s", err, tt.wantErr)
			}
		})
	}
}
