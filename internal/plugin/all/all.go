// Package all links every source and notifier kind into the program: each
// kind's package registers itself (its config schema and its factory) from
// init(), so importing this package is what makes every type usable.
//
// A new kind is one package and one import line here.
package all

import (
	_ "github.com/lookout-dev/lookout/internal/notify/dingtalk"
	_ "github.com/lookout-dev/lookout/internal/notify/email"
	_ "github.com/lookout-dev/lookout/internal/notify/feishu"
	_ "github.com/lookout-dev/lookout/internal/notify/log"
	_ "github.com/lookout-dev/lookout/internal/notify/slack"
	_ "github.com/lookout-dev/lookout/internal/notify/webhook"
	_ "github.com/lookout-dev/lookout/internal/notify/wecom"
	_ "github.com/lookout-dev/lookout/internal/selfmon"
	_ "github.com/lookout-dev/lookout/internal/source/host"
	_ "github.com/lookout-dev/lookout/internal/source/http"
	_ "github.com/lookout-dev/lookout/internal/source/kafka"
	_ "github.com/lookout-dev/lookout/internal/source/logfile"
	_ "github.com/lookout-dev/lookout/internal/source/mqtt"
	_ "github.com/lookout-dev/lookout/internal/source/nats"
	_ "github.com/lookout-dev/lookout/internal/source/otlp"
	_ "github.com/lookout-dev/lookout/internal/source/push"
	_ "github.com/lookout-dev/lookout/internal/source/redis"
	_ "github.com/lookout-dev/lookout/internal/source/remotewrite"
)
