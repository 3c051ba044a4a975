package lookouttest

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Config builds the lookout.yaml of a test, so that a test writes only what
// it is about: NewConfig fills in a free listen address, a data directory
// and the push source every HTTP test sends to. Write turns it into YAML;
// lookout itself then checks it, so a key misspelt in an Extra map fails the
// start with lookout's own message.
type Config struct {
	// Addr is server.listen; Dir holds the file and the data directory.
	Addr, Dir string
	// Server and Storage are keys of those sections beside listen and path
	// (max_body_bytes, timeouts, flush_interval, ...).
	Server, Storage map[string]any
	Sources         []Source
	Pipelines       []Pipeline
	Rules           []Rule
	Notifiers       []Notifier
}

// Source is one entry of sources; Extra holds the kind's own keys.
type Source struct {
	Name  string         `yaml:"name"`
	Type  string         `yaml:"type"`
	Extra map[string]any `yaml:",inline"`
}

// Pipeline is one entry of pipelines. Aggregates maps a column to its
// expression ("count()"); Extra holds the keys without a field here.
type Pipeline struct {
	Name       string            `yaml:"name"`
	From       []string          `yaml:"from,flow"`
	Where      string            `yaml:"where,omitempty"`
	GroupBy    []string          `yaml:"group_by,flow,omitempty"`
	Window     string            `yaml:"window"`
	Lateness   string            `yaml:"lateness,omitempty"`
	Aggregates map[string]string `yaml:"aggregates"`
	Extra      map[string]any    `yaml:",inline"`
}

// Rule is one entry of rules. For is a number of windows (1) or a duration
// ("30s"); Extra holds the keys without a field here.
type Rule struct {
	Name     string         `yaml:"name"`
	Pipeline string         `yaml:"pipeline,omitempty"`
	When     string         `yaml:"when,omitempty"`
	For      any            `yaml:"for,omitempty"`
	Repeat   string         `yaml:"repeat,omitempty"`
	Notify   []string       `yaml:"notify,flow,omitempty"`
	Extra    map[string]any `yaml:",inline"`
}

// Notifier is one entry of notifiers; Extra holds the kind's own keys (url).
type Notifier struct {
	Name  string         `yaml:"name"`
	Type  string         `yaml:"type"`
	Extra map[string]any `yaml:",inline"`
}

// NewConfig returns a config listening on a free loopback address, storing
// under a temporary directory, with one push source named push.
func NewConfig(t testing.TB) *Config {
	t.Helper()
	return &Config{
		Addr:    FreeAddr(t),
		Dir:     t.TempDir(),
		Server:  map[string]any{},
		Storage: map[string]any{},
		Sources: []Source{{Name: "push", Type: "push"}},
	}
}

// YAML returns the config file's text.
func (c *Config) YAML() ([]byte, error) {
	server := map[string]any{"listen": c.Addr}
	for k, v := range c.Server {
		server[k] = v
	}
	storage := map[string]any{"path": filepath.Join(c.Dir, "data")}
	for k, v := range c.Storage {
		storage[k] = v
	}
	return yaml.Marshal(struct {
		Server    map[string]any `yaml:"server"`
		Storage   map[string]any `yaml:"storage"`
		Sources   []Source       `yaml:"sources,omitempty"`
		Pipelines []Pipeline     `yaml:"pipelines,omitempty"`
		Rules     []Rule         `yaml:"rules,omitempty"`
		Notifiers []Notifier     `yaml:"notifiers,omitempty"`
	}{server, storage, c.Sources, c.Pipelines, c.Rules, c.Notifiers})
}

// Write writes the config to Dir/lookout.yaml and returns the path. Writing
// again (a test that reloads) replaces the file.
func (c *Config) Write(t testing.TB) string {
	t.Helper()
	b, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(c.Dir, "lookout.yaml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Start writes the config and runs bin on it with Start: "run -config"
// and the file, then args.
func (c *Config) Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return Start(t, bin, c.Addr, append([]string{"run", "-config", c.Write(t)}, args...)...)
}
