package http

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
)

// Defaults of the keys for fleets of targets.
const (
	DefaultPath        = "/metrics"
	DefaultScheme      = "http"
	DefaultConcurrency = 64
	DefaultSDRefresh   = 30 * time.Second
	DefaultHTTPRefresh = time.Minute
)

// TargetsConfig is the part of an http source's settings that names many
// targets: static ones, service discovery, and what is done with the
// labels of each.
type TargetsConfig struct {
	// Targets are host:port (scraped at Scheme://host:port/Path) or full
	// URLs.
	Targets []string `yaml:"targets"`
	Path    string   `yaml:"path"`
	Scheme  string   `yaml:"scheme"`
	// Labels are added to every sample; labels.job replaces the job label
	// (the source's name by default).
	Labels map[string]string `yaml:"labels"`
	// Relabel is applied to each target's labels before it is scraped,
	// with Prometheus's relabel_config semantics.
	Relabel []RelabelConfig `yaml:"relabel"`
	// FileSD are globs of Prometheus file_sd files (JSON or YAML).
	FileSD []string `yaml:"file_sd"`
	DNSSD  *DNSSD   `yaml:"dns_sd"`
	HTTPSD *HTTPSD  `yaml:"http_sd"`
	// Concurrency bounds how many targets are scraped at once.
	Concurrency int `yaml:"concurrency"`
	// FileRefresh is how often file_sd files are re-read besides when
	// they change.
	FileRefresh config.Duration `yaml:"file_refresh"`
}

// RelabelConfig is one step of Prometheus's relabel_config, in its keys;
// unset pointers take Prometheus's defaults (separator ";", regex "(.*)",
// replacement "$1", action replace).
type RelabelConfig struct {
	SourceLabels []string `yaml:"source_labels"`
	Separator    *string  `yaml:"separator"`
	Regex        *string  `yaml:"regex"`
	Modulus      int      `yaml:"modulus"`
	TargetLabel  string   `yaml:"target_label"`
	Replacement  *string  `yaml:"replacement"`
	Action       string   `yaml:"action"`
}

// compile returns the step as Prometheus's relabel package runs it.
func (r RelabelConfig) compile() (*relabel.Config, error) {
	c := relabel.DefaultRelabelConfig
	c.NameValidationScheme = model.UTF8Validation
	for _, l := range r.SourceLabels {
		c.SourceLabels = append(c.SourceLabels, model.LabelName(l))
	}
	if r.Separator != nil {
		c.Separator = *r.Separator
	}
	if r.Regex != nil {
		re, err := relabel.NewRegexp(*r.Regex)
		if err != nil {
			return nil, fmt.Errorf("compiling regex %q: %w", *r.Regex, err)
		}
		c.Regex = re
	}
	if r.Modulus < 0 {
		return nil, errors.New("modulus must not be negative")
	}
	c.Modulus = uint64(r.Modulus)
	c.TargetLabel = r.TargetLabel
	if r.Replacement != nil {
		c.Replacement = *r.Replacement
	}
	if r.Action != "" {
		a := relabel.Action(strings.ToLower(r.Action))
		switch a {
		case relabel.Replace, relabel.Keep, relabel.Drop, relabel.KeepEqual, relabel.DropEqual, relabel.HashMod,
			relabel.LabelMap, relabel.LabelDrop, relabel.LabelKeep, relabel.Lowercase, relabel.Uppercase:
		default:
			return nil, fmt.Errorf("%q is not a relabel action", r.Action)
		}
		c.Action = a
	}
	if err := c.Validate(model.UTF8Validation); err != nil {
		return nil, err
	}
	return &c, nil
}

func compileRelabel(rs []RelabelConfig) ([]*relabel.Config, error) {
	out := make([]*relabel.Config, 0, len(rs))
	for i, r := range rs {
		c, err := r.compile()
		if err != nil {
			return nil, fmt.Errorf("relabel[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// DNSSD is service discovery through DNS records.
type DNSSD struct {
	Names []string `yaml:"names"`
	// Type is SRV (default), A or AAAA; A and AAAA need Port.
	Type    string          `yaml:"type"`
	Port    int             `yaml:"port"`
	Refresh config.Duration `yaml:"refresh"`
	// Server is host:port of the DNS server to ask; by default the
	// servers of /etc/resolv.conf.
	Server string `yaml:"server"`
}

// HTTPSD is service discovery through an endpoint answering in
// Prometheus's http_sd format.
type HTTPSD struct {
	URL     string          `yaml:"url"`
	Refresh config.Duration `yaml:"refresh"`
}

func (c *TargetsConfig) defaults() {
	c.Path = DefaultPath
	c.Scheme = DefaultScheme
	c.Concurrency = DefaultConcurrency
	c.FileRefresh = config.Duration(5 * time.Minute)
}

// fleet reports whether the settings name targets beyond the url key.
func (c *TargetsConfig) fleet() bool {
	return len(c.Targets) > 0 || len(c.FileSD) > 0 || c.DNSSD != nil || c.HTTPSD != nil
}

func (c *TargetsConfig) validate(v *config.Validator) {
	v.NonEmpty("targets", c.Targets)
	for i, t := range c.Targets {
		if strings.Contains(t, "://") {
			v.HTTPURL(fmt.Sprintf("targets[%d]", i), t)
		} else if _, _, err := net.SplitHostPort(t); err != nil && strings.TrimSpace(t) != "" {
			v.Errorf(fmt.Sprintf("targets[%d]", i), "%q is neither host:port nor an http(s) URL", t)
		}
	}
	if !strings.HasPrefix(c.Path, "/") {
		v.Errorf("path", "must begin with /")
	}
	if c.Scheme != "http" && c.Scheme != "https" {
		v.Errorf("scheme", "%q is not http or https", c.Scheme)
	}
	v.Positive("concurrency", c.Concurrency <= 0)
	v.Positive("file_refresh", c.FileRefresh <= 0)
	for i, r := range c.Relabel {
		if _, err := r.compile(); err != nil {
			v.Errorf(fmt.Sprintf("relabel[%d]", i), "%v", err)
		}
	}
	v.NonEmpty("file_sd", c.FileSD)
	for i, g := range c.FileSD {
		// As Prometheus does, a relative glob is from the config file's
		// directory.
		c.FileSD[i] = v.Path(g)
		if _, err := filepath.Match(g, ""); err != nil {
			v.Errorf(fmt.Sprintf("file_sd[%d]", i), "%q is not a glob: %v", g, err)
		}
	}
	if d := c.DNSSD; d != nil {
		if len(d.Names) == 0 {
			v.Errorf("dns_sd.names", "must name at least one record")
		}
		v.NonEmpty("dns_sd.names", d.Names)
		switch strings.ToUpper(d.Type) {
		case "", "SRV":
		case "A", "AAAA":
			if d.Port <= 0 || d.Port > 65535 {
				v.Errorf("dns_sd.port", "a port (1-65535) is required for type %s", d.Type)
			}
		default:
			v.Errorf("dns_sd.type", "%q is not SRV, A or AAAA", d.Type)
		}
		if d.Refresh < 0 {
			v.Errorf("dns_sd.refresh", "must be more than 0")
		}
		if d.Server != "" {
			if _, _, err := net.SplitHostPort(d.Server); err != nil {
				v.Errorf("dns_sd.server", "%q is not host:port", d.Server)
			}
		}
	}
	if h := c.HTTPSD; h != nil {
		v.Required("http_sd.url", h.URL == "")
		if h.URL != "" {
			v.HTTPURL("http_sd.url", h.URL)
		}
		if h.Refresh < 0 {
			v.Errorf("http_sd.refresh", "must be more than 0")
		}
	}
}

// target is one endpoint a source scrapes and its health.
type target struct {
	key      string // the URL and labels: a target changes when either does
	url      string
	instance string
	// labels are added to every event scraped from the target, sorted by
	// name; instance and job among them.
	labels []labels.Label
	hash   uint64

	mu         sync.Mutex
	scraped    bool
	up         bool
	lastScrape time.Time
	lastError  string
	cancel     context.CancelFunc
}

func (t *target) record(at time.Time, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.scraped, t.lastScrape, t.up = true, at, err == nil
	t.lastError = ""
	if err != nil {
		t.lastError = err.Error()
	}
}

func (t *target) health() event.TargetHealth {
	t.mu.Lock()
	defer t.mu.Unlock()
	return event.TargetHealth{Instance: t.instance, URL: t.url, Up: t.up, LastScrape: t.lastScrape, LastError: t.lastError}
}

// addLabels sets the target's labels on the fields of an event scraped from
// it. A scraped label that a target label overrides is kept as
// exported_<name>, as Prometheus does without honor_labels.
func (t *target) addLabels(f map[string]any) {
	for _, l := range t.labels {
		k := l.Name
		if k == "metric" || k == "value" {
			k = "label_" + k
		}
		if old, ok := f[k]; ok {
			f["exported_"+k] = old
		}
		f[k] = l.Value
	}
}

// targetsOf turns discovered groups into targets: for every address the
// group's labels, then the source's, then relabeling, then the URL and the
// labels every sample gets, as Prometheus builds them. A target relabeling
// drops, or one left without an address, is skipped; err says why a target
// could not be built (a bad address) and the others are still returned.
func (s *Source) targetsOf(groups []*targetgroup.Group) ([]*target, []error) {
	var out []*target
	var errs []error
	seen := map[string]bool{}
	for _, g := range groups {
		if g == nil {
			continue
		}
		for _, tl := range g.Targets {
			t, err := s.buildTarget(tl, g.Labels)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if t == nil || seen[t.key] {
				continue
			}
			seen[t.key] = true
			out = append(out, t)
		}
	}
	return out, errs
}

// staticGroup is the group of the targets key (and url, in a fleet).
func (s *Source) staticGroup(addrs []string) *targetgroup.Group {
	g := &targetgroup.Group{Source: "static"}
	for _, a := range addrs {
		ls := model.LabelSet{}
		if u, err := url.Parse(a); err == nil && strings.Contains(a, "://") {
			ls[model.AddressLabel] = model.LabelValue(u.Host)
			ls[model.SchemeLabel] = model.LabelValue(u.Scheme)
			p := u.Path
			if p == "" {
				p = "/"
			}
			ls[model.MetricsPathLabel] = model.LabelValue(p)
			for k, vs := range u.Query() {
				if len(vs) > 0 {
					ls[model.LabelName(model.ParamLabelPrefix+k)] = model.LabelValue(vs[0])
				}
			}
		} else {
			ls[model.AddressLabel] = model.LabelValue(a)
		}
		g.Targets = append(g.Targets, ls)
	}
	return g
}

func (s *Source) buildTarget(tl, gl model.LabelSet) (*target, error) {
	lb := labels.NewBuilder(labels.EmptyLabels())
	// Precedence, lowest first: the source's labels, the group's, the
	// target's own; then the defaults for what none of them set.
	for k, v := range s.tc.Labels {
		lb.Set(k, v)
	}
	for k, v := range gl {
		lb.Set(string(k), string(v))
	}
	for k, v := range tl {
		lb.Set(string(k), string(v))
	}
	if lb.Get(model.JobLabel) == "" {
		lb.Set(model.JobLabel, s.name)
	}
	if lb.Get(model.SchemeLabel) == "" {
		lb.Set(model.SchemeLabel, s.tc.Scheme)
	}
	if lb.Get(model.MetricsPathLabel) == "" {
		lb.Set(model.MetricsPathLabel, s.tc.Path)
	}
	if lb.Get(model.ScrapeIntervalLabel) == "" {
		lb.Set(model.ScrapeIntervalLabel, model.Duration(s.interval).String())
	}
	if lb.Get(model.ScrapeTimeoutLabel) == "" {
		lb.Set(model.ScrapeTimeoutLabel, model.Duration(s.timeout).String())
	}
	if !relabel.ProcessBuilder(lb, s.relabel...) {
		return nil, nil
	}
	addr := lb.Get(model.AddressLabel)
	if addr == "" {
		return nil, nil
	}
	scheme, path := lb.Get(model.SchemeLabel), lb.Get(model.MetricsPathLabel)
	if strings.Contains(addr, "/") {
		return nil, fmt.Errorf("building target %q: an address must be host:port, not hold a path", addr)
	}
	// As in Prometheus 3, an address without a port keeps none: the URL
	// takes the scheme's default and instance is the address as written.
	if lb.Get(model.InstanceLabel) == "" {
		lb.Set(model.InstanceLabel, addr)
	}
	q := url.Values{}
	var keep []labels.Label
	lb.Labels().Range(func(l labels.Label) {
		if v, ok := strings.CutPrefix(l.Name, model.ParamLabelPrefix); ok {
			q.Set(v, l.Value)
		}
		if !strings.HasPrefix(l.Name, model.ReservedLabelPrefix) && l.Value != "" {
			keep = append(keep, l)
		}
	})
	u := url.URL{Scheme: scheme, Host: addr, Path: path, RawQuery: q.Encode()}
	sort.Slice(keep, func(i, j int) bool { return keep[i].Name < keep[j].Name })
	h := fnv.New64a()
	h.Write([]byte(u.String()))
	for _, l := range keep {
		h.Write([]byte{0xff})
		h.Write([]byte(l.Name))
		h.Write([]byte{0xfe})
		h.Write([]byte(l.Value))
	}
	var inst string
	for _, l := range keep {
		if l.Name == model.InstanceLabel {
			inst = l.Value
		}
	}
	key := fmt.Sprintf("%s|%x", u.String(), h.Sum64())
	return &target{key: key, url: u.String(), instance: inst, labels: keep, hash: h.Sum64()}, nil
}

// offset is how long after now a target with hash h first scrapes, so that
// the targets of a source are spread over the interval and each scrapes at
// the same point of every interval, as Prometheus does.
func offset(h uint64, now time.Time, interval time.Duration) time.Duration {
	iv := int64(interval)
	base := iv - now.UnixNano()%iv
	return time.Duration((int64(h%uint64(iv)) + base) % iv)
}

// fleetState is the running targets of a source with many.
type fleetState struct {
	mu      sync.Mutex
	targets map[string]*target
	sem     chan struct{}
	// loops counts the running scrape loops, those of removed targets
	// too, so that Run returns only once none can submit any more.
	loops sync.WaitGroup
}

func (f *fleetState) health() []event.TargetHealth {
	f.mu.Lock()
	ts := make([]*target, 0, len(f.targets))
	for _, t := range f.targets {
		ts = append(ts, t)
	}
	f.mu.Unlock()
	out := make([]event.TargetHealth, len(ts))
	for i, t := range ts {
		out[i] = t.health()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Instance != out[j].Instance {
			return out[i].Instance < out[j].Instance
		}
		return out[i].URL < out[j].URL
	})
	return out
}

func (f *fleetState) anyUp() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.targets {
		t.mu.Lock()
		up := t.up
		t.mu.Unlock()
		if up {
			return true
		}
	}
	return false
}

// runFleet scrapes the targets the static list and service discovery name,
// each on its own schedule, starting and stopping targets as discovery
// changes them, until ctx is done.
func (s *Source) runFleet(ctx context.Context, sink source.Sink) error {
	updates := make(chan sdUpdate)
	var wg sync.WaitGroup
	static := s.tc.Targets
	if s.url != "" {
		static = append([]string{s.url}, static...)
	}
	groups := map[string][]*targetgroup.Group{}
	if len(static) > 0 {
		groups["static"] = []*targetgroup.Group{s.staticGroup(static)}
	}
	if err := s.startDiscovery(ctx, &wg, updates); err != nil {
		return err
	}
	s.sync(ctx, sink, groups)
	defer func() {
		s.fleet.mu.Lock()
		for _, t := range s.fleet.targets {
			t.cancel()
		}
		s.fleet.mu.Unlock()
		s.fleet.loops.Wait()
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u := <-updates:
			// A provider's groups are keyed by their Source; an empty
			// group is how a provider says its targets went away.
			m := map[string]*targetgroup.Group{}
			for _, g := range groups[u.provider] {
				m[g.Source] = g
			}
			for _, g := range u.groups {
				if g != nil {
					m[g.Source] = g
				}
			}
			gs := make([]*targetgroup.Group, 0, len(m))
			for _, g := range m {
				gs = append(gs, g)
			}
			groups[u.provider] = gs
			s.sync(ctx, sink, groups)
		}
	}
}

// sdUpdate is what a discovery mechanism found.
type sdUpdate struct {
	provider string
	groups   []*targetgroup.Group
}

// sync starts the targets groups name that are not running and stops those
// running that they no longer name.
func (s *Source) sync(ctx context.Context, sink source.Sink, groups map[string][]*targetgroup.Group) {
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	var all []*targetgroup.Group
	for _, n := range names {
		all = append(all, groups[n]...)
	}
	want, errs := s.targetsOf(all)
	for _, err := range errs {
		s.deps.Log.Warn("skipping target", "source", s.name, "err", err)
	}
	f := s.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	keep := map[string]bool{}
	for _, t := range want {
		keep[t.key] = true
		if _, ok := f.targets[t.key]; ok {
			continue
		}
		tctx, cancel := context.WithCancel(ctx)
		t.cancel = cancel
		f.targets[t.key] = t
		f.loops.Add(1)
		go s.scrapeLoop(tctx, sink, t)
	}
	for k, t := range f.targets {
		if !keep[k] {
			t.cancel()
			delete(f.targets, k)
		}
	}
	s.deps.Log.Debug("targets synced", "source", s.name, "targets", len(f.targets))
}

// scrapeLoop scrapes t at its offset in every interval until ctx is done.
func (s *Source) scrapeLoop(ctx context.Context, sink source.Sink, t *target) {
	defer s.fleet.loops.Done()
	// Timers run on real time (faked by testing/synctest in tests): the
	// source's Clock only stamps events.
	timer := time.NewTimer(offset(t.hash, time.Now(), s.interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next := time.Now()
		select {
		case s.fleet.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		v := *s
		v.url, v.tgt = t.url, t
		v.pullAndSubmit(ctx, sink)
		<-s.fleet.sem
		if ctx.Err() != nil {
			return
		}
		timer.Reset(max(time.Until(next.Add(s.interval)), 0))
	}
}
