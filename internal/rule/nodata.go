package rule

import (
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// The no_data modes of a pipeline rule.
const (
	NoDataKeep  = "keep"
	NoDataReset = "reset"
	NoDataAlert = "alert"
)

// DefaultNoData is the mode of a rule that does not say: an alert about a
// group that stopped reporting should not stay firing forever (Prometheus
// resolves series that disappear the same way).
const DefaultNoData = NoDataReset

// NoDataSuffix ends the rule name (and alertname) of the alert that
// no_data: alert fires for a silent group.
const NoDataSuffix = "NoData"

// Defaults of no_data_after for {count} windows (which have no length, or
// when the pipeline is unknown) and of no_data_forget.
const (
	DefaultNoDataAfter  = 5 * time.Minute
	DefaultNoDataForget = 24 * time.Hour
)

// DecisionNoDataPrefix starts the decisions recorded when a group's missing
// windows reset or resolve an alert: "resolved: no data for 2s" (a firing
// alert resolved; the usual "queued" row follows), "reset: no data for 2s" (a
// pending one dropped).
const (
	DecisionNoDataResolved = "resolved: no data for "
	DecisionNoDataReset    = "reset: no data for "
)

// noData is a rule's missing-data policy, resolved against its pipeline.
type noData struct {
	mode   string
	after  time.Duration
	forget time.Duration
	// alert is the <Rule>NoData pseudo-rule of alert mode; nil otherwise.
	alert *compiled
}

// seenGroup is a group the engine has had windows for, kept for rules whose
// mode is reset or alert.
type seenGroup struct {
	c     *compiled
	group map[string]string
	// last is the wall-clock time of the group's last window: event time
	// does not advance when nothing arrives.
	last time.Time
	// silent: no_data alert has fired the NoData alert for this silence.
	silent bool
}

// groups is the engine's record of the groups of reset and alert rules,
// keyed by the fingerprint of the rule's alert for the group.
type groups struct {
	mu sync.Mutex
	m  map[string]*seenGroup
	// scanned is when Tick last looked at every group.
	scanned time.Time
}

// scanEvery spaces Tick's scans of the groups, so it may be called from a
// 20 ms loop without walking a large map fifty times a second; a silence is
// then acted on at most this late.
const scanEvery = 250 * time.Millisecond

// compileNoData resolves rule r's no_data keys against its pipeline (nil when
// unknown) and, in alert mode, builds the NoData pseudo-rule.
func compileNoData(c *compiled, pipe *config.Pipeline) *noData {
	r := c.cfg
	nd := &noData{mode: cmpOr(r.NoData, DefaultNoData), after: r.NoDataAfter.D(), forget: r.NoDataForget.D()}
	if nd.after <= 0 {
		nd.after = defaultNoDataAfter(pipe)
	}
	if nd.forget <= 0 {
		nd.forget = DefaultNoDataForget
	}
	if nd.mode == NoDataAlert {
		ac := r
		ac.Name = r.Name + NoDataSuffix
		ac.For = config.For{}
		ac.KeepFiringFor, ac.ResolveAfter = 0, 0
		ac.Summary = ""
		ac.Labels = maps.Clone(r.Labels)
		if ac.Labels == nil {
			ac.Labels = map[string]string{}
		}
		ac.Labels["no_data"] = "true"
		nd.alert = &compiled{index: c.index, cfg: ac, parent: c}
	}
	return nd
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// defaultNoDataAfter is two windows plus the lateness: one missing window can
// be an idle moment, two in a row is silence. A {count} window has no
// length, so it gets DefaultNoDataAfter.
func defaultNoDataAfter(p *config.Pipeline) time.Duration {
	switch {
	case p == nil || p.Window.IsCount():
		return DefaultNoDataAfter
	case p.Window.Every > 0:
		return 2*p.Window.Every + p.Lateness.D()
	case p.Window.Size > 0:
		return 2*p.Window.Size + p.Lateness.D()
	}
	return DefaultNoDataAfter
}

// observe notes a window of c's group fp at wall time now. It returns
// whether the group was silent (its NoData alert fired), so the caller
// resolves that alert. It runs before the window's own step so that a
// concurrent Tick sees the group is back.
func (e *Engine) observe(c *compiled, fp string, group map[string]string, now time.Time) (wasSilent bool) {
	if c.noData == nil || c.noData.mode == NoDataKeep {
		return false
	}
	e.groups.mu.Lock()
	defer e.groups.mu.Unlock()
	g := e.groups.m[fp]
	if g == nil {
		g = &seenGroup{c: c, group: group}
		e.groups.m[fp] = g
	}
	wasSilent = g.silent
	g.last, g.silent = now, false
	return wasSilent
}

// noDataAction is what Tick does to one group, decided under groups.mu and
// carried out after it is released.
type noDataAction struct {
	kind  int // actReset, actFire, actForget
	fp    string
	g     seenGroup
	since time.Duration
}

const (
	actReset = iota
	actFire
	actForget
)

// Tick acts on the groups of reset and alert rules that have had no window
// for their rule's no_data_after (by now, a wall-clock time from the same
// Clock the engine was given): reset drops their pending alert and resolves
// their firing one; alert fires <Rule>NoData for the group (and re-sends it
// after repeat). Groups of alert rules silent for no_data_forget are
// forgotten, their alerts resolved. Call it periodically, e.g. from a 20 ms
// or 1 s loop: it scans the groups at most every 250 ms and returns at once
// in between. It is safe for concurrent use with OnWindow; notifications go
// out synchronously, as from OnWindow.
func (e *Engine) Tick(now time.Time) {
	var acts []noDataAction
	e.groups.mu.Lock()
	if !e.groups.scanned.IsZero() && now.Sub(e.groups.scanned) < scanEvery {
		e.groups.mu.Unlock()
		return
	}
	e.groups.scanned = now
	for fp, g := range e.groups.m {
		nd := g.c.noData
		idle := now.Sub(g.last)
		switch {
		case idle < nd.after:
			continue
		case nd.mode == NoDataReset:
			delete(e.groups.m, fp)
			acts = append(acts, noDataAction{kind: actReset, fp: fp, g: *g, since: nd.after})
		case idle >= nd.forget:
			delete(e.groups.m, fp)
			acts = append(acts, noDataAction{kind: actForget, fp: fp, g: *g, since: nd.forget})
		case !g.silent:
			g.silent = true
			acts = append(acts, noDataAction{kind: actFire, fp: fp, g: *g, since: nd.after})
		default:
			// Silent already: re-send only when the NoData alert is due.
			if e.noDataDue(nd.alert, Fingerprint(nd.alert.cfg.Name, g.group), now) {
				acts = append(acts, noDataAction{kind: actFire, fp: fp, g: *g, since: nd.after})
			}
		}
	}
	e.groups.mu.Unlock()
	slices.SortFunc(acts, func(a, b noDataAction) int { return strings.Compare(a.fp, b.fp) })

	for _, act := range acts {
		switch act.kind {
		case actReset:
			e.resetNoData(act.g.c, act.fp, now, DecisionNoDataResolved+shortDur(act.since), DecisionNoDataReset+shortDur(act.since))
		case actFire:
			e.fireNoData(act.g, now)
		case actForget:
			why := fmt.Sprintf("%s%s, group forgotten", DecisionNoDataResolved, shortDur(act.since))
			e.resetNoData(act.g.c, act.fp, now, why, why)
			e.resetNoData(act.g.c.noData.alert, Fingerprint(act.g.c.noData.alert.cfg.Name, act.g.group), now, why, why)
		}
	}
}

// noDataDue reports whether the firing NoData alert fp should be stepped
// again: it was never sent (muted, and may not be any more) or repeat has
// passed since it was.
func (e *Engine) noDataDue(c *compiled, fp string, now time.Time) bool {
	e.mu.Lock()
	in, ok := e.alerts[fp]
	e.mu.Unlock()
	if !ok {
		return true // e.g. its firing was lost to a store error: fire it
	}
	if in.a.State != event.StateFiring {
		return false
	}
	return in.a.LastSent.IsZero() || (c.cfg.Repeat > 0 && now.Sub(in.a.LastSent) >= c.cfg.Repeat.D())
}

// fireNoData steps the NoData alert of g as true.
func (e *Engine) fireNoData(g seenGroup, now time.Time) {
	ac := g.c.noData.alert
	fp := Fingerprint(ac.cfg.Name, g.group)
	idle := now.Sub(g.last)
	e.step(ac, fp, g.group, true, now, func(a *event.Alert) {
		a.Value = idle.Seconds()
		a.Summary = fmt.Sprintf("%s: no data from %s for %s", g.c.cfg.Name, groupString(g.group), shortDur(g.c.noData.after))
	})
}

// resetNoData drops the pending alert fp of c or resolves its firing one, as
// no new window will: the decisions say why.
func (e *Engine) resetNoData(c *compiled, fp string, now time.Time, resolved, reset string) {
	mu := &e.stripes[maphash.String(e.seed, fp)%lockStripes]
	mu.Lock()
	defer mu.Unlock()
	e.groups.mu.Lock()
	_, back := e.groups.m[fp]
	e.groups.mu.Unlock()
	if back && c.parent == nil {
		return // a window arrived since Tick decided
	}
	e.mu.Lock()
	in, ok := e.alerts[fp]
	e.mu.Unlock()
	if !ok {
		return
	}
	a := in.a
	e.drop(fp)
	if a.State != event.StateFiring {
		a.State = StateInactive
		e.emit(a, now, reset, false)
		return
	}
	a.State = event.StateResolved
	a.ResolvedAt = now
	e.emit(a, now, resolved, false)
	if a.LastSent.IsZero() {
		e.emit(a, now, DecisionResolvedUnsent, false)
		return
	}
	e.emit(a, now, DecisionQueued, true)
}

// resolveNoData resolves the NoData alert of c's group when a window of the
// group arrives again.
func (e *Engine) resolveNoData(c *compiled, group map[string]string, at time.Time) {
	ac := c.noData.alert
	if ac == nil {
		return
	}
	e.step(ac, Fingerprint(ac.cfg.Name, group), group, false, at, nil)
}

// restoreGroup seeds the group record from a restored alert, so that a group
// that went silent while lookout was down is reset or reported no_data_after
// the restart (the clock restarts at now: the downtime is not counted).
func (e *Engine) restoreGroup(c *compiled, a event.Alert, now time.Time) {
	parent, nodata := c, false
	if c.parent != nil {
		parent, nodata = c.parent, true
	}
	if parent.noData == nil || parent.noData.mode == NoDataKeep {
		return
	}
	group := groupOf(c, a.Labels)
	fp := Fingerprint(parent.cfg.Name, group)
	e.groups.mu.Lock()
	defer e.groups.mu.Unlock()
	g := e.groups.m[fp]
	if g == nil {
		g = &seenGroup{c: parent, group: group, last: now}
		e.groups.m[fp] = g
	}
	if nodata {
		g.silent = true
	}
}

// groupOf recovers the group labels from an alert's labels: the pipeline's
// group_by keys when known, else the labels without alertname, severity and
// the rule's own labels.
func groupOf(c *compiled, labels map[string]string) map[string]string {
	base := c
	if c.parent != nil {
		base = c.parent
	}
	g := map[string]string{}
	if base.groupBy != nil {
		for _, k := range base.groupBy {
			if v, ok := labels[k]; ok {
				g[k] = v
			}
		}
		return g
	}
	for k, v := range labels {
		if k == "alertname" || k == "severity" {
			continue
		}
		if rv, ok := c.cfg.Labels[k]; ok && rv == v {
			continue
		}
		g[k] = v
	}
	return g
}

// groupString renders a group as service="api",zone="a", or "the pipeline"
// when it has no group_by.
func groupString(g map[string]string) string {
	if len(g) == 0 {
		return "the pipeline"
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(g)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, g[k])
	}
	return b.String()
}

// shortDur prints 2s rather than 2.000s and 5m rather than 5m0s.
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
