// Package template renders a notify.Message into the title and body that the
// chat and email channels send (notify/dingtalk, wecom, feishu, slack,
// email). It sits between the Dispatcher, which hands a channel a Message,
// and the channel, which wraps the rendered text in its service's format.
//
// The built-in templates come in English and Chinese (Options.Lang) and in
// four flavours of markup: Markdown (DingTalk, WeCom, Feishu), Slack mrkdwn,
// plain text and HTML (the two parts of an email). A user may replace the
// title and the body per notifier with Go text/template text (config keys
// title, template, template_file); the flavour-aware functions bold and link
// let one user template read well on every service. Templates are parsed in
// New, so a mistake is a configuration error at start-up, not a failed
// notification at 3 a.m.
package template
