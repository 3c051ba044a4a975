package app

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/internal/telemetry"
)

// promRegistry exposes the stages' counters at scrape time, so the hot path
// keeps its own cheap atomics and pays nothing for /metrics.
type promRegistry struct {
	reg *prometheus.Registry
}

func newPromRegistry(a *App) *promRegistry {
	r := telemetry.NewRegistry()
	r.MustRegister(&collector{a: a}, &selfCollector{a: a})
	return &promRegistry{reg: r}
}

func (p *promRegistry) handler() http.Handler { return telemetry.Handler(p.reg) }

type collector struct{ a *App }

var (
	descSourceEvents    = prometheus.NewDesc("lookout_source_events_total", "Events received by a source.", []string{"source", "type"}, nil)
	descSourceRejected  = prometheus.NewDesc("lookout_source_rejected_total", "Inputs of a source that could not be parsed (stored in the rejected table).", []string{"source", "type"}, nil)
	descSourceBytes     = prometheus.NewDesc("lookout_source_bytes_total", "Bytes received by a source.", []string{"source", "type"}, nil)
	descSourceUp        = prometheus.NewDesc("lookout_source_up", "1 when the source's last attempt succeeded.", []string{"source", "type"}, nil)
	descSourceLastOK    = prometheus.NewDesc("lookout_source_last_success_timestamp_seconds", "When the source last succeeded.", []string{"source", "type"}, nil)
	descPipeEvents      = prometheus.NewDesc("lookout_pipeline_events_total", "Events folded into a pipeline's windows.", []string{"pipeline"}, nil)
	descPipeFiltered    = prometheus.NewDesc("lookout_pipeline_filtered_total", "Events a pipeline's where expression skipped.", []string{"pipeline"}, nil)
	descPipeLate        = prometheus.NewDesc("lookout_pipeline_late_events_total", "Events that arrived after their window closed.", []string{"pipeline"}, nil)
	descPipeFuture      = prometheus.NewDesc("lookout_pipeline_future_events_total", "Events stamped more than max_future ahead of the wall clock: flagged future, kept out of windows and the watermark.", []string{"pipeline"}, nil)
	descPipeOverflow    = prometheus.NewDesc("lookout_pipeline_overflow_events_total", "Events folded into the __overflow__ group because max_groups was reached.", []string{"pipeline"}, nil)
	descPipeUpdates     = prometheus.NewDesc("lookout_pipeline_window_updates_total", "Windows re-emitted corrected because of late events (late: update).", []string{"pipeline"}, nil)
	descPipeOpen        = prometheus.NewDesc("lookout_pipeline_open_windows", "Windows currently open.", []string{"pipeline"}, nil)
	descWindows         = prometheus.NewDesc("lookout_windows_emitted_total", "Closed windows emitted by all pipelines.", nil, nil)
	descIngestQueue     = prometheus.NewDesc("lookout_ingest_queue_batches", "Batches waiting for the ingest goroutine.", nil, nil)
	descIngestCap       = prometheus.NewDesc("lookout_ingest_queue_capacity_batches", "Capacity of the ingest queue.", nil, nil)
	descIngestEvents    = prometheus.NewDesc("lookout_ingest_queue_events", "Events waiting for the ingest goroutine.", nil, nil)
	descIngestEventsCap = prometheus.NewDesc("lookout_ingest_queue_capacity_events", "Events the ingest queue admits before the push API answers 429.", nil, nil)
	descStoreBacklog    = prometheus.NewDesc("lookout_store_backlog_rows", "Rows queued for the DuckDB writer, not yet committed.", nil, nil)
	descGaveUp          = prometheus.NewDesc("lookout_notifications_given_up_total", "Notifications the outbox gave up on after their max age, by notifier (since the dispatcher was opened).", []string{"notifier"}, nil)
	descOutbox          = prometheus.NewDesc("lookout_notify_outbox_pending", "Notifications persisted but not yet delivered.", nil, nil)
	descAlerts          = prometheus.NewDesc("lookout_alerts_active", "Active alert instances by state.", []string{"state"}, nil)
	descFeedClients     = prometheus.NewDesc("lookout_stream_clients", "Connected live-feed clients.", nil, nil)
	descReloadOK        = prometheus.NewDesc("lookout_config_last_reload_successful", "1 when the last config reload succeeded (or none was tried).", nil, nil)
	descReloadTime      = prometheus.NewDesc("lookout_config_last_reload_success_timestamp_seconds", "When the config was last loaded successfully.", nil, nil)
	descReloadFailures  = prometheus.NewDesc("lookout_config_reload_failures_total", "Reloads refused because the new config was invalid.", nil, nil)
	descFeedDropped     = prometheus.NewDesc("lookout_stream_clients_dropped_total", "Live-feed clients disconnected because they could not keep up.", nil, nil)
	descMovedForgotten  = prometheus.NewDesc("lookout_rebalance_groups_forgotten_total", "Groups whose open windows were dropped unemitted because their partitions moved to another lookout (it emits them).", []string{"source"}, nil)
	descMovedMixed      = prometheus.NewDesc("lookout_rebalance_groups_mixed_total", "Groups kept at a rebalance because partitions that stayed also fed them: their open window may count the moved partition's events twice.", []string{"source"}, nil)
	descMovedEvents     = prometheus.NewDesc("lookout_rebalance_events_dropped_total", "Queued events of moved partitions dropped before reaching a window (their new owner reads them again).", []string{"source"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSourceEvents, descSourceRejected, descSourceBytes, descSourceUp,
		descSourceLastOK, descPipeEvents, descPipeFiltered, descPipeLate, descPipeFuture, descPipeOverflow, descPipeUpdates, descPipeOpen,
		descWindows, descIngestQueue, descIngestCap, descIngestEvents, descIngestEventsCap, descStoreBacklog, descOutbox, descGaveUp, descAlerts,
		descFeedClients, descFeedDropped, descReloadOK, descReloadTime, descReloadFailures,
		descMovedForgotten, descMovedMixed, descMovedEvents} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	g := a.g.Load()
	for _, rs := range g.sources {
		h := rs.health.Snapshot()
		l := []string{h.Name, h.Type}
		ch <- prometheus.MustNewConstMetric(descSourceEvents, prometheus.CounterValue, float64(h.Events), l...)
		ch <- prometheus.MustNewConstMetric(descSourceRejected, prometheus.CounterValue, float64(h.Rejected), l...)
		ch <- prometheus.MustNewConstMetric(descSourceBytes, prometheus.CounterValue, float64(h.Bytes), l...)
		up := 0.0
		if h.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descSourceUp, prometheus.GaugeValue, up, l...)
		if !h.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(descSourceLastOK, prometheus.GaugeValue, float64(h.LastSuccess.UnixMilli())/1000, l...)
		}
	}
	for _, p := range g.pipelines {
		s := p.Stats()
		ch <- prometheus.MustNewConstMetric(descPipeEvents, prometheus.CounterValue, float64(s.Events), p.Name())
		ch <- prometheus.MustNewConstMetric(descPipeFiltered, prometheus.CounterValue, float64(s.Filtered), p.Name())
		ch <- prometheus.MustNewConstMetric(descPipeLate, prometheus.CounterValue, float64(s.Late), p.Name())
		ch <- prometheus.MustNewConstMetric(descPipeFuture, prometheus.CounterValue, float64(s.Future), p.Name())
		ch <- prometheus.MustNewConstMetric(descPipeOverflow, prometheus.CounterValue, float64(s.Overflow), p.Name())
		ch <- prometheus.MustNewConstMetric(descPipeUpdates, prometheus.CounterValue, float64(s.Updates), p.Name())
		ch <- prometheus.MustNewConstMetric(descPipeOpen, prometheus.GaugeValue, float64(s.OpenWindows), p.Name())
	}
	bs := a.bus.Stats()
	ch <- prometheus.MustNewConstMetric(descWindows, prometheus.CounterValue, float64(bs.Windows))
	ch <- prometheus.MustNewConstMetric(descIngestQueue, prometheus.GaugeValue, float64(bs.QueuedBatches))
	ch <- prometheus.MustNewConstMetric(descIngestCap, prometheus.GaugeValue, float64(bs.QueueCapacity))
	ch <- prometheus.MustNewConstMetric(descIngestEvents, prometheus.GaugeValue, float64(bs.QueuedEvents))
	ch <- prometheus.MustNewConstMetric(descIngestEventsCap, prometheus.GaugeValue, float64(bs.EventCapacity))
	ch <- prometheus.MustNewConstMetric(descStoreBacklog, prometheus.GaugeValue, float64(a.store.Backlog()))
	ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(a.disp.Load().Pending()))
	for name, n := range a.disp.Load().GaveUp() {
		ch <- prometheus.MustNewConstMetric(descGaveUp, prometheus.CounterValue, float64(n), name)
	}
	counts := map[string]int{"pending": 0, "firing": 0}
	for _, al := range g.rules.Active() {
		counts[string(al.State)]++
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(descAlerts, prometheus.GaugeValue, float64(n), st)
	}
	ch <- prometheus.MustNewConstMetric(descFeedClients, prometheus.GaugeValue, float64(a.feed.Clients()))
	ch <- prometheus.MustNewConstMetric(descFeedDropped, prometheus.CounterValue, float64(a.feed.Dropped.Load()))
	ok := 1.0
	if !a.reloads.lastOK.Load() {
		ok = 0
	}
	ch <- prometheus.MustNewConstMetric(descReloadOK, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(descReloadTime, prometheus.GaugeValue, float64(a.reloads.lastSuccess.Load()))
	ch <- prometheus.MustNewConstMetric(descReloadFailures, prometheus.CounterValue, float64(a.reloads.failures.Load()))
	for src, m := range a.bus.Moved() {
		ch <- prometheus.MustNewConstMetric(descMovedForgotten, prometheus.CounterValue, float64(m.Forgotten), src)
		ch <- prometheus.MustNewConstMetric(descMovedMixed, prometheus.CounterValue, float64(m.Mixed), src)
		ch <- prometheus.MustNewConstMetric(descMovedEvents, prometheus.CounterValue, float64(m.Events), src)
	}
}
