// Package http is the pull source: every interval it requests a URL and
// turns the response into events. format prometheus parses the Prometheus
// text format into one event per sample plus a synthetic "up" sample, the way
// Prometheus itself scrapes; format json takes the body as one JSON event, a
// JSON array or NDJSON; format status only records whether the URL answered,
// with which code and how fast. A failed pull produces an up = 0 / up = false
// event, so rules can alert on a target that went away.
package http
