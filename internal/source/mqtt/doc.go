// Package mqtt is the MQTT source: an MQTT v5 subscriber (Eclipse Paho with
// autopaho, which reconnects with backoff) that turns each message into an
// event with the topic as the field `topic`.
//
// It keeps a persistent session (clean start off, a session expiry) under a
// stable client id, and with QoS 1 it acknowledges a message (PUBACK) only
// when lookout says the batch holding it is stored and its windows closed
// (event.Batch.Ack). Until then the broker keeps the message in the session,
// so messages in flight when lookout stops, and messages published while it
// is away, are delivered when it connects again: at least once. Paho sends
// acknowledgements in the order the messages arrived, which is the order
// lookout releases them in.
package mqtt
