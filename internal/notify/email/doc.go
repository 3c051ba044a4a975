// Package email is the "email" notification channel: it sends each Message
// as a multipart mail (plain text and HTML, both from the notify/template
// templates, the title as subject) through an SMTP server, with STARTTLS or
// implicit TLS and optional PLAIN/LOGIN authentication, using
// github.com/wneessen/go-mail. It sits at the end of lookout's data flow,
// called by the notify.Dispatcher for outbox entries.
//
// Import it for its side effect of registering the kind:
//
//	import _ "github.com/lookout-dev/lookout/internal/notify/email"
package email
