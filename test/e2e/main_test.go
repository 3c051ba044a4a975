// Package e2e tests lookout the way a user runs it: the built binary, a config
// file, a data directory, and HTTP.
package e2e

import (
	"testing"

	"github.com/lookout-dev/lookout/test/lookouttest"
)

// binary is the lookout that TestMain built for these tests.
var binary string

func TestMain(m *testing.M) { lookouttest.Main(m, &binary) }
