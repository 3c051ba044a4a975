// Package mqtt is the MQTT source: an MQTT subscriber that turns each
// message into an event with the topic as the field `topic`. It speaks MQTT
// v5 (Eclipse Paho paho.golang with autopaho, which reconnects with backoff)
// or, with protocol "3.1.1", MQTT v3.1.1 (Eclipse Paho paho.mqtt.golang, one
// client per connection in lookout's own reconnect loop).
//
// It keeps a persistent session (clean start / clean session off, and in v5
// a session expiry) under a stable client id, and with QoS 1 it acknowledges
// a message (PUBACK) only when lookout says the batch holding it is stored
// and its windows closed (event.Batch.Ack); in v3.1.1 Paho's automatic
// acknowledgement is turned off for that. Until then the broker keeps the
// message in the session, so messages in flight when lookout stops, and
// messages published while it is away, are delivered when it connects
// again: at least once. Acknowledgements go out in the order the messages
// arrived, which is the order lookout releases them in.
package mqtt
