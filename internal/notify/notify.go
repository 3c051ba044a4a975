package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// The values of Message.Status.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Message is what one notifier sends: one or more alerts (firing or resolved),
// for one receiver, all with the same status. The Dispatcher builds one
// Message per outbox entry, or per batch when the rule groups its alerts
// (group_by, group_wait), so channels must handle several. Notifiers must not
// modify the alerts.
type Message struct {
	// Receiver is the name of the notifier (config notifiers[].name).
	Receiver string
	// Status is StatusFiring or StatusResolved.
	Status string
	Alerts []event.Alert
	// ExternalURL is where users reach lookout, for links back to the alert.
	ExternalURL string
}

// Notifier delivers messages to one channel.
//
// Send blocks until the service acknowledged the message or failed, and must
// return when ctx is done. It is safe for concurrent use. A returned error is
// retried by the Dispatcher unless it wraps ErrPermanent; a notifier that
// learns when to try again (HTTP 429/503 with Retry-After) returns a
// RetryAfter.
type Notifier interface {
	Send(ctx context.Context, m Message) error
}

// ErrPermanent marks a failure that retrying cannot fix (a 4xx answer, a
// malformed URL). The Dispatcher drops the entry and records "failed: ...".
var ErrPermanent = errors.New("permanent failure")

// RetryAfter is a retryable error that carries how long the service asked us
// to wait before the next attempt. Return it as a value:
// notify.RetryAfter{After: 30 * time.Second, Err: err}.
type RetryAfter struct {
	After time.Duration
	Err   error
}

// Error describes the failure and the requested wait.
func (e RetryAfter) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

// Unwrap returns the underlying error.
func (e RetryAfter) Unwrap() error { return e.Err }

// Deps are the shared things a channel may need, handed to every Factory.
type Deps struct {
	Log  *slog.Logger
	HTTP *http.Client
	// ExternalURL is where users reach lookout, for links in messages.
	ExternalURL string
	// TraceURL is config server.trace_url, for links to an alert's
	// exemplar trace ({trace_id} replaced); empty shows the bare trace id.
	TraceURL string
}

// SettingsOf returns the kind settings of cfg as the kind's *C, or a fresh
// defaulted one when cfg carries none (a config built in code, not parsed).
func SettingsOf[C any, P interface {
	*C
	config.KindConfig
}](cfg config.Notifier) P {
	if p, ok := cfg.Settings.(P); ok && p != nil {
		return p
	}
	p := P(new(C))
	p.Defaults()
	return p
}

// Factory builds a Notifier from its config. It validates what it needs and
// returns an error naming the bad key; it must not contact the service.
type Factory func(cfg config.Notifier, deps Deps) (Notifier, error)

// The channel registry. It is written only from init() functions of the
// channel packages and read afterwards; the mutex keeps it honest anyway.
var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Kind is one channel kind as its package registers it.
type Kind struct {
	// Name is the config type ("dingtalk").
	Name string
	// NewConfig returns a fresh value of the kind's settings: the keys it
	// adds to a notifier's name, type, timeout and max_age. Parse decodes
	// them into it, fills the defaults and validates it; the Factory finds
	// it in config.Notifier.Settings. Without it config.Parse does not
	// know the type (only tests register a bare factory).
	NewConfig func() config.KindConfig
	// New builds the notifier.
	New Factory
}

// Register makes a channel kind available to New and its settings to
// config.Parse. Call it from the init() of the channel's package. It panics
// when the name is empty, New is nil or the name is already registered,
// since that is a programming error found at start-up.
func Register(k Kind) {
	if k.Name == "" || k.New == nil {
		panic("notify: Register with an empty kind or a nil factory")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[k.Name]; dup {
		panic("notify: Register called twice for kind " + k.Name)
	}
	registry[k.Name] = k.New
	if k.NewConfig != nil {
		config.RegisterNotifierKind(k.Name, k.NewConfig)
	}
}

// Kinds returns the registered channel kinds, sorted.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	kinds := make([]string, 0, len(registry))
	for k := range registry {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// New builds the notifier cfg describes, by its Type. An unknown type is an
// error listing the known kinds. A nil Deps.Log discards, a nil Deps.HTTP is
// replaced by a fresh http.Client.
func New(cfg config.Notifier, deps Deps) (Notifier, error) {
	registryMu.RLock()
	f, ok := registry[cfg.Type]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("notifier %s: unknown type %q (known: %s)", cfg.Name, cfg.Type, strings.Join(Kinds(), ", "))
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.HTTP == nil {
		deps.HTTP = &http.Client{}
	}
	n, err := f(cfg, deps)
	if err != nil {
		return nil, fmt.Errorf("building notifier %s: %w", cfg.Name, err)
	}
	return n, nil
}

// StatusOf returns the Message status for an alert: StatusResolved for a
// resolved alert, StatusFiring otherwise.
func StatusOf(a event.Alert) string {
	if a.State == event.StateResolved {
		return StatusResolved
	}
	return StatusFiring
}
