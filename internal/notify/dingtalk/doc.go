// Package dingtalk is the "dingtalk" notification channel: it sends each
// Message as a markdown message to a DingTalk group robot, signed with the
// robot's secret when one is configured. It sits at the end of lookout's data
// flow, called by the notify.Dispatcher for outbox entries.
//
// Import it for its side effect of registering the kind:
//
//	import _ "github.com/lookout-dev/lookout/internal/notify/dingtalk"
package dingtalk
