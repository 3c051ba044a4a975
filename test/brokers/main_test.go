package brokers

import (
	"testing"
	"time"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

var binary string

func TestMain(m *testing.M) { lookouttest.Main(m, &binary) }

func freeAddr(t *testing.T) string { return lookouttest.FreeAddr(t) }

// proc is a running lookout.
type proc struct{ *lookouttest.Proc }

// start runs lookout with the config and waits until /readyz answers. When
// the test ends a lookout still running is killed, like kill does.
func start(t *testing.T, addr, config string) *proc {
	t.Helper()
	p := lookouttest.Start(t, binary, addr, "run", "-config", config)
	p.AtEnd = p.Kill
	return &proc{p}
}

// kill ends lookout with SIGKILL: no shutdown, no commit, no flush.
func (p *proc) kill() { p.Kill() }

func (p *proc) getJSON(path string, v any) error { return p.GetJSON(path, v) }

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	lookouttest.WaitFor(t, timeout, what, cond)
}
