// Command lookout-load drives lookout with generated events and reports
// throughput, CPU per event, memory per group and alert latency. See
// docs/benchmarks.md for the figures it produced and how to reproduce them.
//
//	lookout-load -target http://127.0.0.1:9470 -services 1000 -rate 50000 -duration 30s
//	lookout-load -scenario push-10k-groups -lookout ./bin/lookout -runs 3
//	lookout-load -update-doc docs/benchmarks.md -micro bench/micro.txt bench/*.json
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
