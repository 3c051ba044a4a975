package selfmon

import (
	"slices"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
)

// The built-in rules, by name. A rule of the user's config with one of these
// names replaces the built-in one.
const (
	RuleSourceSilent    = "LookoutSourceSilent"
	RuleConsumerLag     = "LookoutConsumerLag"
	RuleSourceStalled   = "LookoutSourceStalled"
	RuleNotifierFailing = "LookoutNotifierFailing"
	RuleOutboxBacklog   = "LookoutOutboxBacklog"
	RuleStoreBehind     = "LookoutStoreBehind"
	RuleLateEvents      = "LookoutLateEvents"
	RuleOverflow        = "LookoutOverflow"
)

// The run-time thresholds (PUT /api/v1/thresholds/NAME) the built-in rules
// read, with their defaults in the rules below.
const (
	ThresholdNotifierFailures = "lookout_notifier_failures"  // consecutive failed sends; default 3
	ThresholdOutboxPending    = "lookout_outbox_pending"     // entries waiting for one notifier; default 1000
	ThresholdOutboxAge        = "lookout_outbox_age_seconds" // age of the oldest waiting entry; default 300
	ThresholdStoreBacklog     = "lookout_store_backlog_rows" // rows not yet committed; default 100000
	ThresholdLateRatio        = "lookout_late_ratio"         // late / all events over the last LateSpan; default 0.1
	ThresholdLateMin          = "lookout_late_events_min"    // late events over the last LateSpan; default 5
	// ThresholdStalled is how long a source may be up with a lag and
	// deliver nothing; default 60. Above the 30 s a restart may wait by
	// design (JetStream's ack_wait, Redis's claim_idle for a stopped
	// consumer's entries).
	ThresholdStalled = "lookout_source_stalled_seconds"
)

// DefaultStoreBacklog is the default of ThresholdStoreBacklog; the dead-man's
// switch uses it too.
const DefaultStoreBacklog = 100000

// Builtin returns what self-monitoring adds to cfg: the `self` source and the
// pipeline (both named config.SelfName) and the Lookout* rules, notifying
// cfg.Self.Notify or, when that is empty, every configured notifier. Rules
// whose name cfg already uses are left out (the user's one wins). It does not
// modify cfg.
func Builtin(cfg *config.Config) (config.Source, config.Pipeline, []config.Rule) {
	src := config.Source{
		Name: config.SelfName, Type: SourceType, Settings: &SourceConfig{Interval: cfg.Self.Interval},
		TimeField: config.DefaultTimeField, RawBuffer: config.DefaultRawBuffer,
	}
	pl := config.Pipeline{
		Name:     config.SelfName,
		From:     []string{config.SelfName},
		GroupBy:  []string{"component", "name"},
		Window:   config.Window{Count: 1},
		Lateness: config.Duration(0),
		// Every component's event carries only its own numbers; last(x) of
		// a number the event lacks is NaN, and NaN compares false, so each
		// rule below only ever fires for its own component.
		Aggregates: config.Aggregates{
			{Name: "silent", Expr: "last(silent)"},
			{Name: "silent_for", Expr: "last(silent_for_seconds)"},
			{Name: "silent_limit", Expr: "last(silent_limit_seconds)"},
			{Name: "lag", Expr: "last(lag)"},
			{Name: "lag_rising", Expr: "last(lag_rising)"},
			{Name: "stalled_for", Expr: "last(stalled_for_seconds)"},
			{Name: "consecutive_failures", Expr: "last(consecutive_failures)"},
			{Name: "pending", Expr: "last(pending)"},
			{Name: "oldest_age", Expr: "last(oldest_age_seconds)"},
			{Name: "backlog", Expr: "last(backlog)"},
			{Name: "late", Expr: "last(late)"},
			{Name: "late_ratio", Expr: "last(late_ratio)"},
			{Name: "late_span", Expr: "last(late_span)"},
			{Name: "events_span", Expr: "last(events_span)"},
			{Name: "overflow", Expr: "last(overflow)"},
		},
		MaxGroups: config.DefaultMaxGroups,
	}
	notify := cfg.Self.Notify
	if len(notify) == 0 {
		for _, n := range cfg.Notifiers {
			notify = append(notify, n.Name)
		}
	}
	rules := []config.Rule{
		{
			Name: RuleSourceSilent, When: `component == "source" && silent > 0`, Severity: "warning",
			// The limit, not silent_for: the summary is rendered again at
			// every sample, so a growing number would make the notification
			// and the API disagree about one silence.
			Summary: `source {{ .name }} has been silent for more than {{ printf "%.0f" .silent_limit }}s`,
		},
		{
			Name: RuleConsumerLag, When: `component == "source" && lag_rising > 0`, Severity: "warning",
			Summary: `source {{ .name }} is falling behind: lag {{ printf "%.0f" .lag }} and rising`,
		},
		{
			Name: RuleSourceStalled, Severity: "warning",
			When: `component == "source" && stalled_for >= threshold("` + ThresholdStalled + `", 60)`,
			Summary: `source {{ .name }} is up with {{ printf "%.0f" .lag }} messages waiting but delivered nothing for ` +
				`{{ printf "%.0f" .stalled_for }}s`,
		},
		{
			Name: RuleNotifierFailing, Severity: "critical",
			When:    `component == "notifier" && consecutive_failures >= threshold("` + ThresholdNotifierFailures + `", 3)`,
			Summary: `notifier {{ .name }}: the last {{ printf "%.0f" .consecutive_failures }} deliveries failed`,
		},
		{
			Name: RuleOutboxBacklog, Severity: "warning",
			When: `component == "notifier" && (pending > threshold("` + ThresholdOutboxPending + `", 1000) || oldest_age > threshold("` +
				ThresholdOutboxAge + `", 300))`,
			Summary: `outbox of {{ .name }}: {{ printf "%.0f" .pending }} waiting, the oldest for {{ printf "%.0f" .oldest_age }}s`,
		},
		{
			Name: RuleStoreBehind, Severity: "warning",
			When:    `component == "store" && backlog > threshold("` + ThresholdStoreBacklog + `", 100000)`,
			Summary: `store writer is behind: {{ printf "%.0f" .backlog }} rows not yet committed`,
		},
		{
			Name: RuleLateEvents, Severity: "warning",
			When: `component == "pipeline" && late_span >= threshold("` + ThresholdLateMin + `", 5) && late_ratio > threshold("` +
				ThresholdLateRatio + `", 0.1)`,
			Summary: `pipeline {{ .name }}: {{ printf "%.0f" .late_span }} of {{ printf "%.0f" .events_span }} events late in the last ` +
				`5m, a ratio of {{ printf "%.2f" .late_ratio }}`,
		},
		{
			Name: RuleOverflow, When: `component == "pipeline" && overflow > 0`, Severity: "warning",
			Summary: `pipeline {{ .name }}: {{ printf "%.0f" .overflow }} events went to the __overflow__ group (max_groups reached)`,
		},
	}
	out := rules[:0]
	for _, r := range rules {
		if slices.ContainsFunc(cfg.Rules, func(u config.Rule) bool { return u.Name == r.Name }) {
			continue
		}
		r.Pipeline = config.SelfName
		r.Notify = notify
		r.Repeat = config.Duration(4 * time.Hour)
		r.Labels = map[string]string{"lookout": "self"}
		out = append(out, r)
	}
	return src, pl, out
}
