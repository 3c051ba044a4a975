// Package state is where alert state lives between evaluations and across
// restarts: the firing and pending alert instances of the rule engine, keyed by
// fingerprint, with their last-sent times and consecutive counts, plus the
// run-time thresholds that rules read through threshold("name", default),
// and the silences and acknowledgements that mute notifications (Mutes).
//
// In the data flow it sits beside the rule engine (windows → rules → state →
// notifiers): the engine writes an instance here before it hands a notification
// on, so a crash never forgets that an alert was firing or already sent. It is
// the only package that knows which backend holds the state; Local keeps it in
// an embedded bbolt file on disk.
package state
