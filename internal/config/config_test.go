package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// wantLine is a "# want: LINE: SUBSTRING" comment at the top of a bad fixture.
var wantLine = regexp.MustCompile(`^# want: (\d+): (.+)$`)

// unsetEnv makes sure name is not set for the test, restoring it afterwards.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

// setFixtureEnv sets the variables the good fixtures refer to and unsets the
// ones the bad fixtures expect to be missing.
func setFixtureEnv(t *testing.T) {
	t.Setenv("LOOKOUT_TEST_INGEST_TOKEN", "env-token-value")
	t.Setenv("LOOKOUT_TEST_DING_SECRET", "ding-secret-value")
	t.Setenv("LOOKOUT_TEST_REDIS_DB", "3")
	for _, n := range []string{"LOOKOUT_TEST_UNSET_VAR", "LOOKOUT_TEST_UNSET_HOOK", "LOOKOUT_TEST_UNSET_COMMENT", "LOOKOUT_TEST_NOT_SET", "NOT_EXPANDED"} {
		unsetEnv(t, n)
	}
}

func TestBadFixtures(t *testing.T) {
	setFixtureEnv(t)
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("found %d bad fixtures, want at least 15", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			type want struct {
				line int
				sub  string
			}
			var wants []want
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				m := wantLine.FindStringSubmatch(sc.Text())
				if m == nil {
					break
				}
				l, _ := strconv.Atoi(m[1])
				wants = append(wants, want{l, m[2]})
			}
			if len(wants) == 0 {
				t.Fatalf("%s does not start with a # want: LINE: MESSAGE comment", file)
			}

			cfg, err := Load(file)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want errors", file, cfg)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load returned %T (%v), want Errors", err, err)
			}
			out := strings.Split(err.Error(), "\n")
			for _, w := range wants {
				prefix := file + ": "
				if w.line > 0 {
					prefix = fmt.Sprintf("%s:%d: ", file, w.line)
				}
				found := slices.ContainsFunc(out, func(l string) bool {
					return strings.HasPrefix(l, prefix) && strings.Contains(l, w.sub)
				})
				if !found {
					t.Errorf("no error %q...%q in:\n%s", prefix, w.sub, err)
				}
			}
			// Every error is wanted: one mistake must not cascade into
			// follow-up errors that hide it.
			if len(errs) != len(wants) {
				t.Errorf("got %d errors, want %d:\n%s", len(errs), len(wants), err)
			}
			if !slices.IsSortedFunc(errs, func(a, b Error) int { return a.Line - b.Line }) {
				t.Errorf("errors are not in file order:\n%s", err)
			}
		})
	}
}

func TestGoodFixtures(t *testing.T) {
	setFixtureEnv(t)
	files, err := filepath.Glob("testdata/*.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no good fixtures")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			c, err := Load(file)
			if err != nil {
				t.Fatalf("Load(%s):\n%v", file, err)
			}
			if c.File != file {
				t.Errorf("File = %q, want %q", c.File, file)
			}
		})
	}
}

func loadFull(t *testing.T) *Config {
	t.Helper()
	setFixtureEnv(t)
	c, err := Load("testdata/full.good.yaml")
	if err != nil {
		t.Fatalf("loading the full fixture:\n%v", err)
	}
	return c
}

func find[T any](t *testing.T, items []T, name string, nameOf func(T) string) T {
	t.Helper()
	for _, it := range items {
		if nameOf(it) == name {
			return it
		}
	}
	t.Fatalf("no item named %q", name)
	var zero T
	return zero
}

func TestFullFixtureValues(t *testing.T) {
	c := loadFull(t)
	src := func(n string) Source { return find(t, c.Sources, n, func(s Source) string { return s.Name }) }
	pl := func(n string) Pipeline { return find(t, c.Pipelines, n, func(p Pipeline) string { return p.Name }) }
	rule := func(n string) Rule { return find(t, c.Rules, n, func(r Rule) string { return r.Name }) }
	notif := func(n string) Notifier { return find(t, c.Notifiers, n, func(n Notifier) string { return n.Name }) }

	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"env expanded in token", c.Server.Auth.Tokens[0].Token.Reveal(), "env-token-value"},
		{"token_file read relative to the config", c.Server.Auth.Tokens[1].Token.Reveal(), "file-token-value"},
		{"env expanded into an int", c.State.Redis.DB, 3},
		{"$${ is a literal ${", setting(src("api_health").Settings, "Headers").(map[string]Secret)["Authorization"].Reveal(), "Bearer ${NOT_EXPANDED}"},
		{"env in quoted scalar", setting(notif("ding").Settings, "Secret").(Secret).Reveal(), "ding-secret-value"},
		{"days in durations", c.Storage.Retention.Windows.D(), 30 * 24 * time.Hour},
		{"storage.events false kept", *c.Storage.Events, false},
		{"storage.memory_limit", c.Storage.MemoryLimit, "256MB"},
		{"storage.compression", c.Storage.Compression, "none"},
		{"tumbling window", pl("api").Window, Window{Size: 10 * time.Second}},
		{"sliding window", pl("sliding").Window, Window{Size: time.Minute, Every: 10 * time.Second}},
		{"count window", pl("samples").Window, Window{Count: 60}},
		{"explicit lateness", pl("api").Lateness.D(), 2 * time.Second},
		{"default lateness", pl("sliding").Lateness.D(), time.Second},
		{"explicit max_future", pl("sliding").MaxFuture.D(), 10 * time.Minute},
		{"aggregates keep their order", aggNames(pl("api").Aggregates), []string{"requests", "errors", "error_rate", "latency_avg", "latency_p99", "err_share"}},
		{"for as count", rule("HighErrorRate").For, For{Count: 3}},
		{"for as duration", rule("SlowFor30s").For, For{Duration: 30 * time.Second}},
		{"rule default severity", rule("SlowFor30s").Severity, "warning"},
		{"rule default repeat", rule("SlowFor30s").Repeat.D(), 4 * time.Hour},
		{"sql every", rule("ErrorsUpVsYesterday").Every.D(), time.Minute},
		{"redis mode pubsub has no default group", setting(src("chat").Settings, "Group"), ""},
		{"kafka group", setting(src("orders").Settings, "Group"), "lookout"},
		{"field unit", src("app_log").Fields["latency_ms"], Field{Type: "number", Unit: "ms", To: "s", As: "latency"}},
		{"mqtt qos", setting(src("sensors").Settings, "QoS"), 1},
		{"notifier timeout", notif("ops").Timeout.D(), 5 * time.Second},
		{"notifier default timeout", notif("wx").Timeout.D(), 10 * time.Second},
		{"source line", src("push").Line, 30},
		{"pipeline line", pl("api").Line, 94},
		{"aggregate line", pl("api").Aggregates[1].Line, 103},
		{"rule line", rule("HighErrorRate").Line, 119},
		{"notifier line", notif("ops").Line, 139},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
}

// setting returns the field of a kind's settings; this package cannot name
// the kinds' types, which import it.
func setting(kc KindConfig, field string) any {
	return reflect.ValueOf(kc).Elem().FieldByName(field).Interface()
}

func aggNames(as Aggregates) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

func TestLineAndErrorf(t *testing.T) {
	c := loadFull(t)
	for _, tc := range []struct {
		path string
		line int
	}{
		{"sources[3]", 38},
		{"sources[3].url", 40},
		{"pipelines[0].aggregates.error_rate", 104},
		{"rules[0].when", 121},
		{"rules[2].sql", 133},
		{"server.auth.tokens[1].scopes[0]", 14},
		{"rules[1].severity", 0}, // absent: filled by a default
		{"nothing.here", 0},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if got := c.Line(tc.path); got != tc.line {
				t.Errorf("Line(%q) = %d, want %d", tc.path, got, tc.line)
			}
		})
	}

	e := c.Errorf("rules[0].when", "unknown name %q", "eror_rate")
	if want := `testdata/full.good.yaml:121: rules[0].when: unknown name "eror_rate"`; e.Error() != want {
		t.Errorf("Errorf = %q, want %q", e.Error(), want)
	}
	// An absent key is reported where its item starts.
	if e := c.Errorf("rules[1].severity", "x"); e.Line != 128 {
		t.Errorf("Errorf of an absent key: line %d, want 128 (the rule's)", e.Line)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"with line", Error{File: "lookout.yaml", Line: 7, Msg: "m"}, "lookout.yaml:7: m"},
		{"without line", Error{File: "lookout.yaml", Msg: "m"}, "lookout.yaml: m"},
		{"several", Errors{{File: "a", Line: 1, Msg: "x"}, {File: "a", Line: 2, Msg: "y"}}, "a:1: x\na:2: y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestExpandEnv(t *testing.T) {
	t.Setenv("LOOKOUT_TEST_A", "alpha")
	t.Setenv("LOOKOUT_TEST_EMPTY", "")
	unsetEnv(t, "LOOKOUT_TEST_MISSING")
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${LOOKOUT_TEST_A}", want: "alpha"},
		{in: "x-${LOOKOUT_TEST_A}-${LOOKOUT_TEST_A}", want: "x-alpha-alpha"},
		{in: "${LOOKOUT_TEST_EMPTY}", want: ""},
		{in: "$${LOOKOUT_TEST_A}", want: "${LOOKOUT_TEST_A}"},
		{in: "cost $5 and ERROR$", want: "cost $5 and ERROR$"},
		{in: "$LOOKOUT_TEST_A", want: "$LOOKOUT_TEST_A"},
		{in: "${LOOKOUT_TEST_MISSING}", err: "environment variable LOOKOUT_TEST_MISSING is not set"},
		{in: "${LOOKOUT_TEST_A", err: "unterminated"},
		{in: "${not a name}", err: "is not an environment variable name"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := expandEnv(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("expandEnv(%q) error = %v, want %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("expandEnv(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDefaultsApplied(t *testing.T) {
	c, err := Parse("minimal.yaml", []byte(`
sources:
  - {name: push, type: push}
  - {name: h, type: host}
  - {name: api, type: http, url: http://127.0.0.1:1/metrics}
  - {name: r, type: redis, addr: 127.0.0.1:6379, stream: s}
pipelines:
  - {name: p, from: [push], window: 10s, aggregates: {n: count()}}
  - {name: zero, from: [push], window: 10s, lateness: 0s, aggregates: {n: count()}}
rules:
  - {name: R, pipeline: p, when: n > 1}
notifiers:
  - {name: n, type: log}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"server.listen", c.Server.Listen, "127.0.0.1:9470"},
		{"server.max_body_bytes", c.Server.MaxBodyBytes, int64(16 << 20)},
		{"server.timeouts.header", c.Server.Timeouts.Header.D(), 10 * time.Second},
		{"server.timeouts.read", c.Server.Timeouts.Read.D(), time.Minute},
		{"server.timeouts.idle", c.Server.Timeouts.Idle.D(), 2 * time.Minute},
		{"query.max_bytes", c.Query.MaxBytes, int64(16 << 20)},
		{"storage.path", c.Storage.Path, "./data"},
		{"retention.events", c.Storage.Retention.Events.D(), 24 * time.Hour},
		{"retention.windows", c.Storage.Retention.Windows.D(), 720 * time.Hour},
		{"retention.alerts", c.Storage.Retention.Alerts.D(), 2160 * time.Hour},
		{"storage.events", *c.Storage.Events, true},
		{"storage.flush_interval", c.Storage.FlushInterval.D(), time.Second},
		{"storage.memory_limit", c.Storage.MemoryLimit, DefaultStorageMemoryLimit},
		{"storage.compression", c.Storage.Compression, "zstd"},
		{"state.backend", c.State.Backend, "local"},
		{"state.redis.key_prefix", c.State.Redis.KeyPrefix, "lookout:"},
		{"time_field", c.Sources[0].TimeField, "ts"},
		{"raw_buffer", c.Sources[0].RawBuffer, 100},
		{"payload", setting(c.Sources[3].Settings, "Payload"), "json"},
		{"host interval", setting(c.Sources[1].Settings, "Interval").(Duration).D(), 5 * time.Second},
		{"http interval", setting(c.Sources[2].Settings, "Interval").(Duration).D(), 10 * time.Second},
		{"http timeout", setting(c.Sources[2].Settings, "Timeout").(Duration).D(), 2 * time.Second},
		{"http format", setting(c.Sources[2].Settings, "Format"), "prometheus"},
		{"http jitter", setting(c.Sources[2].Settings, "Jitter").(Duration).D(), time.Duration(0)},
		{"redis mode", setting(c.Sources[3].Settings, "Mode"), "stream"},
		{"redis group", setting(c.Sources[3].Settings, "Group"), "lookout"},
		{"lateness", c.Pipelines[0].Lateness.D(), time.Second},
		{"explicit zero lateness is kept", c.Pipelines[1].Lateness.D(), time.Duration(0)},
		{"max_groups", c.Pipelines[0].MaxGroups, 100000},
		{"max_future", c.Pipelines[0].MaxFuture.D(), 5 * time.Minute},
		{"severity", c.Rules[0].Severity, "warning"},
		{"repeat", c.Rules[0].Repeat.D(), 4 * time.Hour},
		{"notifier timeout", c.Notifiers[0].Timeout.D(), 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
}

// normalize drops what depends on where a config was read from, so configs
// parsed from different texts can be compared.
func normalize(c *Config) *Config {
	c.lines, c.null, c.File = nil, nil, ""
	for i := range c.Sources {
		c.Sources[i].Line = 0
	}
	for i := range c.Pipelines {
		c.Pipelines[i].Line = 0
		for j := range c.Pipelines[i].Aggregates {
			c.Pipelines[i].Aggregates[j].Line = 0
		}
	}
	for i := range c.Rules {
		c.Rules[i].Line = 0
	}
	for i := range c.Notifiers {
		c.Notifiers[i].Line = 0
	}
	return c
}

func TestDefault(t *testing.T) {
	c := Default()
	if c.File != "<default>" {
		t.Errorf("File = %q", c.File)
	}
	if _, err := Parse("printed.yaml", DefaultYAML()); err != nil {
		t.Fatalf("DefaultYAML does not parse:\n%v", err)
	}
	// What -print-default-config prints must be the configuration that runs.
	again, _ := Parse(DefaultFile, DefaultYAML())
	if !reflect.DeepEqual(normalize(again), normalize(Default())) {
		t.Error("parsing DefaultYAML gives a different config from Default")
	}
	dump, err := Default().Dump()
	if err != nil {
		t.Fatal(err)
	}
	fromDump, err := Parse("dump.yaml", dump)
	if err != nil {
		t.Fatalf("Dump of the default does not parse:\n%v\n%s", err, dump)
	}
	if got, want := normalize(fromDump), normalize(Default()); !reflect.DeepEqual(got, want) {
		t.Errorf("Dump round trip differs:\n%s", dump)
	}

	var names []string
	for _, s := range c.Sources {
		names = append(names, s.Name+"/"+s.Type)
	}
	if want := []string{"push/push", "host/host"}; !slices.Equal(names, want) { // self-monitoring is built in (self.enabled)
		t.Errorf("sources = %v, want %v", names, want)
	}
	host := c.Pipelines[0]
	if host.Name != "host" || host.Window != (Window{Count: 60}) || !slices.Equal(host.GroupBy, []string{"host"}) {
		t.Errorf("host pipeline = %+v", host)
	}
	if got := aggNames(host.Aggregates); !slices.Equal(got, []string{"cpu", "cpu_mean", "cpu_stddev", "cpu_z", "mem", "load1", "disk"}) {
		t.Errorf("aggregates = %v", got)
	}
	for _, tc := range []struct{ rule, when, severity string }{
		{"HostHighCPU", "cpu > 90", "warning"},
		{"HostHighMemory", "mem > 90", "warning"},
		{"HostCPUAnomaly", "cpu_z > 3 && cpu > 50", "info"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			r := find(t, c.Rules, tc.rule, func(r Rule) string { return r.Name })
			if r.When != tc.when || r.Severity != tc.severity || r.For != (For{Count: 3}) || !slices.Equal(r.Notify, []string{"stdout"}) {
				t.Errorf("rule = %+v", r)
			}
		})
	}
	if c.Rules[0].Summary != `CPU {{ printf "%.1f" .cpu }}% on {{ .host }}` {
		t.Errorf("HostHighCPU summary = %q", c.Rules[0].Summary)
	}
	if len(c.Notifiers) != 1 || c.Notifiers[0].Name != "stdout" || c.Notifiers[0].Type != "log" {
		t.Errorf("notifiers = %+v", c.Notifiers)
	}

	// Each call returns its own copy: the app may change it (-listen, -data).
	c.Server.Listen = "changed"
	if Default().Server.Listen != "127.0.0.1:9470" {
		t.Error("Default returned a shared config")
	}
}

func TestDumpRedactsSecrets(t *testing.T) {
	c := loadFull(t)
	out, err := c.Dump()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"env-token-value", "file-token-value", "hunter2", "ding-secret-value", "lark-secret", "mailpass", "access_token=x", "hooks.slack.com"} {
		if bytes.Contains(out, []byte(secret)) {
			t.Errorf("Dump shows secret %q", secret)
		}
	}
	if !bytes.Contains(out, []byte("<redacted>")) {
		t.Error("Dump has no <redacted> placeholder")
	}
	// Keys that do not apply to a source's type are left out, so the dump
	// reads like a config: no payload on a push source.
	var back struct {
		Sources []map[string]any `yaml:"sources"`
	}
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	for _, s := range back.Sources {
		typ, _ := s["type"].(string)
		for k := range s {
			if !sourceKeyApplies(typ, k) {
				t.Errorf("dumped source %v has key %q that does not apply to %s", s["name"], k, typ)
			}
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want an error wrapping fs.ErrNotExist", err)
	}
}

func TestAliases(t *testing.T) {
	t.Setenv("LOOKOUT_TEST_A", "alpha")
	c, err := Parse("a.yaml", []byte(`
sources:
  - {name: push, type: push}
pipelines:
  - {name: p, from: &from [push], window: 10s, aggregates: {n: count()}}
  - {name: q, from: *from, window: 10s, aggregates: {n: count()}}
rules:
  - {name: R, pipeline: p, when: n > 1, summary: &s '$${LOOKOUT_TEST_A} ${LOOKOUT_TEST_A}'}
  - {name: S, pipeline: q, when: n > 1, summary: *s}
`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Pipelines[1].From, []string{"push"}) {
		t.Errorf("aliased from = %v", c.Pipelines[1].From)
	}
	// The aliased scalar is expanded once: the escape stays a literal.
	for _, r := range c.Rules {
		if r.Summary != "${LOOKOUT_TEST_A} alpha" {
			t.Errorf("rule %s summary = %q, want %q", r.Name, r.Summary, "${LOOKOUT_TEST_A} alpha")
		}
	}
}

func BenchmarkParseFull(b *testing.B) {
	b.Setenv("LOOKOUT_TEST_INGEST_TOKEN", "x")
	b.Setenv("LOOKOUT_TEST_DING_SECRET", "x")
	b.Setenv("LOOKOUT_TEST_REDIS_DB", "3")
	data, err := os.ReadFile("testdata/full.good.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("testdata/full.good.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEnvNotExpandedInComments(t *testing.T) {
	unsetEnv(t, "LOOKOUT_TEST_UNSET_VAR")
	_, err := Parse("c.yaml", []byte("# ${LOOKOUT_TEST_UNSET_VAR}\nsources: [{name: push, type: push}] # ${LOOKOUT_TEST_UNSET_VAR}\n"))
	if err != nil {
		t.Errorf("a variable in a comment was expanded: %v", err)
	}
}

// allSchemaKeys collects every YAML key of the schema: the Config type's and
// those of every registered source and notifier kind's settings.
func allSchemaKeys() map[string]bool {
	keys := map[string]bool{}
	schemaKeys(reflect.TypeFor[Config](), keys)
	for _, kc := range SourceKindConfigs() {
		schemaKeys(reflect.TypeOf(kc), keys)
	}
	for _, kc := range NotifierKindConfigs() {
		schemaKeys(reflect.TypeOf(kc), keys)
	}
	return keys
}

// schemaKeys collects every YAML key of the schema by walking the Config type.
// Types with their own UnmarshalYAML are leaves, except Window whose keys are
// its mapping form's.
func schemaKeys(t reflect.Type, into map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t == reflect.TypeFor[Window]() {
		into["size"], into["every"], into["count"] = true, true, true
		return
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && opts == "inline" {
			schemaKeys(f.Type, into)
			continue
		}
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		into[name] = true
		schemaKeys(f.Type, into)
	}
}

func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := allSchemaKeys()
	if len(keys) < 50 {
		t.Fatalf("found only %d keys; the schema walk is broken", len(keys))
	}
	for k := range keys {
		if !bytes.Contains(doc, []byte("`"+k+"`")) {
			t.Errorf("docs/configuration.md does not document key `%s`", k)
		}
	}
	for _, typ := range append(SourceTypes(), NotifierTypes()...) {
		if !bytes.Contains(doc, []byte("`"+typ+"`")) {
			t.Errorf("docs/configuration.md does not document type `%s`", typ)
		}
	}
}

func TestFullFixtureHasEveryKey(t *testing.T) {
	c := loadFull(t)
	keys := allSchemaKeys()
	written := map[string]bool{}
	for path := range c.lines {
		i := strings.LastIndexAny(path, ".]")
		written[path[i+1:]] = true
	}
	for k := range keys {
		if !written[k] {
			t.Errorf("testdata/full.good.yaml does not use key %q", k)
		}
	}
}
