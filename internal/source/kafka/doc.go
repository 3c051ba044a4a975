// Package kafka is the kafka source: a consumer-group member (franz-go) that
// turns each fetched partition's records into one event.Batch and commits
// their offsets only when lookout acknowledges the batch, that is once the
// windows its events fell into are closed and stored. Offsets are committed
// in order per partition, so a crash at any moment loses nothing: the group's
// next member starts at the last committed offset, and redelivered records of
// windows already stored count as late instead of twice.
//
// Several lookouts in one consumer group split the partitions. Each event
// carries its partition's number (event.Event.Origin), and when partitions
// move away at a rebalance the source calls source.Deps.Revoked and holds the
// rebalance (BlockRebalanceOnPoll, at most 10 s) until lookout has dropped
// their queued records and forgotten the windows they kept open: the new
// owner re-reads them from the last commit, which lies before every one of
// those windows, and emits them instead.
package kafka
