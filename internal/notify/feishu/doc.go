// Package feishu is the "feishu" notification channel: it sends each Message
// as an interactive card with markdown to a Feishu (Lark) custom bot, signed
// with the bot's secret when one is configured. It sits at the end of
// lookout's data flow, called by the notify.Dispatcher for outbox entries.
//
// Import it for its side effect of registering the kind:
//
//	import _ "github.com/lookout-dev/lookout/internal/notify/feishu"
package feishu
