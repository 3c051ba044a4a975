// Package brokers tests the durable broker sources (kafka, redis streams,
// NATS JetStream) the way a user runs them: the built lookout binary, a
// config pointing at a real broker started by the test, kill -9 in the middle
// of the stream, a restart on the same data directory, and the closed windows
// read back over HTTP, each of which must count every produced event exactly
// once.
package brokers
