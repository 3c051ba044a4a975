package brokers

import (
	"testing"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// binary is the lookout that TestMain built for these tests.
var binary string

func TestMain(m *testing.M) { lookouttest.Main(m, &binary) }

// start runs lookout with the config and waits until /readyz answers. When
// the test ends a lookout still running is killed (SIGKILL), like the
// tests' own kills.
func start(t *testing.T, addr, config string) *lookouttest.Proc {
	t.Helper()
	p := lookouttest.Start(t, binary, addr, "run", "-config", config)
	p.AtEnd = p.Kill
	return p
}
