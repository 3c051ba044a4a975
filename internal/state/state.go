package state

import (
	"context"

	"github.com/lookout-dev/lookout/internal/event"
)

// Store keeps alert instances by fingerprint so a restart keeps firing alerts,
// last-sent times and consecutive counts. Implementations are safe for
// concurrent use.
//
// Put and Delete are durable when they return without error: a process that
// crashes right after sees the change on its next Load. Errors mean the change
// may not have been kept; callers decide whether to go on without it.
type Store interface {
	// Load returns every stored instance, in fingerprint order. The caller
	// owns the returned slice and the maps in it.
	Load(ctx context.Context) ([]event.Alert, error)
	// Put stores a, replacing any instance with the same Fingerprint, which
	// must not be empty.
	Put(ctx context.Context, a event.Alert) error
	// Delete forgets the instance; deleting an unknown fingerprint is not an
	// error.
	Delete(ctx context.Context, fingerprint string) error
	// Close releases the backend. The Store must not be used afterwards.
	Close() error
}
