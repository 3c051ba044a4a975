// Package redis is the shared state backend: alert instances, run-time
// thresholds, silences and acknowledgements, and notification claims kept in
// one Redis, so that several lookout instances act as one.
//
// In the data flow it sits where state.Local does (windows → rules → state →
// notifiers). Two deployments use it: N instances fed the same events (for
// availability), which judge the same windows and must notify once, and N
// instances in one Kafka consumer group (for scale), which judge different
// groups but take over each other's partitions, and with them the alerts of
// those groups, on a rebalance.
//
// Keys, all under the configured prefix (default "lookout:"):
//
//	<prefix>alerts      hash: fingerprint → alert instance (JSON)
//	<prefix>thresholds  hash: name → number
//	<prefix>silences    hash: id → silence (JSON)
//	<prefix>acks        hash: fingerprint → acknowledgement (JSON)
//	<prefix>claim:<fp>  string: the last notification claimed for the alert
//	<prefix>epoch       string: present while Redis holds lookout's data
//
// Reads on the hot path (Threshold, Silences, Acks) are served from memory,
// refreshed from Redis every Options.Refresh, so a threshold or silence set
// through one instance reaches the others within that time.
//
// Redis going away does not stop lookout: writes fail and are logged by their
// callers, alert writes are kept and written again once Redis answers, and
// claims are decided from what this instance knows. When Redis comes back
// empty (restarted without persistence) the missing epoch key tells, and each
// instance writes back what it holds: its alert instances, the thresholds,
// silences and acknowledgements it last read, and the claims it has seen, so
// an alert that was notified is not notified again by a lagging instance.
package redis
