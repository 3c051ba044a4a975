package log

import (
	"context"
	"log/slog"
	"maps"
	"slices"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/notify"
)

// Kind is the config type of this channel.
const Kind = "log"

func init() {
	notify.Register(notify.Kind{Name: Kind, NewConfig: func() config.KindConfig { return &Config{} }, New: New})
}

// Config is the settings of a log notifier: none beyond name, type, timeout
// and max_age, so any other key is an error.
type Config struct{}

// Defaults does nothing: there are no keys.
func (*Config) Defaults() {}

// Validate does nothing: there are no keys.
func (*Config) Validate(*config.Validator) {}

// Notifier logs alerts. It is safe for concurrent use.
type Notifier struct {
	name string
	log  *slog.Logger
}

// New builds a log notifier writing to deps.Log (discarding when nil). It is
// the notify.Factory registered for Kind.
func New(cfg config.Notifier, deps notify.Deps) (notify.Notifier, error) {
	l := deps.Log
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Notifier{name: cfg.Name, log: l}, nil
}

// Send writes one line per alert: at WARN for a firing alert, so it stands
// out, and at INFO for a resolved one. It never fails.
func (n *Notifier) Send(ctx context.Context, m notify.Message) error {
	for _, a := range m.Alerts {
		level := slog.LevelWarn
		if a.State == event.StateResolved {
			level = slog.LevelInfo
		}
		n.log.LogAttrs(ctx, level, "alert",
			slog.String("notifier", n.name),
			slog.String("rule", a.Rule),
			slog.String("state", string(a.State)),
			slog.String("severity", a.Severity),
			slog.String("fingerprint", a.Fingerprint),
			slog.String("summary", a.Summary),
			slog.Attr{Key: "labels", Value: labelsValue(a.Labels)},
			slog.Float64("value", a.Value),
		)
	}
	return nil
}

// labelsValue makes the labels a group in a stable order, so text logs read
// labels.service=api and JSON logs get an object.
// An alert without labels still gets the key, as an empty map.
func labelsValue(l map[string]string) slog.Value {
	if len(l) == 0 {
		// slog drops an empty group; an empty map keeps the key present.
		return slog.AnyValue(map[string]string{})
	}
	attrs := make([]slog.Attr, 0, len(l))
	for _, k := range slices.Sorted(maps.Keys(l)) {
		attrs = append(attrs, slog.String(k, l[k]))
	}
	return slog.GroupValue(attrs...)
}

var _ notify.Notifier = (*Notifier)(nil)
