package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options is one load run.
type Options struct {
	// Target is lookout's base URL; Token its API token (write and read
	// scope), empty when auth is off; Source the push source's name.
	Target, Token, Source string
	// Sender overrides the sender chosen from Target (tests, other
	// transports). Metrics are still scraped from Target.
	Sender Sender
	// Rate is the offered load in events per second; 0 sends as fast as
	// lookout takes it.
	Rate float64
	// Batch is the number of lines per request; Workers the number of
	// concurrent senders.
	Batch, Workers int
	// Duration is how long to send; Warmup is sent first and left out of
	// the throughput and CPU figures (caches, JIT-free but GC-sized heaps,
	// the first windows opening).
	Duration, Warmup time.Duration
	Profile          Profile
	// WebhookListen is where the alert receiver listens; empty: none.
	WebhookListen string
	// Window and Lateness describe the alerting pipeline, to tie alerts to
	// bursts; Rule is the rule whose alerts are measured.
	Window, Lateness time.Duration
	Rule             string
	// PID is lookout's process for CPU and RSS; 0 finds it from Target's
	// port, -1 skips process figures.
	PID int
	// Progress gets one line per second; nil for none.
	Progress io.Writer
}

// Summary is the result of one run, printed as JSON.
type Summary struct {
	Scenario    string  `json:"scenario,omitempty"`
	Target      string  `json:"target"`
	DurationS   float64 `json:"duration_s"`
	MeasuredS   float64 `json:"measured_s"`
	OfferedRate float64 `json:"offered_rate"` // 0 = max

	LinesSent      int64   `json:"lines_sent"`
	BadLinesSent   int64   `json:"bad_lines_sent"`
	LateEventsSent int64   `json:"late_events_sent"`
	Batches        int64   `json:"batches"`
	Accepted       int64   `json:"accepted"`
	Rejected       int64   `json:"rejected"`
	Throttled429   int64   `json:"throttled_429"`
	Unavailable503 int64   `json:"unavailable_503"`
	RetryWaitS     float64 `json:"retry_wait_s"`
	UnsentLines    int64   `json:"unsent_lines"`

	AcceptedPerS   float64 `json:"accepted_per_s"`
	AggregatedPerS float64 `json:"aggregated_per_s"`
	Aggregated     float64 `json:"aggregated_events"`
	LateCounted    float64 `json:"late_events_counted"`

	PID                  int     `json:"lookout_pid,omitempty"`
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million_events"`
	EventsPerCPUSecond   float64 `json:"events_per_cpu_second"`
	RSSBaseBytes         int64   `json:"rss_base_bytes"`
	RSSEndBytes          int64   `json:"rss_end_bytes"`
	RSSPeakBytes         int64   `json:"rss_peak_bytes"`
	ActiveGroups         int     `json:"active_groups"`
	OpenWindows          float64 `json:"open_windows"`
	RSSPerGroupBytes     float64 `json:"rss_per_group_bytes"`
	// RSSSteadyBytes is the mean RSS over the last window (Options.Window)
	// of the run, RSSSteadyPeakBytes the largest sample in it: a whole
	// close-and-fill cycle, where RSSEndBytes is one sample somewhere in it.
	RSSSteadyBytes         int64    `json:"rss_steady_bytes"`
	RSSSteadyPeakBytes     int64    `json:"rss_steady_peak_bytes"`
	RSSSteadyPerGroupBytes float64  `json:"rss_steady_per_group_bytes"`
	GeneratorCPUSeconds    float64  `json:"generator_cpu_seconds"`
	BurstsInjected         int      `json:"bursts_injected"`
	BurstsDetected         int      `json:"bursts_detected"`
	AlertsExpected         int      `json:"alerts_expected"`
	AlertsMatched          int      `json:"alerts_matched"`
	AlertsUnmatched        int      `json:"alerts_unmatched"`
	ResolvedReceived       int      `json:"resolved_received"`
	AlertLatencyMS         Dist     `json:"alert_latency_ms"`
	Errors                 []string `json:"errors,omitempty"`
}

// sample is one reading of lookout's counters and process.
type sample struct {
	at         time.Time
	aggregated float64
	late       float64
	open       float64
	proc       ProcStat
	procOK     bool
}

const (
	metricPipelineEvents = "lookout_pipeline_events_total"
	metricLate           = "lookout_pipeline_late_events_total"
	metricOpenWindows    = "lookout_pipeline_open_windows"
)

// Run sends load for o.Duration and measures. It returns an error only when
// the run could not be done at all (no sender, lookout unreachable at the
// start); problems during the run are listed in Summary.Errors.
func Run(ctx context.Context, o Options) (Summary, error) {
	s := Summary{Target: o.Target, OfferedRate: o.Rate}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Source == "" {
		o.Source = "push"
	}
	if err := o.Profile.Validate(); err != nil {
		return s, err
	}
	snd := o.Sender
	if snd == nil {
		var err error
		if snd, err = NewSender(o.Target, o.Source, o.Token, o.Workers); err != nil {
			return s, err
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}

	pid := o.PID
	if pid == 0 {
		p, err := pidOfTarget(o.Target)
		if err != nil {
			return s, fmt.Errorf("finding lookout's process (pass -pid, or -pid -1 to skip CPU and RSS): %w", err)
		}
		pid = p
	}
	if pid > 0 {
		s.PID = pid
	}

	recv := NewReceiver()
	if o.WebhookListen != "" {
		ln, err := net.Listen("tcp", o.WebhookListen)
		if err != nil {
			return s, fmt.Errorf("listening for webhooks: %w", err)
		}
		srv := &http.Server{Handler: recv, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}

	read := func() (sample, error) {
		sm := sample{at: time.Now()}
		m, err := Scrape(ctx, client, o.Target, o.Token, metricPipelineEvents, metricLate, metricOpenWindows)
		if err != nil {
			return sm, err
		}
		sm.aggregated, sm.late, sm.open = m[metricPipelineEvents], m[metricLate], m[metricOpenWindows]
		if pid > 0 {
			if sm.proc, err = ReadProc(pid); err != nil {
				return sm, err
			}
			sm.procOK = true
		}
		return sm, nil
	}
	base, err := read()
	if err != nil {
		return s, fmt.Errorf("reading lookout before the load: %w", err)
	}
	selfBase, _ := ReadProc(os.Getpid())

	var (
		totals                                                  Counts
		totalsMu                                                sync.Mutex
		accepted, rejected, throttled, unavail, batches, unsent atomic.Int64
		waited                                                  atomic.Int64
		errMu                                                   sync.Mutex
		errs                                                    = map[string]int{}
	)
	noteErr := func(err error) {
		errMu.Lock()
		errs[err.Error()]++
		errMu.Unlock()
	}

	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	pacer := NewPacer(start, o.Rate, o.Batch)
	var wg sync.WaitGroup
	for w := range o.Workers {
		gen, err := NewGenerator(o.Profile, w)
		if err != nil {
			return s, err
		}
		wg.Go(func() {
			var buf []byte
			for {
				if _, err := pacer.Wait(runCtx); err != nil {
					return
				}
				var c Counts
				buf, c = gen.Append(buf[:0], time.Now(), o.Batch)
				// The batch in hand is sent even when the duration ends
				// meanwhile: only an interrupt (ctx) leaves it unsent.
				r, err := snd.Send(ctx, buf)
				accepted.Add(int64(r.Accepted))
				rejected.Add(int64(r.Rejected))
				throttled.Add(int64(r.Throttled))
				unavail.Add(int64(r.Unavailable))
				waited.Add(int64(r.Waited))
				if err != nil {
					unsent.Add(int64(c.Lines))
					if ctx.Err() == nil {
						// A refusal for good (auth, size) will not get
						// better: stop this worker rather than spin.
						noteErr(err)
					}
					return
				}
				batches.Add(1)
				totalsMu.Lock()
				totals.Add(c)
				totalsMu.Unlock()
			}
		})
	}

	// Progress and samples, once a second.
	var warm, last sample
	warm = base
	peak := base.proc.RSSBytes
	var rssSamples []rssSample // written by the monitor, read after it is done
	tick := time.NewTicker(time.Second)
	warmDone := o.Warmup <= 0
	stop := make(chan struct{})
	monDone := make(chan struct{})
	go func() {
		defer close(monDone)
		prev := base
		var prevAcc int64
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			sm, err := read()
			if err != nil {
				noteErr(err)
				continue
			}
			peak = max(peak, sm.proc.RSSBytes)
			if sm.procOK {
				rssSamples = append(rssSamples, rssSample{sm.at, sm.proc.RSSBytes})
			}
			if !warmDone && sm.at.Sub(start) >= o.Warmup {
				warm, warmDone = sm, true
			}
			last = sm
			if o.Progress != nil {
				dt := sm.at.Sub(prev.at).Seconds()
				acc := accepted.Load()
				cpu := 0.0
				if sm.procOK && prev.procOK {
					cpu = (sm.proc.CPUSeconds - prev.proc.CPUSeconds) / dt * 100
				}
				fired := len(recv.Fired())
				fmt.Fprintf(o.Progress, "t=%3.0fs accepted/s=%-9.0f aggregated/s=%-9.0f cpu=%5.1f%% rss=%6.1fMiB 429=%d 503=%d alerts=%d\n",
					sm.at.Sub(start).Seconds(), float64(acc-prevAcc)/dt, (sm.aggregated-prev.aggregated)/dt,
					cpu, float64(sm.proc.RSSBytes)/(1<<20), throttled.Load(), unavail.Load(), fired)
				prevAcc = acc
			}
			prev = sm
		}
	}()
	wg.Wait()
	end := time.Now()
	tick.Stop()
	close(stop)
	<-monDone
	// Read the counters once more at the end of sending, so the measured
	// interval is exactly the sending time after the warm-up.
	if sm, err := read(); err == nil {
		last = sm
		peak = max(peak, sm.proc.RSSBytes)
		if sm.procOK {
			rssSamples = append(rssSamples, rssSample{sm.at, sm.proc.RSSBytes})
		}
	} else {
		noteErr(err)
	}
	if !warmDone || last.at.IsZero() {
		warm = base
	}
	selfEnd, _ := ReadProc(os.Getpid())

	totalsMu.Lock()
	t := totals
	totalsMu.Unlock()
	s.DurationS = end.Sub(start).Seconds()
	s.LinesSent = int64(t.Lines)
	s.BadLinesSent = int64(t.Bad)
	s.LateEventsSent = int64(t.Late)
	s.Batches = batches.Load()
	s.Accepted, s.Rejected = accepted.Load(), rejected.Load()
	s.Throttled429, s.Unavailable503 = throttled.Load(), unavail.Load()
	s.RetryWaitS = time.Duration(waited.Load()).Seconds()
	s.UnsentLines = unsent.Load()
	s.AcceptedPerS = float64(s.Accepted) / s.DurationS
	s.Aggregated = last.aggregated - base.aggregated
	s.LateCounted = last.late - base.late
	s.OpenWindows = last.open
	s.ActiveGroups = o.Profile.Services
	s.GeneratorCPUSeconds = selfEnd.CPUSeconds - selfBase.CPUSeconds

	s.MeasuredS = last.at.Sub(warm.at).Seconds()
	if s.MeasuredS > 0 {
		aggr := last.aggregated - warm.aggregated
		s.AggregatedPerS = aggr / s.MeasuredS
		if pid > 0 && last.procOK && warm.procOK {
			s.CPUSeconds = last.proc.CPUSeconds - warm.proc.CPUSeconds
			if aggr > 0 {
				s.CPUSecondsPerMillion = s.CPUSeconds / aggr * 1e6
			}
			if s.CPUSeconds > 0 {
				s.EventsPerCPUSecond = aggr / s.CPUSeconds
			}
		}
	}
	if pid > 0 {
		s.RSSBaseBytes, s.RSSEndBytes, s.RSSPeakBytes = base.proc.RSSBytes, last.proc.RSSBytes, peak
		if s.ActiveGroups > 0 {
			s.RSSPerGroupBytes = float64(s.RSSEndBytes-s.RSSBaseBytes) / float64(s.ActiveGroups)
		}
		span := o.Window
		if span <= 0 {
			span = 10 * time.Second
		}
		if mean, top, ok := steadyRSS(rssSamples, last.at, span); ok {
			s.RSSSteadyBytes, s.RSSSteadyPeakBytes = mean, top
			if s.ActiveGroups > 0 {
				s.RSSSteadyPerGroupBytes = float64(mean-s.RSSBaseBytes) / float64(s.ActiveGroups)
			}
		}
	}

	if o.Profile.Bursts.Enabled() && o.WebhookListen != "" {
		m := MatchBursts(recv.Fired(), o.Rule, o.Profile.Bursts, o.Profile.BurstServices, o.Window, o.Lateness, start, end)
		s.BurstsInjected, s.BurstsDetected = m.Injected, m.Detected
		s.AlertsExpected, s.AlertsMatched, s.AlertsUnmatched = m.Expected, m.Matched, m.Unmatched
		s.AlertLatencyMS = NewDist(m.LatencyMS)
	}
	if o.WebhookListen != "" {
		_, s.ResolvedReceived, _ = recv.Counts()
	}
	for e, n := range errs {
		s.Errors = append(s.Errors, fmt.Sprintf("%s (x%d)", e, n))
	}
	if s.Batches == 0 && len(s.Errors) > 0 {
		return s, errors.New("no batch was delivered: " + s.Errors[0])
	}
	return s, nil
}

func pidOfTarget(target string) (int, error) {
	_, port, err := net.SplitHostPort(hostOf(target))
	if err != nil {
		return 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, fmt.Errorf("port %q: %w", port, err)
	}
	return PIDByPort(p)
}
