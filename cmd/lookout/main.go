// Command lookout is a real-time monitoring system in one binary: it collects
// metrics and events, aggregates them in windows as they stream in, alerts once
// and shows it all on a live dashboard. See README.md.
package main

import (
	"os"

	"github.com/lookout-dev/lookout/internal/app"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

func main() {
	os.Exit(app.Main(os.Args[1:], app.Build{Version: version, Commit: commit, Date: date}, os.Stdout, os.Stderr))
}
