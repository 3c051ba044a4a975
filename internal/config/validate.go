package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// commonSourceKeys apply to every source type: naming and preprocessing.
var commonSourceKeys = []string{"name", "type", "time_field", "fields", "raw_buffer"}

var commonNotifierKeys = []string{"name", "type", "timeout", "max_age"}

// Rule keys that apply to only one of the two kinds of rule.
var (
	pipelineRuleKeys = []string{"pipeline", "when", "no_data", "no_data_after", "no_data_forget"}
	sqlRuleKeys      = []string{"sql", "every", "timeout"}
)

// SourceTypes returns the source types the configuration accepts, sorted:
// those their packages registered (source.Register).
func SourceTypes() []string { return sourceKinds.sortedNames() }

// NotifierTypes returns the notifier types the configuration accepts, sorted:
// those their packages registered (notify.Register).
func NotifierTypes() []string { return notifierKinds.sortedNames() }

// sourceKeyApplies reports whether key may be written on a source of type typ.
func sourceKeyApplies(typ, key string) bool {
	return slices.Contains(commonSourceKeys, key) || slices.Contains(sourceKinds.keysOf(typ), key)
}

func notifierKeyApplies(typ, key string) bool {
	return slices.Contains(commonNotifierKeys, key) || slices.Contains(notifierKinds.keysOf(typ), key)
}

func ruleKeyApplies(isSQL bool, key string) bool {
	if isSQL {
		return !slices.Contains(pipelineRuleKeys, key)
	}
	return !slices.Contains(sqlRuleKeys, key)
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// unitKinds maps each unit preprocessing can convert to its kind; only units
// of one kind convert into each other. It matches internal/preprocess: kb is
// 1000 bytes, kib 1024.
var unitKinds = map[string]string{
	"ns": "time", "us": "time", "µs": "time", "μs": "time", "ms": "time", "s": "time",
	"m": "time", "min": "time", "h": "time", "d": "time",
	"b": "bytes", "bytes": "bytes", "kb": "bytes", "mb": "bytes", "gb": "bytes", "tb": "bytes",
	"kib": "bytes", "mib": "bytes", "gib": "bytes", "tib": "bytes",
	"ratio": "fraction", "fraction": "fraction", "percent": "fraction", "%": "fraction",
}

// validate checks the decoded, defaulted config and records every problem.
func (p *parser) validate() {
	c := p.c
	p.validateServer()
	p.validateStorage()

	switch c.State.Backend {
	case "local":
	case "redis":
		if c.State.Redis.Addr == "" {
			p.missing("state.redis", "addr", "addr is required when state.backend is redis")
		}
	default:
		p.at("state.backend", "%q is not a state backend (local or redis)", c.State.Backend)
	}
	if c.State.Redis.DB < 0 {
		p.at("state.redis.db", "must not be negative")
	}

	sources := p.names("sources", "source", len(c.Sources), func(i int) string { return c.Sources[i].Name })
	for i := range c.Sources {
		p.validateSource(i)
	}
	notifiers := p.names("notifiers", "notifier", len(c.Notifiers), func(i int) string { return c.Notifiers[i].Name })
	for i := range c.Notifiers {
		p.validateNotifier(i)
	}
	pipelines := p.names("pipelines", "pipeline", len(c.Pipelines), func(i int) string { return c.Pipelines[i].Name })
	for i := range c.Pipelines {
		p.validatePipeline(i, sources)
	}
	p.names("rules", "rule", len(c.Rules), func(i int) string { return c.Rules[i].Name })
	for i := range c.Rules {
		p.validateRule(i, pipelines, notifiers)
	}
	p.validateSelf(notifiers)
	p.validateInhibit()
}

// names checks that each item of a section has a non-empty name not used by
// another, and returns the set of names.
func (p *parser) names(section, what string, n int, name func(int) string) map[string]bool {
	set := map[string]bool{}
	first := map[string]int{}
	for i := range n {
		path := fmt.Sprintf("%s[%d].name", section, i)
		nm := name(i)
		switch {
		case strings.TrimSpace(nm) == "":
			p.at(path, "a %s needs a name", what)
		case set[nm]:
			p.at(path, "%s name %q is already used (line %d)", what, nm, first[nm])
		default:
			set[nm] = true
			first[nm] = p.c.lineOrParent(path)
		}
	}
	return set
}

func (p *parser) validateServer() {
	s := p.c.Server
	if _, port, err := net.SplitHostPort(s.Listen); err != nil || port == "" {
		p.at("server.listen", "%q is not a host:port address", s.Listen)
	}
	if s.MaxBodyBytes <= 0 {
		p.at("server.max_body_bytes", "must be more than 0")
	}
	for _, t := range []struct {
		key string
		d   Duration
	}{{"header", s.Timeouts.Header}, {"read", s.Timeouts.Read}, {"idle", s.Timeouts.Idle}} {
		if t.d <= 0 {
			p.at("server.timeouts."+t.key, "must be more than 0")
		}
	}
	if p.c.Query.MaxBytes <= 0 {
		p.at("query.max_bytes", "must be more than 0")
	}
	switch {
	case (s.TLS.CertFile == "") != (s.TLS.KeyFile == ""):
		p.at("server.tls", "cert_file and key_file go together")
	case s.TLS.CertFile != "":
		cert := p.readableFile("server.tls.cert_file", s.TLS.CertFile)
		key := p.readableFile("server.tls.key_file", s.TLS.KeyFile)
		p.c.Server.TLS = ServerTLS{CertFile: cert, KeyFile: key}
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			p.at("server.tls", "loading the certificate and key: %v", err)
		}
	}
	if s.RateLimit.PerSecond < 0 {
		p.at("server.rate_limit.per_second", "must not be negative")
	}
	if s.RateLimit.Burst < 0 {
		p.at("server.rate_limit.burst", "must not be negative")
	}
	if s.TraceURL != "" {
		u, err := url.Parse(strings.ReplaceAll(s.TraceURL, "{trace_id}", "0"))
		switch {
		case !strings.Contains(s.TraceURL, "{trace_id}"):
			p.at("server.trace_url", "%q has no {trace_id} placeholder", s.TraceURL)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			p.at("server.trace_url", "%q is not an http(s) URL", s.TraceURL)
		}
	}
	names := map[string]bool{}
	for i, h := range s.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ ") || strings.Contains(h, "://") {
			p.at(fmt.Sprintf("server.allowed_hosts[%d]", i), "%q is not a host name (write api.example.com, without scheme, port or path)", h)
		}
	}
	for i, t := range s.Auth.Tokens {
		at := func(key string) string { return fmt.Sprintf("server.auth.tokens[%d].%s", i, key) }
		switch {
		case t.Name == "":
			p.at(at("name"), "a token needs a name")
		case names[t.Name]:
			p.at(at("name"), "token name %q is already used", t.Name)
		}
		names[t.Name] = true
		switch {
		case t.Token == "" && t.TokenFile == "":
			p.at(fmt.Sprintf("server.auth.tokens[%d]", i), "exactly one of token or token_file is required")
		case t.Token != "" && t.TokenFile != "":
			p.at(at("token_file"), "exactly one of token or token_file may be given, not both")
		}
		if len(t.Scopes) == 0 {
			p.at(fmt.Sprintf("server.auth.tokens[%d]", i), "scopes is required (read, write or admin)")
		}
		for j, sc := range t.Scopes {
			switch sc {
			case "read", "write", "admin":
			default:
				p.at(fmt.Sprintf("server.auth.tokens[%d].scopes[%d]", i, j), "%q is not a scope (read, write or admin)", sc)
			}
		}
	}
}

// memoryLimitRE is what DuckDB's memory_limit accepts and the store checks
// again: a number and a unit, so a typo is a config error with its line
// rather than a store that does not open.
var memoryLimitRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$`)

func (p *parser) validateStorage() {
	s := p.c.Storage
	if s.Path == "" {
		p.at("storage.path", "must not be empty")
	}
	for key, d := range map[string]Duration{
		"events": s.Retention.Events, "windows": s.Retention.Windows, "alerts": s.Retention.Alerts,
	} {
		if d <= 0 {
			p.at("storage.retention."+key, "must be more than 0")
		}
	}
	if s.FlushInterval <= 0 {
		p.at("storage.flush_interval", "must be more than 0")
	}
	if !memoryLimitRE.MatchString(s.MemoryLimit) {
		p.at("storage.memory_limit", "%q is not a size: want a number and a unit, like 128MB or 1GB", s.MemoryLimit)
	}
	switch s.Compression {
	case "zstd", "none":
	default:
		p.at("storage.compression", "%q is not a compression (zstd or none)", s.Compression)
	}
	switch s.Archive.Format {
	case "", "parquet":
	default:
		p.at("storage.archive.format", "%q is not an archive format (parquet)", s.Archive.Format)
	}
	if p.c.has("storage.archive") && strings.TrimSpace(s.Archive.Dir) == "" {
		p.at("storage.archive.dir", "must not be empty: the directory archived rows are written to")
	}
}

func (p *parser) validateSource(i int) {
	c := p.c
	s := c.Sources[i]
	base := fmt.Sprintf("sources[%d]", i)
	at := func(key string) string { return base + "." + key }

	if _, ok := sourceKinds.lookup(s.Type); !ok {
		if s.Type == "" {
			p.missing(base, "type", "type is required (one of %s)", strings.Join(SourceTypes(), ", "))
		} else {
			p.at(at("type"), "unknown source type %q (one of %s)", s.Type, strings.Join(SourceTypes(), ", "))
		}
	} else {
		p.notApplicable(base, "type "+s.Type, func(k string) bool { return sourceKeyApplies(s.Type, k) })
	}
	if s.Settings != nil {
		s.Settings.Validate(&Validator{p: p, base: base, typ: s.Type, earlier: c.Sources[:i]})
	}
	if s.TimeField == "" {
		p.at(at("time_field"), "must not be empty")
	}
	if s.RawBuffer < 0 {
		p.at(at("raw_buffer"), "must not be negative")
	}
	for name, f := range s.Fields {
		p.validateField(at("fields."+name), name, f)
	}
}

// notApplicable reports every key of the mapping at base that applies() rejects.
func (p *parser) notApplicable(base, what string, applies func(string) bool) {
	prefix := base + "."
	for path := range p.c.lines {
		key, ok := strings.CutPrefix(path, prefix)
		if !ok || strings.ContainsAny(key, ".[") || p.failed[path] {
			continue
		}
		if !applies(key) {
			p.failed[path] = true
			p.add(p.c.lines[path], base, "key %q does not apply to %s", key, what)
		}
	}
}

func (p *parser) nonEmptyItems(path string, items []string) {
	for j, it := range items {
		if strings.TrimSpace(it) == "" {
			p.at(fmt.Sprintf("%s[%d]", path, j), "must not be empty")
		}
	}
}

// httpURL checks that u is an absolute http or https URL.
func (p *parser) httpURL(path, u string) {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		p.at(path, "must be an http:// or https:// URL")
	}
}

func (p *parser) validateField(path, name string, f Field) {
	if name == "" {
		p.at(path, "a field needs a name")
	}
	switch f.Type {
	case "", "number", "string", "bool":
	default:
		p.at(path+".type", "%q is not a field type (number, string or bool)", f.Type)
	}
	numeric := f.Type == "" || f.Type == "number"
	if !numeric {
		for _, k := range []string{"unit", "to", "min", "max"} {
			if p.c.has(path + "." + k) {
				p.at(path+"."+k, "%s applies to numbers, not type %s", k, f.Type)
			}
		}
		return
	}
	unitKind := func(key, u string) string {
		if u == "" {
			return ""
		}
		if k, ok := unitKinds[strings.ToLower(u)]; ok {
			return k
		}
		p.at(path+"."+key, "%q is not a unit (ns us ms s m h d, b kb mb gb tb kib mib gib tib, ratio percent)", u)
		return "bad"
	}
	uk, tk := unitKind("unit", f.Unit), unitKind("to", f.To)
	switch {
	case f.To != "" && f.Unit == "":
		p.at(path+".to", "to needs unit: the unit the value arrives in")
	case uk != "bad" && tk != "bad" && tk != "" && uk != tk:
		p.at(path+".to", "cannot convert %s to %s", f.Unit, f.To)
	}
	if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
		p.at(path+".min", "min %g is greater than max %g", *f.Min, *f.Max)
	}
}

func (p *parser) validatePipeline(i int, sources map[string]bool) {
	pl := p.c.Pipelines[i]
	base := fmt.Sprintf("pipelines[%d]", i)
	at := func(key string) string { return base + "." + key }

	if len(pl.From) == 0 {
		p.missing(base, "from", "from is required: the sources this pipeline reads")
	}
	for j, s := range pl.From {
		if !sources[s] {
			p.at(fmt.Sprintf("%s[%d]", at("from"), j), "there is no source named %q", s)
		}
	}
	// The shape rules are the window engine's too (see ShapeErrors); what
	// only the file can tell, such as a key written but zero, is checked
	// here.
	w := pl.Window
	hasWindow := p.c.has(at("window"))
	windowOK := true
	if !hasWindow {
		p.at(base, "window is required: a duration (10s), {size: 1m, every: 10s} or {count: 60}")
	}
	for _, e := range pl.ShapeErrors() {
		if e.Key == "window" {
			if !hasWindow {
				continue
			}
			windowOK = false
		}
		p.at(at(e.Key), "%s", e.Msg)
	}
	if hasWindow && windowOK && p.c.has(at("window.every")) && w.Every <= 0 {
		p.at(at("window"), "every must be more than 0")
	}

	if pl.MaxGroups <= 0 {
		p.at(at("max_groups"), "must be more than 0")
	}
	if p.c.has(at("update_for")) && pl.Late != "update" {
		p.at(at("update_for"), "update_for applies only with late: update")
	}
	for _, k := range []struct {
		key string
		v   int
	}{{"baseline", pl.Baseline}, {"min_baseline", pl.MinBaseline}} {
		if p.c.has(at(k.key)) && k.v <= 0 {
			p.at(at(k.key), "must be more than 0")
		}
	}
	if p.c.has(at("max_future")) && pl.MaxFuture <= 0 {
		p.at(at("max_future"), "must be more than 0")
	}
	if w.Count > 0 && p.c.has(at("idle_timeout")) {
		p.at(at("idle_timeout"), "idle_timeout does not apply to {count: N} windows")
	}
	if w.Count > 0 && p.c.has(at("max_future")) {
		p.at(at("max_future"), "max_future does not apply to {count: N} windows")
	}
	if len(pl.Aggregates) == 0 {
		p.missing(base, "aggregates", "aggregates is required: at least one name: expression")
	}
	for _, a := range pl.Aggregates {
		ap := at("aggregates." + a.Name)
		switch {
		case !identifier.MatchString(a.Name):
			p.at(ap, "aggregate name %q must be an identifier (letters, digits, _) so rules can use it", a.Name)
		case strings.TrimSpace(a.Expr) == "":
			p.at(ap, "expression is empty")
		}
	}
}

func (p *parser) validateRule(i int, pipelines, notifiers map[string]bool) {
	r := p.c.Rules[i]
	base := fmt.Sprintf("rules[%d]", i)
	at := func(key string) string { return base + "." + key }

	hasPipe, hasSQL := p.c.has(at("pipeline")), p.c.has(at("sql"))
	switch {
	case hasPipe && hasSQL:
		p.at(at("sql"), "a rule has either pipeline (with when) or sql (with every), not both")
	case !hasPipe && !hasSQL:
		p.at(base, "a rule needs pipeline (with when) or sql (with every)")
	case hasPipe:
		p.notApplicable(base, "pipeline rules", func(k string) bool { return ruleKeyApplies(false, k) })
		if !pipelines[r.Pipeline] {
			p.at(at("pipeline"), "there is no pipeline named %q", r.Pipeline)
		}
		if strings.TrimSpace(r.When) == "" {
			p.missing(base, "when", "when is required with pipeline: the condition over the window's aggregates")
		}
		p.validateNoData(base, r)
	default:
		p.notApplicable(base, "sql rules", func(k string) bool { return ruleKeyApplies(true, k) })
		if strings.TrimSpace(r.SQL) == "" {
			p.at(at("sql"), "must not be empty")
		}
		if r.Every <= 0 {
			p.missing(base, "every", "every is required with sql: how often the query runs")
		}
		if p.c.has(at("timeout")) {
			if r.Timeout <= 0 {
				p.at(at("timeout"), "must be more than 0")
			} else if r.Every > 0 && r.Timeout >= r.Every {
				p.at(at("timeout"), "timeout %s must be shorter than every %s", shortDuration(r.Timeout.D()), shortDuration(r.Every.D()))
			}
		}
	}
	switch r.Severity {
	case "critical", "warning", "info":
	default:
		p.at(at("severity"), "%q is not a severity (critical, warning or info)", r.Severity)
	}
	for j, n := range r.Notify {
		if !notifiers[n] {
			p.at(fmt.Sprintf("%s[%d]", at("notify"), j), "there is no notifier named %q", n)
		}
	}
	p.validateAlerting(base, r)
}

// validateAlerting checks a rule's hysteresis and grouping keys.
func (p *parser) validateAlerting(base string, r Rule) {
	at := func(key string) string { return base + "." + key }
	for _, k := range []struct {
		key string
		d   Duration
	}{{"keep_firing_for", r.KeepFiringFor}, {"group_wait", r.GroupWait}, {"group_interval", r.GroupInterval}} {
		if k.d < 0 {
			p.at(at(k.key), "must not be negative")
		}
	}
	if r.ResolveAfter < 0 {
		p.at(at("resolve_after"), "must not be negative")
	}
	p.nonEmptyItems(at("group_by"), r.GroupBy)
	if len(r.GroupBy) > 0 && r.GroupWait <= 0 && r.GroupInterval <= 0 {
		p.at(at("group_by"), "group_by needs group_wait (how long to wait for the group's other alerts)")
	}
}

// validateNoData checks a pipeline rule's missing-data keys.
func (p *parser) validateNoData(base string, r Rule) {
	at := func(key string) string { return base + "." + key }
	switch r.NoData {
	case "", "keep", "reset", "alert":
	default:
		p.at(at("no_data"), "%q is not a no_data mode (keep, reset or alert)", r.NoData)
	}
	if r.NoDataAfter < 0 {
		p.at(at("no_data_after"), "must not be negative")
	}
	if r.NoDataForget < 0 {
		p.at(at("no_data_forget"), "must not be negative")
	}
}

// validateInhibit checks the inhibit rules and notify_max_age.
func (p *parser) validateInhibit() {
	if p.c.NotifyMaxAge <= 0 {
		p.at("notify_max_age", "must be more than 0")
	}
	for i, in := range p.c.Inhibit {
		base := fmt.Sprintf("inhibit[%d]", i)
		if len(in.Source) == 0 {
			p.missing(base, "source", "source is required: the labels of the alert that mutes others")
		}
		if len(in.Target) == 0 {
			p.missing(base, "target", "target is required: the labels of the alerts it mutes")
		}
		p.nonEmptyItems(base+".equal", in.Equal)
	}
}

func (p *parser) validateNotifier(i int) {
	n := p.c.Notifiers[i]
	base := fmt.Sprintf("notifiers[%d]", i)
	at := func(key string) string { return base + "." + key }

	if _, ok := notifierKinds.lookup(n.Type); !ok {
		if n.Type == "" {
			p.missing(base, "type", "type is required (one of %s)", strings.Join(NotifierTypes(), ", "))
		} else {
			p.at(at("type"), "unknown notifier type %q (one of %s)", n.Type, strings.Join(NotifierTypes(), ", "))
		}
		return
	}
	p.notApplicable(base, "type "+n.Type, func(k string) bool { return notifierKeyApplies(n.Type, k) })
	if n.Timeout <= 0 {
		p.at(at("timeout"), "must be more than 0")
	}
	if n.MaxAge <= 0 {
		p.at(at("max_age"), "must be more than 0")
	}
	if n.Settings != nil {
		n.Settings.Validate(&Validator{p: p, base: base, typ: n.Type})
	}
}

// readableFile checks that a file the config names can be read and returns
// its path, made absolute from the config file's directory when relative
// (like token_file), so the config and its files can move together.
func (p *parser) readableFile(path, name string) string {
	if !filepath.IsAbs(name) && p.file != "" {
		name = filepath.Join(filepath.Dir(p.file), name)
	}
	f, err := os.Open(name)
	if err != nil {
		p.at(path, "reading file: %v", err)
		return name
	}
	f.Close()
	return name
}

// readTokenFiles loads token_file contents into Token, so the rest of the
// program sees one kind of token. A relative path is taken from the config
// file's directory, so a config and its secrets can move together.
func (p *parser) readTokenFiles() {
	for i := range p.c.Server.Auth.Tokens {
		t := &p.c.Server.Auth.Tokens[i]
		if t.TokenFile == "" || t.Token != "" {
			continue
		}
		path := t.TokenFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(p.file), path)
		}
		data, err := os.ReadFile(path)
		tp := fmt.Sprintf("server.auth.tokens[%d].token_file", i)
		if err != nil {
			p.at(tp, "reading token file: %v", err)
			continue
		}
		tok := strings.TrimSpace(string(data))
		if tok == "" {
			p.at(tp, "token file %s is empty", path)
			continue
		}
		t.Token = Secret(tok)
	}
}

// boolInt is 1 for true.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
