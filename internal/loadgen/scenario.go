package loadgen

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed scenarios/*.yaml
var builtin embed.FS

// Scenario is a lookout configuration plus the load to run against it.
// Scenario files are YAML with the same keys:
//
//	name: my-scenario
//	description: what it measures
//	flags: {services: 1000, rate: max, duration: 20s}   # lookout-load flags
//	config: |                                           # lookout's config, a text/template
//	  server: {listen: {{.Listen}}}
//	  storage: {path: {{.Data}}}
//	  ...
//
// The template gets .Listen (a free loopback address), .Data (a fresh data
// directory) and .Webhook (host:port of the tool's alert receiver).
type Scenario struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Flags       map[string]string `yaml:"flags"`
	Config      string            `yaml:"config"`
}

// Builtin returns the built-in scenario with this name.
func Builtin(name string) (Scenario, bool) {
	b, err := builtin.ReadFile("scenarios/" + name + ".yaml")
	if err != nil {
		return Scenario{}, false
	}
	s, err := ParseScenario(b)
	return s, err == nil
}

// BuiltinNames lists the built-in scenarios.
func BuiltinNames() []string {
	ents, _ := builtin.ReadDir("scenarios")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(out)
	return out
}

// LoadScenario returns the built-in scenario called nameOrFile, or reads the
// file of that name.
func LoadScenario(nameOrFile string) (Scenario, error) {
	if s, ok := Builtin(nameOrFile); ok {
		return s, nil
	}
	b, err := os.ReadFile(nameOrFile)
	if err != nil {
		return Scenario{}, fmt.Errorf("reading scenario (built-in ones: %s): %w", strings.Join(BuiltinNames(), ", "), err)
	}
	s, err := ParseScenario(b)
	if err != nil {
		return Scenario{}, fmt.Errorf("%s: %w", nameOrFile, err)
	}
	return s, nil
}

// ParseScenario decodes a scenario strictly.
func ParseScenario(b []byte) (Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("decoding scenario: %w", err)
	}
	if s.Config == "" {
		return s, errors.New("scenario has no config")
	}
	if s.Name == "" {
		s.Name = "custom"
	}
	return s, nil
}

// Render fills the scenario's config template.
func (s Scenario) Render(listen, data, webhook string) ([]byte, error) {
	t, err := template.New(s.Name).Option("missingkey=error").Parse(s.Config)
	if err != nil {
		return nil, fmt.Errorf("parsing scenario config template: %w", err)
	}
	var b bytes.Buffer
	err = t.Execute(&b, map[string]string{"Listen": listen, "Data": data, "Webhook": webhook})
	if err != nil {
		return nil, fmt.Errorf("rendering scenario config: %w", err)
	}
	return b.Bytes(), nil
}

// FreeAddr returns a loopback address with a port free at the time of the
// call.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Lookout is a lookout process started for a scenario.
type Lookout struct {
	Addr string
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}

	mu  sync.Mutex
	log bytes.Buffer
}

// StartLookout writes config into dir/lookout.yaml and runs bin with it and
// the data directory dir/data, listening on addr, then waits up to a minute
// for /readyz.
func StartLookout(ctx context.Context, bin, dir, addr string, config []byte) (*Lookout, error) {
	cfgPath := filepath.Join(dir, "lookout.yaml")
	if err := os.WriteFile(cfgPath, config, 0o644); err != nil {
		return nil, fmt.Errorf("writing lookout config: %w", err)
	}
	l := &Lookout{Addr: addr, Dir: dir, done: make(chan struct{})}
	l.cmd = exec.Command(bin, "run", "-config", cfgPath, "-data", filepath.Join(dir, "data"), "-listen", addr, "-log-level", "warn")
	l.cmd.Stdout, l.cmd.Stderr = &lockedWriter{l}, &lockedWriter{l}
	if err := l.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { _ = l.cmd.Wait(); close(l.done) }()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-l.done:
			return nil, fmt.Errorf("lookout exited before it was ready:\n%s", l.Output())
		case <-ctx.Done():
			l.Stop()
			return nil, ctx.Err()
		default:
		}
		if r, err := http.Get("http://" + addr + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return l, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.Stop()
	return nil, fmt.Errorf("lookout not ready within a minute:\n%s", l.Output())
}

// PID returns the process id.
func (l *Lookout) PID() int { return l.cmd.Process.Pid }

// Output returns what lookout wrote to stdout and stderr.
func (l *Lookout) Output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.log.String()
}

// Stop sends SIGTERM and waits up to 30 s for a clean exit, then kills. It
// returns an error when lookout did not exit cleanly.
func (l *Lookout) Stop() error {
	select {
	case <-l.done:
	default:
		_ = l.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-l.done:
		case <-time.After(30 * time.Second):
			_ = l.cmd.Process.Kill()
			<-l.done
			return errors.New("lookout did not stop within 30s of SIGTERM")
		}
	}
	if code := l.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("lookout exited with %d", code)
	}
	return nil
}

type lockedWriter struct{ l *Lookout }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	// Keep the last 1 MiB: enough to explain a failure.
	if w.l.log.Len() > 1<<20 {
		rest := append([]byte(nil), w.l.log.Bytes()[w.l.log.Len()-512<<10:]...)
		w.l.log.Reset()
		w.l.log.Write(rest)
	}
	return w.l.log.Write(p)
}
