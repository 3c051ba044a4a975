package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/internal/source"
)

// selfCollector exposes the observer's counters and histograms, and the
// per-notifier outbox queue read at scrape time.
type selfCollector struct{ a *App }

var (
	descRuleEvals       = prometheus.NewDesc("lookout_rule_evaluations_total", "Closed windows a rule was evaluated on.", []string{"rule"}, nil)
	descRuleTransitions = prometheus.NewDesc("lookout_rule_transitions_total", "Alert state transitions of a rule, by the state entered (pending, firing, resolved, inactive).", []string{"rule", "state"}, nil)
	descNotifySent      = prometheus.NewDesc("lookout_notify_sent_total", "Notifications a notifier's service acknowledged.", []string{"notifier"}, nil)
	descNotifyFailed    = prometheus.NewDesc("lookout_notify_failed_total", "Failed delivery attempts of a notifier (each retry counts).", []string{"notifier"}, nil)
	descNotifyQueue     = prometheus.NewDesc("lookout_notify_queue_entries", "Notifications waiting in the outbox for a notifier (its retry queue).", []string{"notifier"}, nil)
	descNotifyQueueAge  = prometheus.NewDesc("lookout_notify_queue_oldest_age_seconds", "Age of the oldest notification waiting for a notifier; 0 when none waits.", []string{"notifier"}, nil)
	descNotifyRetrying  = prometheus.NewDesc("lookout_notify_queue_head_attempts", "Failed attempts of the notification at the head of a notifier's queue; above 0 means it is retrying.", []string{"notifier"}, nil)
	descSourceLag       = prometheus.NewDesc("lookout_source_lag_messages", "Messages waiting at the broker for a source, for sources that know.", []string{"source", "type"}, nil)
	descSourceLagBytes  = prometheus.NewDesc("lookout_source_lag_bytes", "Bytes of a log file not read yet.", []string{"source", "type"}, nil)
	descTracing         = prometheus.NewDesc("lookout_tracing_enabled", "1 when lookout exports OpenTelemetry traces of its own pipeline.", nil, nil)
)

func (c *selfCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRuleEvals, descRuleTransitions, descNotifySent, descNotifyFailed,
		descNotifyQueue, descNotifyQueueAge, descNotifyRetrying, descSourceLag, descSourceLagBytes, descTracing} {
		ch <- d
	}
	c.a.obs.alertLatency.Describe(ch)
	c.a.obs.deliveryLatency.Describe(ch)
}

func (c *selfCollector) Collect(ch chan<- prometheus.Metric) {
	a, o := c.a, c.a.obs
	o.evals.Range(func(k, v any) bool {
		ch <- prometheus.MustNewConstMetric(descRuleEvals, prometheus.CounterValue, float64(v.(interface{ Load() int64 }).Load()), k.(string))
		return true
	})
	o.trMu.Lock()
	for k, n := range o.transitions {
		ch <- prometheus.MustNewConstMetric(descRuleTransitions, prometheus.CounterValue, float64(n), k[0], k[1])
	}
	o.trMu.Unlock()
	g := a.g.Load()
	now := a.clk.Now()
	backlog, err := a.disp.Load().Backlog()
	if err != nil {
		a.log.Debug("reading outbox backlog for metrics", "err", err)
	}
	for _, n := range g.cfg.Notifiers {
		s := o.notifier(n.Name)
		ch <- prometheus.MustNewConstMetric(descNotifySent, prometheus.CounterValue, float64(s.sent.Load()), n.Name)
		ch <- prometheus.MustNewConstMetric(descNotifyFailed, prometheus.CounterValue, float64(s.failed.Load()), n.Name)
		b := backlog[n.Name]
		age := 0.0
		if b.Pending > 0 && !b.Oldest.IsZero() {
			age = max(now.Sub(b.Oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(descNotifyQueue, prometheus.GaugeValue, float64(b.Pending), n.Name)
		ch <- prometheus.MustNewConstMetric(descNotifyQueueAge, prometheus.GaugeValue, age, n.Name)
		ch <- prometheus.MustNewConstMetric(descNotifyRetrying, prometheus.GaugeValue, float64(b.Attempts), n.Name)
	}
	for _, rs := range g.sources {
		h := rs.health.Snapshot()
		desc := descSourceLag
		if h.LagUnit == source.LagBytes {
			desc = descSourceLagBytes
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(h.Lag), h.Name, h.Type)
	}
	on := 0.0
	if o.tr.Enabled {
		on = 1
	}
	ch <- prometheus.MustNewConstMetric(descTracing, prometheus.GaugeValue, on)
	o.alertLatency.Collect(ch)
	o.deliveryLatency.Collect(ch)
}
