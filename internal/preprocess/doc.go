// Package preprocess is the first stage after a source: it turns a raw message
// into an event.Event (Decode) and normalises the event according to the
// source's time_field and fields keys (Apply): the event time, field types,
// units, required fields and ranges.
//
// Preprocessing never drops an event. What breaks a rule is flagged
// (no_timestamp, bad_type, missing_field, out_of_range) and kept, so the store
// and the rules see it; only a message that is not a JSON object at all is
// refused, and the caller stores it in the rejected table with Decode's error
// text as the reason.
//
// Decode sits on the hot path of every JSON source, so it uses its own
// allocation-lean scanner instead of encoding/json: it flattens nested objects
// into dotted keys while scanning, interns the keys that recur from message to
// message (predicted by their position in the previous message) and short
// string values (in a small direct-mapped table), and parses plain numbers
// without strconv. The Processor keeps a few idle scanners with their caches
// itself rather than in a sync.Pool, which would empty them at every garbage
// collection. A Decoder takes one scanner for a whole body and decodes into
// events the caller allocates, so a body's events can share one slice.
//
// Keep narrows what Decode stores to the fields the pipelines read: the
// field map is the largest cost left, and a source whose raw events are not
// stored need not build entries nobody reads. Skipped values are still
// checked as JSON, so the same messages are rejected with the same reasons.
package preprocess
