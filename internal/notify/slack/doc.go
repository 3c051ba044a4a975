// Package slack is the "slack" notification channel: it sends each Message
// to a Slack incoming webhook as a header and mrkdwn section blocks, with the
// title as the notification fallback text. It sits at the end of lookout's
// data flow, called by the notify.Dispatcher for outbox entries.
//
// Import it for its side effect of registering the kind:
//
//	import _ "github.com/lookout-dev/lookout/internal/notify/slack"
package slack
