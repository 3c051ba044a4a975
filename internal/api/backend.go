package api

import (
	"context"
	"time"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/state"
)

// Backend is what the API reads and changes, one small interface per area,
// so the API links none of the stages behind them and a test supplies only
// the parts its handlers use. The endpoints of a nil part answer 501.
// Implementations are safe for concurrent use.
type Backend struct {
	Ingest     Ingester       // POST /api/v1/events
	Windows    WindowReader   // GET /api/v1/windows
	Alerts     AlertReader    // GET /api/v1/alerts
	History    HistoryReader  // GET /api/v1/alerts/history
	Acks       Acker          // POST, DELETE /api/v1/alerts/{fingerprint}/ack
	Silences   Silencer       // /api/v1/silences
	Raw        RawReader      // GET /api/v1/raw
	Sources    SourceLister   // GET /api/v1/sources
	Query      Querier        // POST /api/v1/query
	Thresholds ThresholdStore // /api/v1/thresholds
	Reload     Reloader       // POST /api/v1/reload
	Ready      ReadyChecker   // GET /readyz; nil: always ready
}

// Ingester takes push bodies.
type Ingester interface {
	// Ingest hands a push body to the named source; with waitStored it
	// returns only once the store has committed it (wait=stored).
	// event.ErrFull: the pipeline is full and the client should retry
	// later; event.ErrNotStored: accepted but the store failed;
	// ErrUnknownSource: no push source of that name.
	Ingest(ctx context.Context, sourceName string, body []byte, waitStored bool) (event.PushResult, error)
}

// WindowReader reads stored window results.
type WindowReader interface {
	// Windows returns stored window results; ErrNotFound when q names a
	// pipeline the config does not have and nothing is stored for it.
	Windows(ctx context.Context, q event.WindowQuery) ([]event.Window, error)
}

// AlertReader lists the active alerts and what mutes them.
type AlertReader interface {
	ActiveAlerts() []event.Alert
	// Muting says what holds back an active alert's notifications now.
	Muting(a event.Alert) Muting
}

// HistoryReader reads the alert history, newest first.
type HistoryReader interface {
	History(ctx context.Context, limit int) ([]event.Transition, error)
	// HistoryFor is History narrowed to one rule and/or one fingerprint.
	HistoryFor(ctx context.Context, q HistoryQuery) ([]event.Transition, error)
}

// Acker acknowledges alerts. ErrBadRequest-wrapped errors become 400 and
// ErrNotFound 404.
type Acker interface {
	// Ack acknowledges the firing alert with the fingerprint for ttl.
	Ack(ctx context.Context, fingerprint string, ttl time.Duration, by, comment string) (state.Ack, error)
	// Unack withdraws the alert's acknowledgement.
	Unack(ctx context.Context, fingerprint string) error
}

// Silencer keeps silences. ErrBadRequest-wrapped errors become 400 and
// ErrNotFound 404.
type Silencer interface {
	// Silences lists every silence the backend keeps, expired ones
	// included for a while.
	Silences(ctx context.Context) ([]state.Silence, error)
	// AddSilence validates s, gives it an ID and stores it.
	AddSilence(ctx context.Context, s state.Silence) (state.Silence, error)
	// ExpireSilence ends a silence now; it stays listed as expired.
	ExpireSilence(ctx context.Context, id string) error
}

// RawReader reads raw messages as the sources received them.
type RawReader interface {
	// Raw returns the last n messages of the named source; ErrNotFound
	// when there is no such source.
	Raw(sourceName string, n int) ([]event.RawMessage, error)
	// AlertRaw returns the stored events behind an alert, oldest first: the
	// newest n since since of its rule's pipeline's sources whose group_by
	// fields have the values in group (keys the pipeline does not group by
	// are ignored). ErrNotFound: no such rule, or an SQL rule.
	AlertRaw(ctx context.Context, rule string, group map[string]string, since time.Time, n int) ([]event.RawMessage, error)
}

// SourceLister reports the sources' health.
type SourceLister interface {
	Sources() []event.HealthSnapshot
}

// Querier runs read-only SQL over the store.
type Querier interface {
	// QueryStream runs sql, calling begin with the columns and their types
	// and then emit with each row as it is read, until emit returns false;
	// maxBytes bounds what the store builds. truncated: rows were left out.
	QueryStream(ctx context.Context, sql string, maxBytes int64, begin func(cols, types []string) error, emit func(row []any) (bool, error)) (truncated bool, err error)
}

// ThresholdStore keeps the thresholds rules compare with.
type ThresholdStore interface {
	Thresholds(ctx context.Context) (map[string]float64, error)
	SetThreshold(ctx context.Context, name string, v float64) error
}

// Reloader applies the config file again.
type Reloader interface {
	// Reload returns what changed; an invalid file is refused (the error
	// lists its FILE:LINE problems).
	Reload(ctx context.Context) ([]string, error)
}

// ReadyChecker says whether lookout takes traffic.
type ReadyChecker interface {
	// Ready reports whether lookout is ready to take traffic, and why not.
	Ready() (bool, string)
}
