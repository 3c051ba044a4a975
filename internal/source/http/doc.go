// Package http is the pull source: every interval it requests a URL, or each
// of many targets, and turns the response into events. format prometheus
// parses the Prometheus text format into one event per sample plus the
// synthetic up, scrape_duration_seconds and scrape_samples_scraped samples,
// the way Prometheus itself scrapes, each with the target's instance, job
// and labels; format json takes the body as one JSON event, a JSON array or
// NDJSON; format status only records whether the URL answered, with which
// code and how fast. A failed pull produces an up = 0 / up = false event, so
// rules can alert on a target that went away.
//
// Targets come from the targets key and from service discovery (file_sd,
// http_sd through Prometheus's discovery packages, dns_sd of its own), go
// through Prometheus's target relabeling, and are scraped each on its own
// schedule, offset within the interval by a hash of the target.
package http
