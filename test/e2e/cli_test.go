package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// TestCheckBadFixtures runs `lookout check` on every bad fixture of the config
// package and expects exit 1 with each `# want: LINE: text` as FILE:LINE: ...
func TestCheckBadFixtures(t *testing.T) {
	files, err := filepath.Glob("../../internal/config/testdata/*.bad.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad fixtures found (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			wants := wantLines(t, f)
			if len(wants) == 0 {
				t.Fatalf("%s has no '# want: LINE: text' comment", f)
			}
			out, err := exec.Command(binary, "check", "-config", f).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("check exit = %v, want 1; output:\n%s", err, out)
			}
			for _, w := range wants {
				line, text, _ := strings.Cut(w, ":")
				want := f + ":" + strings.TrimSpace(line) + ": "
				if strings.TrimSpace(line) == "0" { // an error about the whole file has no line
					want = f + ": "
				}
				found := false
				for _, l := range strings.Split(string(out), "\n") {
					if strings.HasPrefix(l, want) && strings.Contains(l, strings.TrimSpace(text)) {
						found = true
					}
				}
				if !found {
					t.Errorf("output lacks %q…%q:\n%s", want, strings.TrimSpace(text), out)
				}
			}
		})
	}
}

func wantLines(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if w, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "# want:"); ok {
			out = append(out, strings.TrimSpace(w))
		}
	}
	return out
}

// TestCheckGoodConfig: a valid config exits 0.
func TestCheckGoodConfig(t *testing.T) {
	dir := t.TempDir()
	p := lookouttest.WriteFile(t, dir, "ok.yaml", `
sources:
  - {name: push, type: push}
pipelines:
  - name: api
    from: [push]
    group_by: [service]
    window: 10s
    aggregates:
      requests: count()
      error_rate: ratio(status >= 500)
rules:
  - {name: Errors, pipeline: api, when: 'error_rate > 0.05', notify: [stdout]}
notifiers:
  - {name: stdout, type: log}
`)
	out, err := exec.Command(binary, "check", "-config", p).CombinedOutput()
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	// An expression error is reported at its line.
	bad := lookouttest.WriteFile(t, dir, "bad.yaml", `
sources:
  - {name: push, type: push}
pipelines:
  - name: api
    from: [push]
    window: 10s
    aggregates:
      requests: count()
      oops: nosuchfunc(x)
`)
	out, err = exec.Command(binary, "check", "-config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+":10: ") {
		t.Fatalf("check of an unknown aggregate function: %v\n%s\nwant an error at line 10", err, out)
	}
}

// TestDefaultConfigMonitorsHost is `make run` on a fresh checkout: no config,
// no external service; /healthz answers and host CPU windows appear within 15 s.
func TestDefaultConfigMonitorsHost(t *testing.T) {
	addr := lookouttest.FreeAddr(t)
	p := lookouttest.Start(t, binary, addr, "run", "-data", t.TempDir(), "-listen", addr)
	var health map[string]string
	lookouttest.GetJSON(t, p.URL("/healthz"), &health)
	started := time.Now()
	var res struct {
		Data []windowJSON `json:"data"`
	}
	lookouttest.WaitFor(t, 15*time.Second, "host CPU windows", func() bool {
		lookouttest.GetJSON(t, p.URL("/api/v1/windows?pipeline=host"), &res)
		return len(res.Data) > 0
	})
	t.Logf("first host window after %v", time.Since(started).Round(100*time.Millisecond))
	w := res.Data[0]
	cpu := w.Values["cpu"]
	if cpu == nil || *cpu < 0 || *cpu > 100 {
		t.Errorf("host window cpu = %v, want a percentage", cpu)
	}
	if w.Group["host"] == "" {
		t.Errorf("host window has no host group: %+v", w)
	}
	out, err := exec.Command(binary, "run", "-print-default-config").Output()
	if err != nil || !strings.Contains(string(out), "type: host") {
		t.Errorf("-print-default-config: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "version").Output()
	if err != nil || !strings.Contains(string(out), "lookout") || !strings.Contains(string(out), "go1.") {
		t.Errorf("version: %v %s", err, out)
	}
}
