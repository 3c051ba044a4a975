package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	_ "net/http/pprof" // the tool's own profile, with -pprof
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lookout-dev/lookout/internal/loadgen"
)

const usage = `lookout-load — load generator and benchmark runner for lookout

Usage:
  lookout-load [flags]                                   load a running lookout (-target)
  lookout-load -scenario NAME|FILE -lookout BIN [flags]  start lookout with the scenario's config and load it
  lookout-load -list-scenarios
  lookout-load -update-doc docs/benchmarks.md [-micro bench.txt] RESULT.json...

Progress goes to stderr once a second; the summary is JSON on stdout.

Flags:
`

// rateFlag is -rate: events per second, or "max".
type rateFlag struct{ v float64 }

func (r *rateFlag) String() string {
	if r.v == 0 {
		return "max"
	}
	return strconv.FormatFloat(r.v, 'f', -1, 64)
}

func (r *rateFlag) Set(s string) error {
	if s == "max" {
		r.v = 0
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) {
		return errors.New(`want events per second > 0, or "max"`)
	}
	r.v = v
	return nil
}

type cli struct {
	o       loadgen.Options
	rate    rateFlag
	profile loadgen.Profile

	scenario, lookout, keepDir string
	runs                       int
	list                       bool
	updateDoc, micro, microCmd string
	pprof                      string
	quiet                      bool
	// slope lists group counts for -slope-services: each run is repeated
	// at each count, with the rate scaled to keep events per group.
	slope groupCounts
}

// groupCounts is -slope-services: a comma-separated list of group counts.
type groupCounts []int

func (g *groupCounts) String() string {
	var parts []string
	for _, n := range *g {
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ",")
}

func (g *groupCounts) Set(s string) error {
	var out groupCounts
	for part := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n <= 0 {
			return fmt.Errorf("want group counts > 0 separated by commas, got %q", part)
		}
		out = append(out, n)
	}
	distinct := map[int]bool{}
	for _, n := range out {
		distinct[n] = true
	}
	if len(distinct) < 2 {
		return errors.New("want at least two different group counts")
	}
	*g = out
	return nil
}

func (c *cli) flags(stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lookout-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	c.profile = loadgen.DefaultProfile()
	p := &c.profile
	o := &c.o
	fs.StringVar(&o.Target, "target", "http://127.0.0.1:9470", "lookout's base URL; the push API is POST /api/v1/events there")
	fs.StringVar(&o.Token, "token", "", "API token (write and read scope) when lookout has auth on")
	fs.StringVar(&o.Source, "source", "push", "push source name (?source=)")
	fs.IntVar(&p.Services, "services", p.Services, "distinct service values = groups of a pipeline grouped by service")
	c.rate.v = 10000
	fs.Var(&c.rate, "rate", `offered events per second, or "max"`)
	fs.IntVar(&o.Batch, "batch", 1000, "NDJSON lines per request")
	fs.IntVar(&o.Workers, "workers", 2, "concurrent senders")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to send")
	fs.DurationVar(&o.Warmup, "warmup", 0, "first part of the run left out of throughput and CPU figures")
	fs.Float64Var(&p.LatencyMu, "latency-mu", p.LatencyMu, "log-normal latency_ms: mean of ln(latency_ms) (default ln 20)")
	fs.Float64Var(&p.LatencySigma, "latency-sigma", p.LatencySigma, "log-normal latency_ms: standard deviation of ln(latency_ms)")
	fs.Float64Var(&p.BaseErrorRate, "error-rate", p.BaseErrorRate, "fraction of status 500 outside bursts")
	fs.DurationVar(&p.Bursts.Every, "burst-every", 0, "start an error burst every this long (aligned to the epoch; 0 = no bursts)")
	fs.DurationVar(&p.Bursts.Len, "burst-len", 3*time.Second, "length of each burst")
	fs.Float64Var(&p.BurstErrorRate, "burst-error-rate", 0.5, "fraction of status 500 of burst services during a burst")
	fs.IntVar(&p.BurstServices, "burst-services", 1, "how many services (the first ones) burst")
	fs.DurationVar(&p.Disorder, "disorder", 0, "move timestamps back by up to this much, at random (out-of-order arrival)")
	fs.Float64Var(&p.LateFraction, "late-fraction", 0, "fraction of events timestamped -late-by in the past")
	fs.DurationVar(&p.LateBy, "late-by", p.LateBy, "how far in the past late events are")
	fs.Float64Var(&p.BadFraction, "bad-fraction", 0, "fraction of lines that are not valid JSON")
	fs.Uint64Var(&p.Seed, "seed", p.Seed, "random seed")
	fs.StringVar(&o.WebhookListen, "webhook-listen", "127.0.0.1:5001", `address of the alert webhook receiver ("" = none)`)
	fs.DurationVar(&o.Window, "window", 10*time.Second, "window size of the alerting pipeline (to tie alerts to bursts)")
	fs.DurationVar(&o.Lateness, "lateness", 2*time.Second, "lateness of the alerting pipeline")
	fs.StringVar(&o.Rule, "rule", "HighErrorRate", "rule whose alerts measure latency")
	fs.IntVar(&o.PID, "pid", 0, "lookout's process id for CPU and RSS (0 = find it by -target's port, -1 = skip)")
	fs.StringVar(&c.scenario, "scenario", "", "built-in scenario name or scenario file: start lookout and load it")
	fs.StringVar(&c.lookout, "lookout", "./bin/lookout", "lookout binary for -scenario")
	fs.IntVar(&c.runs, "runs", 1, "with -scenario: runs, each with a fresh lookout (figures are medians)")
	fs.StringVar(&c.keepDir, "keep", "", "with -scenario: keep configs, data and lookout logs under this directory")
	fs.BoolVar(&c.list, "list-scenarios", false, "list the built-in scenarios")
	fs.StringVar(&c.updateDoc, "update-doc", "", "rewrite the figures table in this Markdown file from the result files given as arguments")
	fs.StringVar(&c.micro, "micro", "", "with -update-doc: go test -bench output to include")
	fs.StringVar(&c.microCmd, "micro-command", "go test -run '^$' -bench . -benchmem -count 6 ./...", "with -update-doc: the command that produced -micro")
	fs.StringVar(&c.pprof, "pprof", "", "serve the tool's own net/http/pprof on this address")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines")
	fs.Var(&c.slope, "slope-services", "with -scenario: comma-separated group counts (e.g. 50000,200000); each run is made at each count with -rate scaled by count/-services, and the RSS growth is fitted against the groups: the slope is the RSS per group beyond a fixed base")
	return fs
}

func run(args []string, stdout, stderr io.Writer) int {
	var c cli
	fs := c.flags(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.pprof != "" {
		go func() { _ = http.ListenAndServe(c.pprof, nil) }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case c.list:
		for _, n := range loadgen.BuiltinNames() {
			s, _ := loadgen.Builtin(n)
			fmt.Fprintf(stdout, "%s\n    %s\n", n, strings.TrimSpace(s.Description))
		}
		return 0
	case c.updateDoc != "":
		err = c.runUpdateDoc(fs.Args(), stdout)
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "lookout-load: unexpected argument %q\n", fs.Arg(0))
		return 2
	case c.scenario != "":
		err = c.runScenario(ctx, fs, args, stdout, stderr)
	default:
		err = c.runDirect(ctx, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lookout-load: %v\n", err)
		return 1
	}
	return 0
}

func (c *cli) options(stderr io.Writer) loadgen.Options {
	o := c.o
	o.Rate = c.rate.v
	o.Profile = c.profile
	if !c.quiet {
		o.Progress = stderr
	}
	return o
}

func (c *cli) runDirect(ctx context.Context, stdout, stderr io.Writer) error {
	s, err := loadgen.Run(ctx, c.options(stderr))
	if err != nil {
		return err
	}
	return writeJSON(stdout, s)
}

// runScenario applies the scenario's flags (those not given on the command
// line), then for each run starts lookout in a fresh directory, loads it and
// stops it.
func (c *cli) runScenario(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	sc, err := loadgen.LoadScenario(c.scenario)
	if err != nil {
		return err
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	for name, v := range sc.Flags {
		if explicit[name] {
			continue
		}
		if fs.Lookup(name) == nil {
			return fmt.Errorf("scenario %s: unknown flag %q", sc.Name, name)
		}
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("scenario %s: flag %s=%q: %w", sc.Name, name, v, err)
		}
	}
	bin, err := filepath.Abs(c.lookout)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("lookout binary: %w (build it with make build, or pass -lookout)", err)
	}
	res := loadgen.Result{
		Scenario: sc.Name, Description: strings.TrimSpace(sc.Description),
		Command: "lookout-load " + strings.Join(args, " "), Machine: loadgen.Machine(),
		GoVersion: runtime.Version(), Date: time.Now().UTC().Format("2006-01-02"),
	}
	for i := range max(c.runs, 1) {
		for _, pt := range slopePoints(c.slope, c.profile.Services, c.rate.v) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !c.quiet {
				fmt.Fprintf(stderr, "== %s run %d/%d, %d groups\n", sc.Name, i+1, max(c.runs, 1), pt.services)
			}
			cc := *c
			cc.profile.Services, cc.rate.v = pt.services, pt.rate
			run := strconv.Itoa(i + 1)
			if len(c.slope) > 0 {
				run += "-" + strconv.Itoa(pt.services)
			}
			s, err := cc.scenarioRun(ctx, sc, bin, run, stderr)
			if err != nil {
				return fmt.Errorf("%s run %d (%d groups): %w", sc.Name, i+1, pt.services, err)
			}
			s.Scenario = sc.Name
			res.Runs = append(res.Runs, s)
		}
	}
	res.Figures = loadgen.Figures(sc.Name, res.Runs)
	return writeJSON(stdout, res)
}

// slopePoint is the load of one run of a -slope-services series.
type slopePoint struct {
	services int
	rate     float64 // 0 = max
}

// slopePoints returns the group counts and rates of one series: the counts
// of -slope-services with the rate scaled to keep the events per group and
// window of -services at -rate (a group with fewer events is a cheaper
// group), or just -services at -rate without -slope-services.
func slopePoints(counts []int, services int, rate float64) []slopePoint {
	if len(counts) == 0 {
		return []slopePoint{{services, rate}}
	}
	var out []slopePoint
	for _, n := range counts {
		r := rate
		if services > 0 {
			r = rate * float64(n) / float64(services)
		}
		out = append(out, slopePoint{n, r})
	}
	return out
}

func (c *cli) scenarioRun(ctx context.Context, sc loadgen.Scenario, bin string, run string, stderr io.Writer) (loadgen.Summary, error) {
	var dir string
	var err error
	if c.keepDir != "" {
		dir = filepath.Join(c.keepDir, fmt.Sprintf("%s-%s", sc.Name, run))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return loadgen.Summary{}, err
		}
	} else {
		if dir, err = os.MkdirTemp("", "lookout-load-"); err != nil {
			return loadgen.Summary{}, err
		}
		defer os.RemoveAll(dir)
	}
	listen, err := loadgen.FreeAddr()
	if err != nil {
		return loadgen.Summary{}, err
	}
	o := c.options(stderr)
	if o.WebhookListen == "127.0.0.1:5001" { // the default: take a free port instead
		if o.WebhookListen, err = loadgen.FreeAddr(); err != nil {
			return loadgen.Summary{}, err
		}
	}
	cfg, err := sc.Render(listen, filepath.Join(dir, "data"), o.WebhookListen)
	if err != nil {
		return loadgen.Summary{}, err
	}
	lk, err := loadgen.StartLookout(ctx, bin, dir, listen, cfg)
	if err != nil {
		return loadgen.Summary{}, err
	}
	o.Target = "http://" + listen
	o.PID = lk.PID()
	s, runErr := loadgen.Run(ctx, o)
	stopErr := lk.Stop()
	if c.keepDir != "" {
		_ = os.WriteFile(filepath.Join(dir, "lookout.log"), []byte(lk.Output()), 0o644)
	}
	if runErr != nil {
		return s, fmt.Errorf("%w\nlookout log:\n%s", runErr, tail(lk.Output(), 4000))
	}
	if stopErr != nil {
		s.Errors = append(s.Errors, "stopping lookout: "+stopErr.Error())
	}
	return s, nil
}

func (c *cli) runUpdateDoc(files []string, stdout io.Writer) error {
	var rows []loadgen.Row
	machine, date := loadgen.Machine(), time.Now().UTC().Format("2006-01-02")
	if c.micro != "" {
		f, err := os.Open(c.micro)
		if err != nil {
			return fmt.Errorf("reading micro-benchmarks: %w", err)
		}
		benches, err := loadgen.ParseBench(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("parsing %s: %w", c.micro, err)
		}
		if fi, err := os.Stat(c.micro); err == nil {
			date = fi.ModTime().UTC().Format("2006-01-02")
		}
		rows = append(rows, loadgen.BenchRows(benches, c.microCmd, machine, date)...)
	}
	var results []loadgen.Result
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("reading result: %w", err)
		}
		var r loadgen.Result
		if err := json.Unmarshal(b, &r); err != nil || r.Scenario == "" {
			return fmt.Errorf("%s is not a scenario result of lookout-load -scenario: %v", name, err)
		}
		results = append(results, r)
	}
	rows = append(loadgen.LoadRows(results), rows...)
	doc, err := os.ReadFile(c.updateDoc)
	if err != nil {
		return fmt.Errorf("reading doc: %w", err)
	}
	out, err := loadgen.ReplaceTable(doc, loadgen.Table(rows))
	if err != nil {
		return fmt.Errorf("%s: %w", c.updateDoc, err)
	}
	if err := os.WriteFile(c.updateDoc, out, 0o644); err != nil {
		return fmt.Errorf("writing doc: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %d figures\n", c.updateDoc, len(rows))
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
