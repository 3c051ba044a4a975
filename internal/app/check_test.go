package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckReportsEveryLayer: structural problems, expression errors and
// template errors of one file come out in one run of `lookout check`, each
// at its line, without the echoes of a structural problem.
func TestCheckReportsEveryLayer(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lookout.yaml")
	err := os.WriteFile(p, []byte(`sources:
  - {name: push, type: push}
pipelines:
  - name: api
    from: [push]
    window: 10x
    aggregates:
      requests: count()
      oops: nosuchfunc(x)
rules:
  - name: Slow
    pipeline: api
    when: 'requests >'
    notify: [ops]
  - name: Busy
    pipeline: api
    when: 'requests > 10'
    summary: '{{ .requests '
    notify: [nobody]
notifiers:
  - {name: ops, type: log}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := cmdCheck([]string{"-config", p}, &stdout, &stderr); code != 1 {
		t.Fatalf("check exit %d, want 1; output:\n%s%s", code, stdout.String(), stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{
		p + ":6: pipelines[0].window",     // structural
		p + ":9: pipelines[0].aggregates", // expression
		p + ":13: rules[0].when",          // expression
		p + ":18: rules[1].summary",       // template
		p + ":19: rules[1].notify",        // structural
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, ":6: "); n != 1 {
		t.Errorf("the bad window is reported %d times, want once:\n%s", n, out)
	}
}

// TestCheckRefusesCountersInCountWindows: rate and increase measure growth
// over a length of time, which a {count: N} window does not have; `lookout
// check` says so at the aggregate's line.
func TestCheckRefusesCountersInCountWindows(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lookout.yaml")
	err := os.WriteFile(p, []byte(`sources:
  - {name: node, type: http, url: "http://127.0.0.1:9100/metrics", format: prometheus}
pipelines:
  - name: cpu
    from: [node]
    window: {count: 20}
    aggregates:
      samples: count()
      busy: rate(value)
      total: increase(value)
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := cmdCheck([]string{"-config", p}, &stdout, &stderr); code != 1 {
		t.Fatalf("check exit %d, want 1; output:\n%s%s", code, stdout.String(), stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{
		p + ":9: pipelines[0].aggregates.busy: rate(x) needs a time window",
		p + ":10: pipelines[0].aggregates.total: increase(x) needs a time window",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
