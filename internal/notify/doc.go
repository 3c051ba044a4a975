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
// backoff and jitter, honouring Retry-After, and giving up after MaxAge. Every
// decision is reported through Options.Record so users can see why an alert
// was or was not sent.
//
// Channels are plug-ins: each kind lives in its own package (notify/webhook,
// notify/log, ...) and registers a Factory from init(); New builds a Notifier
// from its config by kind.
package notify
