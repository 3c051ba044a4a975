package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/lookout-dev/lookout/internal/source"
)

// disconnectQuiesce is how long a closing v3.1.1 client waits (in ms) for
// work in flight, acknowledgements among it, before it drops the connection.
const disconnectQuiesce = 250

// connectV3 starts the MQTT v3.1.1 connection loop (paho.mqtt.golang)
// delivering into msgs, and returns a function that waits until it has
// ended after ctx is done.
//
// Paho's own reconnect is off: each connection is a new client, so an
// acknowledgement is bound to the connection its message came on (Paho
// drops an ack for a connection that is gone, and the broker redelivers the
// message on the new one), and the wait between attempts is the shared
// backoff with jitter, reported through Health like the other sources.
func (s *Source) connectV3(ctx context.Context, msgs chan<- message) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := source.Backoff{Min: minBackoff, Max: maxBackoff, Rand: s.Rand}
		source.Reconnect(ctx, b, s.deps.Health, s.deps.Log, s.name, "mqtt connection failed",
			func(ctx context.Context) (bool, error) { return s.sessionV3(ctx, msgs) })
	}()
	return func() { <-done }
}

// sessionV3 is one v3.1.1 connection: connect, subscribe, deliver until the
// connection is lost or ctx is done. ok reports whether it connected.
func (s *Source) sessionV3(ctx context.Context, msgs chan<- message) (ok bool, err error) {
	// closed ends this connection's message handler and acker: a message
	// still in Paho's hands when the connection ends is not delivered and
	// not acknowledged, so the broker sends it again.
	closed := make(chan struct{})
	lost := make(chan error, 1)
	acks := make(chan mqtt3.Message, queueSize)
	var seen atomic.Bool // a message came on this connection

	opts := mqtt3.NewClientOptions().
		AddBroker(s.broker.String()).
		SetProtocolVersion(4).
		SetClientID(s.clientID).
		// A persistent session: the broker keeps the subscriptions and the
		// unacknowledged QoS 1 messages, and queues new ones, while lookout
		// is away.
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetConnectTimeout(s.connectTimeout).
		SetKeepAlive(keepAlive * time.Second).
		// lookout acknowledges a message once its batch is stored, not when
		// the handler returns.
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetUsername(s.username).
		SetPassword(s.password.Reveal()).
		SetConnectionLostHandler(func(_ mqtt3.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		}).
		// Messages of the session arrive before (and whatever the filters of)
		// this connection's SUBSCRIBE, so every message goes to the default
		// handler. It runs on Paho's reader: blocking here while lookout is
		// full stops reading from the broker.
		SetDefaultPublishHandler(func(_ mqtt3.Client, pm mqtt3.Message) {
			m := message{topic: pm.Topic(), payload: pm.Payload(), at: s.deps.Clock.Now(),
				dup: pm.Duplicate(), first: !seen.Swap(true),
				ack: func() {
					select {
					case acks <- pm:
					case <-closed:
					}
				}}
			select {
			case msgs <- m:
			case <-closed:
			case <-ctx.Done():
			}
		})

	c := mqtt3.NewClient(opts)
	defer func() {
		close(closed)
		c.Disconnect(disconnectQuiesce)
	}()
	connect := c.Connect()
	if err := wait(ctx, connect); err != nil {
		return false, fmt.Errorf("connecting to %s: %w", s.broker.Redacted(), err)
	}
	session := connect.(*mqtt3.ConnectToken).SessionPresent()
	// Paho sends an ack by handing it to its writer, which may block while
	// the connection breaks; acknowledging from one goroutine per
	// connection keeps lookout's Ack from blocking and keeps the order.
	go func() {
		for {
			select {
			case pm := <-acks:
				pm.Ack()
			case <-closed:
				return
			}
		}
	}()

	// A refused subscription is retried on this connection rather than by
	// reconnecting, which would make the broker send every unacknowledged
	// message again. (Some brokers refuse a SUBSCRIBE whose packet id is
	// in use by a message they are sending, until it is acknowledged.)
	for attempt := 1; ; attempt++ {
		err := s.subscribeV3(ctx, c)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return true, nil
		}
		s.deps.Health.Failure(err)
		select {
		case <-ctx.Done():
			return true, nil
		case err := <-lost:
			return true, fmt.Errorf("connection to the broker lost: %w", err)
		case <-time.After(s.backoff(attempt)):
		}
	}
	s.deps.Log.Debug("mqtt connected", "source", s.name, "protocol", ProtocolV311, "session_present", session)
	s.deps.Health.SetConnected(true)
	select {
	case msgs <- message{connected: true, session: session}:
	case <-ctx.Done():
		return true, nil
	}

	select {
	case <-ctx.Done():
		return true, nil
	case err := <-lost:
		return true, fmt.Errorf("connection to the broker lost: %w", err)
	}
}

// subscribeV3 subscribes to every topic filter and waits for the SUBACK.
func (s *Source) subscribeV3(ctx context.Context, c mqtt3.Client) error {
	filters := make(map[string]byte, len(s.topics))
	for _, t := range s.topics {
		filters[t] = s.qos
	}
	tok := c.SubscribeMultiple(filters, nil)
	if err := wait(ctx, tok); err != nil {
		return fmt.Errorf("subscribing: %w", err)
	}
	var refused error
	for _, t := range s.topics {
		if rc, ok := tok.(*mqtt3.SubscribeToken).Result()[t]; ok && rc >= 0x80 {
			refused = errors.Join(refused, fmt.Errorf("subscribing to %q: refused by the broker", t))
		}
	}
	return refused
}

// wait waits for a Paho token, or for ctx.
func wait(ctx context.Context, t mqtt3.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
