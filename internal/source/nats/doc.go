// Package nats is the nats source. Without durable it is a core NATS
// subscription: fire and forget, every reconnect counted as a gap in Health.
// With durable it pulls from a JetStream durable consumer (created when
// missing) and acknowledges each message explicitly once lookout acknowledges
// its batch, that is once the windows its event fell into are closed and
// stored; a batch lookout could not finish is negatively acknowledged, so
// JetStream redelivers it.
package nats
