// Package notify is the last stage of lookout's data flow: it takes the alert
// transitions that rules decide (firing, resolved) and delivers them to the
// configured channels.
//
// Delivery goes through a durable outbox. Dispatcher.Enqueue writes one entry
// per named notifier to a bbolt file and fsyncs it before returning, so a crash
// between "the rule decided to notify" and "the service acknowledged" re-sends
// on the next start instead of losing the notification. Dispatcher.Run then
// drains the outbox: oldest first and strictly in order per notifier (a
// resolved never overtakes its firing), each notifier on its own goroutine (a
// dead receiver never delays another), retrying with capped exponential
// backoff and jitter, honouring Retry-After, and giving up after MaxAge (per
// notifier with MaxAges; counted by GaveUp). Every decision is reported
// through Options.Record so users can see why an alert was or was not sent.
//
// Alerts whose rule groups them (event.Alert.Group: group_by, group_wait,
// group_interval) are batched: an entry gets a group key (rule, status,
// group_by values) and a due time, the first of a group group_wait after it
// arrives and the others joining it; when due, every due entry of the group
// goes out in one Message. Entries that are not due never hold up the others,
// but an alert's own messages never overtake each other.
//
// Muter decides, for the rule engine, whether a firing notification is held
// back by a silence, an inhibit rule or an acknowledgement (state.Mutes).
//
// Channels are plug-ins: each kind lives in its own package (notify/webhook,
// notify/log, ...) and registers a Factory from init(); New builds a Notifier
// from its config by kind.
package notify
