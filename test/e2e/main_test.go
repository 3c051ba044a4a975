// Package e2e tests lookout the way a user runs it: the built binary, a config
// file, a data directory, and HTTP.
package e2e

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

var binary string

func TestMain(m *testing.M) { lookouttest.Main(m, &binary) }

// The helpers below keep the names this package's tests were written with;
// the work is lookouttest's, shared with test/brokers and test/browser.

// freeAddr returns a free loopback address.
func freeAddr(t *testing.T) string { return lookouttest.FreeAddr(t) }

// proc is a running lookout.
type proc struct {
	*lookouttest.Proc
	cmd *exec.Cmd
}

// start runs the binary with args and waits until /readyz answers. The
// process is stopped with SIGTERM when the test ends, and must exit 0.
func start(t *testing.T, addr string, args ...string) *proc {
	t.Helper()
	p := lookouttest.Start(t, binary, addr, args...)
	return &proc{Proc: p, cmd: p.Cmd}
}

func (p *proc) output() string { return p.Output() }

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() { p.Stop() }

func (p *proc) url(path string) string { return p.URL(path) }

func getJSON(t *testing.T, url string, v any) { t.Helper(); lookouttest.GetJSON(t, url, v) }

func post(t *testing.T, url, ctype string, body []byte) (int, []byte) {
	t.Helper()
	return lookouttest.Post(t, url, ctype, body)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	return lookouttest.WriteFile(t, dir, name, content)
}

// waitFor polls cond until it is true or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	lookouttest.WaitFor(t, timeout, what, cond)
}

func ctxTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
