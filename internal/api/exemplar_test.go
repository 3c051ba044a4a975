package api

import "testing"

func TestTraceURL(t *testing.T) {
	tests := []struct{ tmpl, id, want string }{
		{"https://j/trace/{trace_id}", "abc", "https://j/trace/abc"},
		{"http://g/explore?q={trace_id}&t={trace_id}", "ab", "http://g/explore?q=ab&t=ab"},
		{"", "abc", ""},
		{"https://j/{trace_id}", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			if got := TraceURL(tt.tmpl, tt.id); got != tt.want {
				t.Errorf("TraceURL(%q, %q) = %q, want %q", tt.tmpl, tt.id, got, tt.want)
			}
		})
	}
}
