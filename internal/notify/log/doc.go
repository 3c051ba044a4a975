// Package log is the "log" notification channel: it writes each alert of a
// Message as one structured log line through the injected slog.Logger. It is
// the notifier of the built-in default configuration, so alerts are visible
// with no external service; like every channel it is called by the
// notify.Dispatcher for outbox entries.
//
// Import it for its side effect of registering the kind:
//
//	import _ "github.com/lookout-dev/lookout/internal/notify/log"
package log
