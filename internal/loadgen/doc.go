// Package loadgen is lookout's load generator: it produces event streams
// shaped like production traffic (many services, log-normal latencies, error
// bursts at known times, disorder, late and malformed lines), sends them
// through a Sender (the push API first), receives the alerts lookout sends
// back on an Alertmanager-compatible webhook, and measures what lookout does
// with them: accepted and aggregated events per second, CPU seconds per
// million events and RSS read from /proc, and the delay from a window's
// close to the webhook for every injected burst.
//
// The scenario runner starts lookout itself with a generated configuration,
// so the numbers in docs/benchmarks.md can be reproduced with one command.
// Nothing here is imported by lookout; it only talks to it over HTTP.
package loadgen
