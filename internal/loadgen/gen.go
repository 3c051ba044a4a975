package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Profile describes the traffic a Generator produces.
type Profile struct {
	// Services is how many distinct values of the "service" field (and so
	// how many groups of a pipeline grouped by service) the stream has.
	// Events go to services round-robin, so every service gets its share in
	// every window.
	Services int
	// LatencyMu and LatencySigma are the parameters of the log-normal
	// latency_ms field: ln(latency_ms) ~ Normal(LatencyMu, LatencySigma).
	LatencyMu, LatencySigma float64
	// BaseErrorRate is the fraction of events with status 500 outside bursts.
	BaseErrorRate float64
	// Bursts is when the first BurstServices services fail at BurstErrorRate.
	Bursts         Bursts
	BurstServices  int
	BurstErrorRate float64
	// Disorder moves each event's timestamp back by a uniform random amount
	// in [0, Disorder), so events arrive out of order. Only backwards: a
	// timestamp ahead of the wall clock would close windows early by
	// watermark and distort the latency figure.
	Disorder time.Duration
	// LateFraction of the events carry a timestamp LateBy in the past, so
	// lookout counts them as late.
	LateFraction float64
	LateBy       time.Duration
	// BadFraction of the lines are not valid JSON; lookout must reject them.
	BadFraction float64
	// Seed makes the stream reproducible.
	Seed uint64
}

// DefaultProfile is a small, healthy API: 20 ms median latency, 1% errors.
func DefaultProfile() Profile {
	return Profile{
		Services:      100,
		LatencyMu:     math.Log(20),
		LatencySigma:  0.5,
		BaseErrorRate: 0.01,
		LateBy:        time.Minute,
		Seed:          1,
	}
}

// Validate reports a profile that cannot produce a sensible stream.
func (p Profile) Validate() error {
	switch {
	case p.Services < 1:
		return fmt.Errorf("services must be at least 1, not %d", p.Services)
	case p.BurstServices < 0 || p.BurstServices > p.Services:
		return fmt.Errorf("burst services must be between 0 and services (%d), not %d", p.Services, p.BurstServices)
	case p.LatencySigma < 0:
		return fmt.Errorf("latency sigma must not be negative")
	}
	for name, f := range map[string]float64{
		"base error rate": p.BaseErrorRate, "burst error rate": p.BurstErrorRate,
		"late fraction": p.LateFraction, "bad fraction": p.BadFraction,
	} {
		if f < 0 || f > 1 {
			return fmt.Errorf("%s must be between 0 and 1, not %g", name, f)
		}
	}
	return nil
}

// Counts says what went into a batch.
type Counts struct {
	Lines  int // every line, bad ones included
	Bad    int // lines that are not valid JSON
	Late   int // events timestamped LateBy in the past
	Errors int // events with status 500
	Burst  int // events of burst services during a burst
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Lines += o.Lines
	c.Bad += o.Bad
	c.Late += o.Late
	c.Errors += o.Errors
	c.Burst += o.Burst
}

// Generator writes NDJSON batches following a Profile. It is not safe for
// concurrent use: give each sending goroutine its own (NewGenerator with a
// different worker number).
type Generator struct {
	p     Profile
	rng   *rand.Rand
	next  int
	names [][]byte
}

// NewGenerator returns a generator for p. Worker w seeds its random source
// differently and starts its round-robin at a different service, so that
// several workers together still cover every service evenly.
func NewGenerator(p Profile, worker int) (*Generator, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{p: p, rng: rand.New(rand.NewPCG(p.Seed, uint64(worker)+1))}
	width := len(strconv.Itoa(p.Services - 1))
	g.names = make([][]byte, p.Services)
	for i := range g.names {
		g.names[i] = fmt.Appendf(nil, "svc-%0*d", width, i)
	}
	g.next = (worker * 7919) % p.Services
	return g, nil
}

// ServiceName returns the name of service i as the generator writes it.
func (g *Generator) ServiceName(i int) string { return string(g.names[i]) }

// badLine is cut off in the middle of a value: lookout cannot parse it and
// must put it in the rejected table.
const badLine = `{"service":"svc-bad","status":200,"latency_ms":`

// Append appends n NDJSON lines generated at wall-clock time now to buf and
// returns the extended buffer and what went into it. A line looks like
//
//	{"ts":1732600000123,"service":"svc-0042","status":200,"latency_ms":18.31}
func (g *Generator) Append(buf []byte, now time.Time, n int) ([]byte, Counts) {
	var c Counts
	burst := g.p.Bursts.In(now)
	for range n {
		c.Lines++
		if g.p.BadFraction > 0 && g.rng.Float64() < g.p.BadFraction {
			buf = append(buf, badLine...)
			buf = append(buf, '\n')
			c.Bad++
			continue
		}
		svc := g.next
		g.next++
		if g.next == g.p.Services {
			g.next = 0
		}
		ts := now
		if g.p.Disorder > 0 {
			ts = ts.Add(-time.Duration(g.rng.Int64N(int64(g.p.Disorder))))
		}
		if g.p.LateFraction > 0 && g.rng.Float64() < g.p.LateFraction {
			ts = now.Add(-g.p.LateBy)
			c.Late++
		}
		errRate := g.p.BaseErrorRate
		if burst && svc < g.p.BurstServices {
			errRate = g.p.BurstErrorRate
			c.Burst++
		}
		status := 200
		if errRate > 0 && g.rng.Float64() < errRate {
			status = 500
			c.Errors++
		}
		lat := math.Exp(g.p.LatencyMu + g.p.LatencySigma*g.rng.NormFloat64())

		buf = append(buf, `{"ts":`...)
		buf = strconv.AppendInt(buf, ts.UnixMilli(), 10)
		buf = append(buf, `,"service":"`...)
		buf = append(buf, g.names[svc]...)
		buf = append(buf, `","status":`...)
		buf = strconv.AppendInt(buf, int64(status), 10)
		buf = append(buf, `,"latency_ms":`...)
		buf = strconv.AppendFloat(buf, lat, 'f', 2, 64)
		buf = append(buf, "}\n"...)
	}
	return buf, c
}
