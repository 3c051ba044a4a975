// Package wecom is the "wecom" notification channel: it sends each Message
// as a markdown message to a WeCom (WeChat Work, 企业微信) group robot. It sits
// at the end of lookout's data flow, called by the notify.Dispatcher for
// outbox entries.
//
// Import it for its side effect of registering the kind:
//
//	import _ "github.com/lookout-dev/lookout/internal/notify/wecom"
package wecom
