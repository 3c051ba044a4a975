// Package remotewrite is the Prometheus remote write receiver: a
// source.Receiver that the app mounts at POST /api/v1/write on lookout's own
// listener, so a Prometheus server, vmagent, Grafana Agent/Alloy, Telegraf
// or an OpenTelemetry Collector can send what it scrapes to lookout.
//
// It speaks remote write 1.0 (a snappy-compressed prompb.WriteRequest) and
// 2.0 (io.prometheus.write.v2.Request, chosen by the Content-Type's proto
// parameter), and answers 2.0's written-count headers for both.
//
// Each float sample becomes one event shaped as a scraped sample of the http
// source: metric (from __name__), value and every other label as a field,
// stamped with the sample's own timestamp. A native histogram sample becomes
// one event with count and sum instead of value. Stale markers (the NaN
// Prometheus sends when a series disappears) end a series rather than
// measure it, so they are taken and not turned into events; exemplars and
// metadata are not kept.
//
// A request is taken whole or not at all: when lookout is full it answers
// 429 with Retry-After, which vmagent retries and Prometheus retries when its
// queue_config says retry_on_http_429: true (otherwise it drops the batch).
// A body that cannot be decoded is answered 400 with the reason and stored
// in the rejected table.
package remotewrite
