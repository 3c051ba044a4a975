// Package chaos runs several lookout processes the way a scaled-out
// deployment does and breaks things under them: two instances fed the same
// events sharing alert state in Redis (they must notify once), three in one
// Kafka consumer group with one killed with SIGKILL and Redis restarted
// (every window counted once, every alert notified once), a push faster
// than lookout can absorb (429 with Retry-After, bounded memory, every
// accepted event counted), and a soak run (LOOKOUT_SOAK=1).
//
// The tests build the binary and start it as a user would; they need
// redis-server (scripts/deps/redis.sh) and are skipped under -short.
package chaos
