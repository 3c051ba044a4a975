// Package webhook is the "webhook" notification channel: it POSTs each
// Message in the Alertmanager webhook format (version "4"), so receivers
// written for Prometheus Alertmanager work unchanged. It sits at the end of
// lookout's data flow, called by the notify.Dispatcher for outbox entries.
//
// Import it for its side effect of registering the kind:
//
//	import _ "github.com/lookout-dev/lookout/internal/notify/webhook"
package webhook
