// Command lookout-brokers is cmd/lookout with the broker source kinds linked
// in, for test/brokers while internal/app does not import them yet. Once it
// does, the tests can build ./cmd/lookout instead and this file can go.
package main

import (
	"os"

	"github.com/lookout-dev/lookout/internal/app"

	_ "github.com/lookout-dev/lookout/internal/source/kafka"
	_ "github.com/lookout-dev/lookout/internal/source/nats"
	_ "github.com/lookout-dev/lookout/internal/source/redis"
)

func main() {
	os.Exit(app.Main(os.Args[1:], app.Build{Version: "test"}, os.Stdout, os.Stderr))
}
