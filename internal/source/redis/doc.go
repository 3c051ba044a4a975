// Package redis is the redis source, in one of two modes.
//
// Stream mode is a member of a consumer group on one stream: entries are read
// with XREADGROUP and acknowledged with XACK only when lookout acknowledges
// their batch (the windows their events fell into are closed and stored).
// Entries left pending by a consumer that died are claimed with XAUTOCLAIM
// once idle longer than claim_idle, so a crash loses nothing.
//
// Pub/Sub mode subscribes to channels and patterns. Redis keeps nothing for a
// subscriber that is away, so every reconnect is counted as a gap in Health.
package redis
