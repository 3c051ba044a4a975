// Package brokers is the broker conformance suite: one table of cases
// (TestBrokerConformance) run by the same code against every durable source
// — kafka (kfake), redis streams (redis-server), NATS JetStream (embedded),
// MQTT QoS 1 (embedded) and logfile — the way a user runs them: the built
// lookout binary with default settings, a real broker started by the test,
// kill -9 in the middle of a live stream, a restart on the same data
// directory, poison and oversize messages, a second lookout joining the
// consumer group. The closed windows are read back over HTTP, and each must
// count every produced event exactly once; the restart cases also measure
// the time to count again and to complete every window.
package brokers
