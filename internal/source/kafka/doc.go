// Package kafka is the kafka source: a consumer-group member (franz-go) that
// turns each fetched partition's records into one event.Batch and commits
// their offsets only when lookout acknowledges the batch, that is once the
// windows its events fell into are closed and stored. Offsets are committed
// in order per partition, so a crash at any moment loses nothing: the group's
// next member starts at the last committed offset, and redelivered records of
// windows already stored count as late instead of twice.
package kafka
