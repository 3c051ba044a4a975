package host

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
)

// DefaultInterval is how often the host is sampled when the config does not
// say (CONTRACT.md: every 5 s).
const DefaultInterval = 5 * time.Second

func init() {
	source.Register(source.Kind{Name: "host", NewConfig: func() config.KindConfig { return &Config{} }, New: func(cfg config.Source, deps source.Deps) (source.Source, error) {
		return New(cfg, deps)
	}})
}

// Config is the settings of a host source, besides name, type and
// preprocessing.
type Config struct {
	// Interval is how often the host is sampled. Default DefaultInterval.
	Interval config.Duration `yaml:"interval"`
}

// Defaults sets the interval.
func (c *Config) Defaults() { c.Interval = config.Duration(DefaultInterval) }

// Validate checks the interval.
func (c *Config) Validate(v *config.Validator) { v.Positive("interval", c.Interval <= 0) }

// PullInterval is the interval: a host source samples on a schedule.
func (c *Config) PullInterval() time.Duration { return c.Interval.D() }

// Source samples the host.
type Source struct {
	name     string
	interval time.Duration
	deps     source.Deps
	hostname string

	// ProcRoot is where proc is mounted; tests point it at fixture files.
	ProcRoot string
	// DiskPath is the file system whose usage is reported as disk.
	DiskPath string
}

// New returns a host source for cfg.
func New(cfg config.Source, deps source.Deps) (*Source, error) {
	d, err := deps.WithDefaults(cfg)
	if err != nil {
		return nil, err
	}
	s := &Source{name: cfg.Name, interval: source.SettingsOf[Config](cfg).Interval.D(), deps: d, ProcRoot: "/proc", DiskPath: "/"}
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	s.hostname, err = os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("reading the host name: %w", err)
	}
	return s, nil
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Health returns the source's health.
func (s *Source) Health() *source.Health { return s.deps.Health }

// Raw returns the source's ring of raw messages.
func (s *Source) Raw() *source.Ring { return s.deps.Raw }

// Run takes a first reading, then one every interval, and emits an event per
// interval until ctx is done. A failed reading is reported through Health and
// skipped; the next one compares against the last good reading. Submit
// blocking (backpressure) delays the next sample rather than queueing more.
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	prev, err := s.read()
	if err != nil {
		s.deps.Health.Failure(err)
		s.deps.Log.Warn("reading host stats", "source", s.name, "err", err)
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cur, err := s.read()
		if err != nil {
			s.deps.Health.Failure(err)
			s.deps.Log.Warn("reading host stats", "source", s.name, "err", err)
			continue
		}
		if prev == nil {
			prev = cur // nothing to compare with yet
			continue
		}
		e := s.sample(prev, cur)
		prev = cur
		if err := sink.Submit(ctx, event.Batch{Source: s.name, Events: []*event.Event{e}}, nil); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.deps.Health.Failure(fmt.Errorf("submitting: %w", err))
			continue
		}
		s.deps.Raw.Add(e.Time, e.Raw)
		s.deps.Health.Received(1, len(e.Raw))
		s.deps.Health.Success()
	}
}

// reading is one look at the host's counters and gauges.
type reading struct {
	at                   time.Time
	cpuBusy, cpuTotal    uint64
	cores                int // cpuN lines: the CPUs the load averages are spread over
	memTotal, memAvail   float64
	swapTotal, swapFree  float64
	load1, load5, load15 float64
	netRx, netTx         uint64
	diskUsed, diskTotal  float64
}

func (s *Source) read() (*reading, error) {
	r := &reading{at: s.deps.Clock.Now()}
	if err := readCPU(filepath.Join(s.ProcRoot, "stat"), r); err != nil {
		return nil, err
	}
	if err := readMem(filepath.Join(s.ProcRoot, "meminfo"), r); err != nil {
		return nil, err
	}
	if err := readLoad(filepath.Join(s.ProcRoot, "loadavg"), r); err != nil {
		return nil, err
	}
	if err := readNet(filepath.Join(s.ProcRoot, "net", "dev"), r); err != nil {
		return nil, err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.DiskPath, &st); err != nil {
		return nil, fmt.Errorf("reading file system stats of %s: %w", s.DiskPath, err)
	}
	// Used against what an unprivileged user can get, as df reports it.
	used := float64(st.Blocks-st.Bfree) * float64(st.Bsize)
	avail := float64(st.Bavail) * float64(st.Bsize)
	r.diskUsed, r.diskTotal = used, used+avail
	return r, nil
}

// sample turns two readings into the event of the interval between them.
func (s *Source) sample(prev, cur *reading) *event.Event {
	f := map[string]any{
		"host":   s.hostname,
		"cpu":    0.0,
		"mem":    pct(cur.memTotal-cur.memAvail, cur.memTotal),
		"swap":   pct(cur.swapTotal-cur.swapFree, cur.swapTotal),
		"cores":  float64(cur.cores),
		"load1":  cur.load1,
		"load5":  cur.load5,
		"load15": cur.load15,
		"disk":   pct(cur.diskUsed, cur.diskTotal),
		"net_rx": 0.0,
		"net_tx": 0.0,
	}
	if cur.cpuTotal > prev.cpuTotal && cur.cpuBusy >= prev.cpuBusy {
		f["cpu"] = min(100, pct(float64(cur.cpuBusy-prev.cpuBusy), float64(cur.cpuTotal-prev.cpuTotal)))
	}
	if secs := cur.at.Sub(prev.at).Seconds(); secs > 0 {
		// A counter that went backwards (interface reset) gives 0, not a
		// huge negative rate.
		if cur.netRx >= prev.netRx {
			f["net_rx"] = float64(cur.netRx-prev.netRx) / secs
		}
		if cur.netTx >= prev.netTx {
			f["net_tx"] = float64(cur.netTx-prev.netTx) / secs
		}
	}
	raw := make(map[string]any, len(f)+1)
	for k, v := range f {
		raw[k] = v
	}
	raw["ts"] = cur.at.UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(raw) // a map of strings and finite floats always marshals
	e := &event.Event{Time: cur.at, Source: s.name, Raw: b, Fields: f}
	s.deps.Pre.Apply(e, cur.at)
	return e
}

func pct(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return part / whole * 100
}

func readCPU(path string, r *reading) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	fs := strings.Fields(string(line))
	if len(fs) < 5 || fs[0] != "cpu" {
		return fmt.Errorf("reading %s: no aggregate cpu line", path)
	}
	// user nice system idle iowait irq softirq steal; guest and guest_nice
	// are already counted in user and nice.
	var v [8]uint64
	for i := 0; i < len(v) && i+1 < len(fs); i++ {
		n, err := strconv.ParseUint(fs[i+1], 10, 64)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		v[i] = n
	}
	for _, n := range v {
		r.cpuTotal += n
	}
	idle := v[3] + v[4]
	r.cpuBusy = r.cpuTotal - idle
	// The per-CPU lines follow the aggregate one: "load above twice the
	// cores" needs their number, which can change (CPU hotplug, a
	// container's cpuset as /proc shows it).
	for rest := b[len(line):]; len(rest) > 0; {
		var l []byte
		l, rest, _ = bytes.Cut(bytes.TrimPrefix(rest, []byte{'\n'}), []byte{'\n'})
		if len(l) > 3 && bytes.HasPrefix(l, []byte("cpu")) && l[3] >= '0' && l[3] <= '9' {
			r.cores++
		}
	}
	r.cores = max(r.cores, 1)
	return nil
}

func readMem(path string, r *reading) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *float64
		switch k {
		case "MemTotal":
			dst = &r.memTotal
		case "MemAvailable":
			dst = &r.memAvail
		case "SwapTotal":
			dst = &r.swapTotal
		case "SwapFree":
			dst = &r.swapFree
		default:
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) == 0 {
			return fmt.Errorf("reading %s: %s has no value", path, k)
		}
		n, err := strconv.ParseFloat(fs[0], 64)
		if err != nil {
			return fmt.Errorf("reading %s: %s: %w", path, k, err)
		}
		*dst = n * 1024 // kB
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if r.memTotal == 0 {
		return fmt.Errorf("reading %s: no MemTotal", path)
	}
	return nil
}

func readLoad(path string, r *reading) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	fs := strings.Fields(string(b))
	if len(fs) < 3 {
		return fmt.Errorf("reading %s: want three load averages, got %q", path, b)
	}
	for i, dst := range []*float64{&r.load1, &r.load5, &r.load15} {
		if *dst, err = strconv.ParseFloat(fs[i], 64); err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	}
	return nil
}

func readNet(path string, r *reading) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue // the two header lines
		}
		if strings.TrimSpace(name) == "lo" {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) < 9 {
			return fmt.Errorf("reading %s: short line for %s", path, strings.TrimSpace(name))
		}
		rx, err1 := strconv.ParseUint(fs[0], 10, 64)
		tx, err2 := strconv.ParseUint(fs[8], 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("reading %s: bad counters for %s", path, strings.TrimSpace(name))
		}
		r.netRx += rx
		r.netTx += tx
	}
	return nil
}

var _ source.Source = (*Source)(nil)
