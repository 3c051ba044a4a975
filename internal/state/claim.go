package state

import (
	"context"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
)

// Claim names one notification that several lookout instances, fed the same
// events and sharing a backend, would each decide to send: the firing or
// resolved message of one firing episode of one alert.
type Claim struct {
	// Fingerprint is the alert's identity.
	Fingerprint string
	// State is event.StateFiring or event.StateResolved.
	State event.AlertState
	// Since is when the episode began (the alert's Since). Instances that
	// judged the same windows agree on it, since it is an event time.
	Since time.Time
	// At is the deciding instance's clock reading, which repeat is
	// measured from.
	At time.Time
	// Repeat is the rule's repeat: no other firing message about the
	// episode goes out until Repeat after the one claimed now. Zero means
	// never again while it fires.
	Repeat time.Duration
}

// Claimer decides which of the lookout instances sharing alert state sends a
// notification, so that N instances judging the same events notify once.
// Implementations are safe for concurrent use and do not block for long.
type Claimer interface {
	// Claim reports whether this instance is the one to send c; false
	// means another instance has sent it (or is sending it). A firing
	// claim is won by the first instance to ask for an episode, and again
	// by the first to ask once Repeat has passed; a resolved claim by the
	// first to ask after a firing one was won.
	//
	// When the shared backend cannot be reached, Claim decides from what
	// this instance knows and returns the error beside its decision:
	// callers log it and follow won. It errs towards sending, since a
	// duplicate message is better than a lost one.
	Claim(ctx context.Context, c Claim) (won bool, err error)
}

// Thresholds holds the run-time thresholds that rules read through
// threshold("name", default) and the API sets. Threshold reads memory and
// is cheap enough for every rule evaluation; the others may go to the
// backend.
type Thresholds interface {
	// Thresholds returns a copy of every threshold by name.
	Thresholds(ctx context.Context) (map[string]float64, error)
	// SetThreshold stores a finite value under a non-empty name, durably.
	SetThreshold(ctx context.Context, name string, v float64) error
	// DeleteThreshold removes a threshold; an unknown name is not an error.
	DeleteThreshold(ctx context.Context, name string) error
	// Threshold returns the threshold called name and whether it is set.
	Threshold(name string) (float64, bool)
}

// Backend is everything the app keeps in the state backend: alert instances,
// thresholds, silences and acknowledgements, and notification claims. Local
// and the Redis backend (package state/redis) implement it.
type Backend interface {
	Store
	Thresholds
	Mutes
	Claimer
}

// Claim always wins: a Local backend belongs to one lookout, which sends
// every notification it decides.
func (l *Local) Claim(ctx context.Context, c Claim) (bool, error) {
	return true, nil
}

var _ Backend = (*Local)(nil)
