package lookouttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Package is the import path of lookout's main package, which `go build`
// finds from any directory of the module.
const Package = "github.com/lookout-dev/lookout/cmd/lookout"

// Build builds lookout into dir and returns the binary's path. The error of
// a failed build carries the compiler's output.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "lookout")
	out, err := exec.Command("go", "build", "-o", bin, Package).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building lookout: %w\n%s", err, out)
	}
	return bin, nil
}

// Main is the TestMain of a package whose tests start the binary: under
// -short it runs nothing (those tests are not unit tests); otherwise it
// builds lookout into a temporary directory, sets *binary to its path, runs
// the tests and removes the directory. It does not return.
func Main(m *testing.M, binary *string) {
	flag.Parse()
	if testing.Short() {
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "lookout-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary, err = Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is a running lookout. Its output (stdout and stderr) is kept for
// Output and for the log printed when the test fails.
type Proc struct {
	// Cmd is the process; tests send it signals (SIGHUP) or read its pid.
	Cmd *exec.Cmd
	// Addr is where it listens.
	Addr string
	// AtEnd is what the test's cleanup does with a process still running:
	// Stop unless the caller sets it (to Kill, say).
	AtEnd func()

	t    testing.TB
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

// Start runs bin with args (which must make it listen on addr) and waits up
// to 60s until /readyz answers 200; it fails the test when lookout exits
// first or is not ready in time. When the test ends the process is stopped
// (AtEnd) and, if the test failed, its log is printed.
func Start(t testing.TB, bin, addr string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Cmd: exec.Command(bin, args...), Addr: addr, t: t, done: make(chan struct{})}
	p.AtEnd = p.Stop
	pr, pw := io.Pipe()
	p.Cmd.Stdout, p.Cmd.Stderr = pw, pw
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() { _ = p.Cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.AtEnd()
		if t.Failed() {
			t.Logf("lookout on %s log:\n%s", addr, p.Output())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("lookout exited early:\n%s", p.Output())
		default:
		}
		if r, err := http.Get(p.URL("/readyz")); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("lookout not ready after 60s:\n%s", p.Output())
	return nil
}

// Output returns what lookout has written so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// URL returns the address of path on this lookout ("/api/v1/alerts").
func (p *Proc) URL(path string) string { return "http://" + p.Addr + path }

// Stop sends SIGTERM and waits for a clean exit: the test fails when lookout
// takes more than 30s (it is then killed) or exits with a non-zero code.
// Stopping a process that has exited does nothing.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
		p.t.Errorf("lookout on %s did not stop within 30s of SIGTERM", p.Addr)
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Errorf("lookout on %s exited with %d after SIGTERM", p.Addr, code)
	}
}

// Kill ends lookout with SIGKILL, as a crash would: no shutdown, no commit,
// no flush. Killing a process that has exited does nothing.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// GetJSON GETs path from this lookout and decodes the 200 answer into v.
func (p *Proc) GetJSON(path string, v any) error {
	r, err := http.Get(p.URL(path))
	if err != nil {
		return err
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, r.StatusCode, body)
	}
	return json.Unmarshal(body, v)
}

// GetJSON GETs url and decodes its answer into v; anything but a 200 with
// JSON fails the test.
func GetJSON(t testing.TB, url string, v any) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, r.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// Post POSTs body as ctype to url and returns the status and the answer; only
// a failed request fails the test.
func Post(t testing.TB, url, ctype string, body []byte) (int, []byte) {
	t.Helper()
	r, err := http.Post(url, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	out, _ := io.ReadAll(r.Body)
	return r.StatusCode, out
}

// WriteFile writes content to dir/name and returns the path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// WaitFor polls cond every 100ms until it holds, and fails the test after
// timeout, naming what it waited for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
