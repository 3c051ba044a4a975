package source

import (
	"fmt"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/preprocess"
)

// Decoder turns the payloads of a broker source (kafka, redis, nats) into
// events, the same way for every broker: a message over max_message_bytes is
// rejected with its first max_message_bytes bytes, a json payload that does
// not parse is rejected with the parser's reason, a text payload becomes the
// field "message". Every message goes into the source's raw ring as received
// (cut to the limit), so the raw view shows what was rejected too.
//
// A Decoder is safe for concurrent use: it only reads its own fields, and
// the ring and the preprocessor are.
type Decoder struct {
	name     string
	maxBytes int
	text     bool
	raw      *Ring
	pre      *preprocess.Processor
}

// NewDecoder returns the decoder of the source named name with the
// message keys m, with deps filled in by Deps.WithDefaults. A
// max_message_bytes of 0 means DefaultMaxMessageBytes.
func NewDecoder(name string, m MessageConfig, deps Deps) *Decoder {
	d := &Decoder{name: name, maxBytes: m.MaxMessageBytes, text: m.Payload == PayloadText, raw: deps.Raw, pre: deps.Pre}
	if d.maxBytes <= 0 {
		d.maxBytes = DefaultMaxMessageBytes
	}
	return d
}

// DefaultMaxMessageBytes bounds one broker message when the config does not
// say (max_message_bytes).
const DefaultMaxMessageBytes = 1 << 20

// The values of the payload key.
const (
	PayloadJSON = "json"
	PayloadText = "text"
)

// MessageConfig is the message keys of the broker sources, which embed it
// in their settings with `yaml:",inline"`: payload, the format of a message
// (json, the default, or text), and max_message_bytes, the largest message
// accepted (default DefaultMaxMessageBytes).
type MessageConfig struct {
	Payload         string `yaml:"payload"`
	MaxMessageBytes int    `yaml:"max_message_bytes"`
}

// Defaults sets payload json and max_message_bytes DefaultMaxMessageBytes.
func (m *MessageConfig) Defaults() {
	m.Payload = PayloadJSON
	m.MaxMessageBytes = DefaultMaxMessageBytes
}

// Validate checks both keys.
func (m *MessageConfig) Validate(v *config.Validator) {
	if m.MaxMessageBytes <= 0 {
		v.Errorf("max_message_bytes", "must be more than 0")
	}
	ValidatePayload(v, m.Payload)
}

// ValidatePayload checks the payload key of a source.
func ValidatePayload(v *config.Validator, payload string) {
	switch payload {
	case PayloadJSON, PayloadText:
	default:
		v.Errorf("payload", "%q is not a payload format (json or text)", payload)
	}
}

// MaxBytes is the largest message the decoder accepts.
func (d *Decoder) MaxBytes() int { return d.maxBytes }

// Decode turns one message into an event, or into a rejected input with the
// reason. ts is the broker's time for the message, zero when it has none; it
// stands when the message has no time field of its own. now is the arrival
// time. The event keeps value as its raw bytes: the caller must not reuse it.
func (d *Decoder) Decode(value []byte, ts, now time.Time) (*event.Event, *event.Rejected) {
	if len(value) > d.maxBytes {
		return nil, d.TooLarge(value, now)
	}
	d.raw.Add(now, value)
	var fields map[string]any
	if d.text {
		fields = map[string]any{"message": string(value)}
	} else {
		f, err := d.pre.DecodeFields(value)
		if err != nil {
			return nil, &event.Rejected{Time: now, Source: d.name, Raw: value, Reason: err.Error()}
		}
		fields = f
	}
	return d.Event(value, fields, ts, now), nil
}

// TooLarge records a message over max_message_bytes in the raw ring, cut to
// the limit, and returns its rejection. Sources that build their own fields
// (a Redis stream entry without its data field) call it directly; Decode
// calls it for them.
func (d *Decoder) TooLarge(value []byte, now time.Time) *event.Rejected {
	cut := value[:min(len(value), d.maxBytes)]
	d.raw.Add(now, cut)
	return &event.Rejected{Time: now, Source: d.name, Raw: cut,
		Reason: fmt.Sprintf("message of %d bytes is larger than max_message_bytes %d", len(value), d.maxBytes)}
}

// Event preprocesses the event of raw with its decoded fields: ts (zero when
// the broker gave none) is its time unless a time field says otherwise.
func (d *Decoder) Event(raw []byte, fields map[string]any, ts, now time.Time) *event.Event {
	e := &event.Event{Time: ts, Source: d.name, Raw: raw, Fields: fields}
	d.pre.Apply(e, now)
	return e
}

// Collector gathers the events and rejected inputs of one batch, and the
// bytes they came in, for Health.Submitted once the sink took them.
type Collector struct {
	Batch    event.Batch
	Rejected []event.Rejected
	Bytes    int
}

// NewCollector returns an empty collector for source name, with room for n
// events.
func NewCollector(name string, n int) *Collector {
	return &Collector{Batch: event.Batch{Source: name, Events: make([]*event.Event, 0, n)}}
}

// Add counts size bytes and keeps e, or rej when e is nil, and reports
// whether it kept an event (so the caller may add fields of its own).
func (c *Collector) Add(size int, e *event.Event, rej *event.Rejected) bool {
	c.Bytes += size
	if rej != nil {
		c.Rejected = append(c.Rejected, *rej)
		return false
	}
	c.Batch.Events = append(c.Batch.Events, e)
	return true
}

// Len is how many messages the collector holds, events and rejected.
func (c *Collector) Len() int { return len(c.Batch.Events) + len(c.Rejected) }
