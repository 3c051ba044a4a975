package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"regexp"
	"sort"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/source"
)

// Defaults for keys the config leaves out.
const (
	DefaultInterval     = 250 * time.Millisecond
	DefaultMaxLineBytes = 64 << 10
	// maxBackoff caps the wait between attempts to open a missing file.
	maxBackoff = 10 * time.Second
	// readChunk is how much one read takes from the file.
	readChunk = 64 << 10
	// maxBatch bounds the lines of one submission, so a large backlog
	// (start: beginning on a big file) reaches the pipelines in pieces.
	maxBatch = 1000
)

// The values of the start key.
const (
	StartEnd       = "end"
	StartBeginning = "beginning"
)

func init() {
	source.Register(source.Kind{Name: "logfile", NewConfig: func() config.KindConfig { return &Config{} }, New: func(cfg config.Source, deps source.Deps) (source.Source, error) {
		return New(cfg, deps)
	}})
}

// Config is the settings of a logfile source, besides name, type and
// preprocessing.
type Config struct {
	Path string `yaml:"path"`
	// Start is where a file without a saved position is first read: end
	// (default) or beginning.
	Start string `yaml:"start"`
	// Interval is how often the file is checked for new lines. Default
	// DefaultInterval.
	Interval config.Duration `yaml:"interval"`
	// MaxLineBytes bounds a line; a longer one is rejected. Default
	// DefaultMaxLineBytes.
	MaxLineBytes int `yaml:"max_line_bytes"`
	// Payload is how a line is read: json (default) or text.
	Payload string `yaml:"payload"`
	// Match sets a boolean field per name on each line its regular
	// expression matches.
	Match map[string]string `yaml:"match"`
}

// Defaults sets start, interval, max_line_bytes and payload.
func (c *Config) Defaults() {
	c.Start = StartEnd
	c.Interval = config.Duration(DefaultInterval)
	c.MaxLineBytes = DefaultMaxLineBytes
	c.Payload = source.PayloadJSON
}

// Validate checks the path, start, the interval, the line bound, the
// payload and the match expressions.
func (c *Config) Validate(v *config.Validator) {
	v.Required("path", c.Path == "")
	switch c.Start {
	case StartEnd, StartBeginning:
	default:
		v.Errorf("start", "%q is not a start (end or beginning)", c.Start)
	}
	v.Positive("interval", c.Interval <= 0)
	v.Positive("max_line_bytes", c.MaxLineBytes <= 0)
	for name, re := range c.Match {
		if _, err := regexp.Compile(re); err != nil {
			v.Errorf("match."+name, "%q is not a regular expression: %v", re, err)
		}
	}
	source.ValidatePayload(v, c.Payload)
}

// Source follows one log file.
type Source struct {
	name     string
	path     string
	start    string
	interval time.Duration
	maxLine  int
	json     bool
	matches  []match
	deps     source.Deps

	// Rand returns a uniform random number in [0, n), for the backoff
	// jitter. Tests may replace it.
	Rand func(n int64) int64
}

type match struct {
	name string
	re   *regexp.Regexp
}

// New returns a logfile source for cfg.
func New(cfg config.Source, deps source.Deps) (*Source, error) {
	d, err := deps.WithDefaults(cfg)
	if err != nil {
		return nil, err
	}
	c := source.SettingsOf[Config](cfg)
	s := &Source{
		name: cfg.Name, path: c.Path, start: c.Start, interval: c.Interval.D(),
		maxLine: c.MaxLineBytes, json: c.Payload != source.PayloadText, deps: d, Rand: rand.Int64N,
	}
	if s.path == "" {
		return nil, errors.New("path is required")
	}
	switch s.start {
	case "":
		s.start = StartEnd
	case StartEnd, StartBeginning:
	default:
		return nil, fmt.Errorf("unknown start %q (want end or beginning)", s.start)
	}
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	if s.maxLine <= 0 {
		s.maxLine = DefaultMaxLineBytes
	}
	for name, expr := range c.Match {
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("compiling match %s: %w", name, err)
		}
		s.matches = append(s.matches, match{name, re})
	}
	sort.Slice(s.matches, func(i, j int) bool { return s.matches[i].name < s.matches[j].name })
	return s, nil
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Health returns the source's health.
func (s *Source) Health() *source.Health { return s.deps.Health }

// Raw returns the source's ring of raw lines.
func (s *Source) Raw() *source.Ring { return s.deps.Raw }

// tail is the state of following the file: the open file, what it is (for
// detecting rotation) and how far it was read.
type tail struct {
	f      *os.File
	info   os.FileInfo
	id     fileID // info's identity, for the saved position
	offset int64
	// lineEnd is the offset just after the last complete line read: where
	// a restart resumes once lookout is done with the lines before it.
	lineEnd int64
	// head hashes the file's first headLen bytes (position.Head).
	head    uint64
	headLen int
	split   splitter
	buf     []byte

	// resume is the position saved by the last run, used by the first open
	// that succeeds; track turns acks into positions to save. Both are nil
	// when the tail is driven without them (tests).
	resume *position
	track  *tracker

	batch    event.Batch
	rejected []event.Rejected
	bytes    int
}

// Run follows the file until ctx is done. A missing or unreadable file is
// reported through Health and retried with exponential backoff and jitter;
// it never ends Run. Submit blocking (backpressure) pauses reading.
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	t := &tail{split: splitter{max: s.maxLine}, buf: make([]byte, readChunk),
		resume: s.loadPosition(), track: &tracker{save: s.savePosition}}
	defer t.close()
	first := true
	failures := 0
	for {
		if t.f == nil {
			err := s.open(t, first)
			first = false
			if err != nil {
				s.deps.Health.Failure(err)
				if failures == 0 {
					// Once per outage, not per retry: a path with a typo
					// must not look like a quiet file.
					s.deps.Log.Warn("log file cannot be opened; retrying until it can", "source", s.name, "path", s.path, "err", err)
				}
				failures++
				if !source.Sleep(ctx, s.backoff(failures)) {
					return nil
				}
				continue
			}
			if failures > 0 {
				s.deps.Log.Info("log file opened", "source", s.name, "path", s.path)
			}
			failures = 0
			s.deps.Health.SetConnected(true)
		}
		wait := s.interval
		if err := s.poll(ctx, t, sink); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Keep the file and the position: a read error is retried
			// where it happened rather than by reading it all again.
			s.deps.Health.Failure(err)
			failures++
			wait = s.backoff(failures)
		} else {
			failures = 0
		}
		if !source.Sleep(ctx, wait) {
			return nil
		}
	}
}

// open opens the file. The first file opened resumes at the position the
// last run saved, if any (see resume). Without one, only the file found at
// the very start is read from its end (start: end): one that appears or
// replaces it later is new, and every line of it is wanted.
func (s *Source) open(t *tail, first bool) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", s.path, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("reading the size of %s: %w", s.path, err)
	}
	id, _ := identify(info)
	t.f, t.info, t.id, t.offset, t.lineEnd = f, info, id, 0, 0
	t.head, t.headLen = 0, 0
	t.split.reset()
	if p := t.resume; p != nil {
		t.resume = nil
		if err := s.resume(t, f, info, *p); err != nil {
			t.close()
			return err
		}
		return nil
	}
	if first && s.start == StartEnd {
		t.offset, err = f.Seek(0, io.SeekEnd)
		if err != nil {
			t.close()
			return fmt.Errorf("seeking to the end of %s: %w", s.path, err)
		}
		t.lineEnd = t.offset
	}
	if t.track != nil {
		t.track.start(s.positionOf(t))
	}
	return nil
}

// positionOf is where t is done up to: after its last complete line.
func (s *Source) positionOf(t *tail) position {
	p := position{Path: s.path, fileID: t.id, Offset: t.lineEnd}
	if n := int(min(t.lineEnd, headBytes)); n > 0 {
		if t.headLen != n {
			// The file's start does not change while it is appended to:
			// hash it once it is headBytes long, until then as it grows.
			t.head, t.headLen = 0, 0
			if h, ok := headHash(t.f, n); ok {
				t.head, t.headLen = h, n
			}
		}
		p.Head, p.HeadLen = t.head, t.headLen
	}
	return p
}

func (t *tail) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// poll reads what was appended and then follows a rotation or truncation.
func (s *Source) poll(ctx context.Context, t *tail, sink source.Sink) error {
	if err := s.readToEOF(ctx, t, sink); err != nil {
		return err
	}
	cur, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && !os.SameFile(cur, t.info)):
		// Rotated: the old file may have got its last lines between the
		// read above and the rename, so read it to its end once more, and
		// its unfinished last line is finished now.
		if err := s.readToEOF(ctx, t, sink); err != nil {
			return err
		}
		t.split.flush(s.lineFunc(t))
		t.lineEnd = t.offset
		if err := s.submit(ctx, t, sink); err != nil {
			return err
		}
		// Run opens the new file from its start, retrying with backoff
		// while it is not there yet.
		s.deps.Log.Debug("log file rotated", "source", s.name, "path", s.path)
		t.close()
		return nil
	case err != nil:
		return fmt.Errorf("checking %s: %w", s.path, err)
	case cur.Size() < t.offset:
		// Truncated in place: whatever was unread is gone; start over.
		s.deps.Log.Debug("log file truncated", "source", s.name, "path", s.path)
		if _, err := t.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("seeking to the start of %s: %w", s.path, err)
		}
		t.offset, t.lineEnd = 0, 0
		t.head, t.headLen = 0, 0
		t.split.reset()
		return s.readToEOF(ctx, t, sink)
	default:
		s.deps.Health.SetLagBytes(cur.Size() - t.offset)
	}
	return nil
}

// readToEOF reads and submits everything up to the current end of the file.
func (s *Source) readToEOF(ctx context.Context, t *tail, sink source.Sink) error {
	emit := s.lineFunc(t)
	for {
		n, err := t.f.Read(t.buf)
		if n > 0 {
			if i := bytes.LastIndexByte(t.buf[:n], '\n'); i >= 0 {
				t.lineEnd = t.offset + int64(i) + 1
			}
			t.offset += int64(n)
			t.bytes += n
			t.split.feed(t.buf[:n], emit)
			if len(t.batch.Events)+len(t.rejected) >= maxBatch {
				if err := s.submit(ctx, t, sink); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) || (n == 0 && err == nil) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", s.path, err)
		}
	}
	if err := s.submit(ctx, t, sink); err != nil {
		return err
	}
	s.deps.Health.Success()
	return nil
}

// lineFunc returns the function that turns each line into an event (or a
// rejected record) on t's pending batch.
func (s *Source) lineFunc(t *tail) func([]byte, bool) {
	return func(line []byte, oversize bool) {
		now := s.deps.Clock.Now()
		raw := append([]byte(nil), line...)
		s.deps.Raw.Add(now, raw)
		if oversize {
			t.rejected = append(t.rejected, event.Rejected{
				Time: now, Source: s.name, Raw: raw,
				Reason: fmt.Sprintf("line longer than max_line_bytes (%d bytes); cut to the limit", s.maxLine),
			})
			return
		}
		e, err := s.event(raw, now)
		if err != nil {
			t.rejected = append(t.rejected, event.Rejected{Time: now, Source: s.name, Raw: raw,
				Reason: fmt.Sprintf("decoding a JSON line: %v", err)})
			return
		}
		t.batch.Events = append(t.batch.Events, e)
	}
}

// event builds the event of one line: the decoded JSON object when payload is
// json and the line is one, plus message, path and the match flags. A line
// of a json log that is not JSON (a stack trace, a banner) is a plain line;
// one that starts like a JSON object and does not parse is an error: it
// goes to the rejected table, as with the broker sources.
func (s *Source) event(line []byte, now time.Time) (*event.Event, error) {
	e := &event.Event{Source: s.name, Raw: line}
	if s.json && len(line) > 0 && line[0] == '{' {
		f, err := s.deps.Pre.DecodeFields(line)
		if err != nil {
			return nil, err
		}
		e.Fields = f
	}
	if e.Fields == nil {
		// A plain line has no time of its own: it happened when it was
		// read, which is no reason to flag it no_timestamp.
		e.Time = now
		e.Fields = make(map[string]any, 2+len(s.matches))
	}
	if _, ok := e.Fields["message"]; !ok {
		e.Fields["message"] = string(line)
	}
	if _, ok := e.Fields["path"]; !ok {
		e.Fields["path"] = s.path
	}
	for _, m := range s.matches {
		e.Fields[m.name] = m.re.Match(line)
	}
	s.deps.Pre.Apply(e, now)
	return e, nil
}

// submit hands the pending batch to sink, blocking while lookout is full.
func (s *Source) submit(ctx context.Context, t *tail, sink source.Sink) error {
	if len(t.batch.Events) == 0 && len(t.rejected) == 0 {
		if t.bytes > 0 {
			s.deps.Health.Received(0, t.bytes)
			t.bytes = 0
		}
		return nil
	}
	b, rej := t.batch, t.rejected
	b.Source = s.name
	t.batch, t.rejected = event.Batch{}, nil
	if t.track != nil {
		// The position advances past these lines once lookout is done
		// with them: their windows closed and stored.
		b.Ack = t.track.add(s.positionOf(t))
	}
	if err := sink.Submit(ctx, b, rej); err != nil {
		if b.Ack != nil {
			b.Ack(err) // not kept: the next start reads these lines again
		}
		return fmt.Errorf("submitting lines: %w", err)
	}
	s.deps.Health.Received(len(b.Events), t.bytes)
	t.bytes = 0
	if len(rej) > 0 {
		s.deps.Health.Rejected(len(rej))
	}
	return nil
}

// backoff is the wait before open attempt n+1 after n failures: the poll
// interval doubled per failure up to maxBackoff, with up to 50% jitter so
// that many sources do not retry in step.
func (s *Source) backoff(failures int) time.Duration {
	return source.Backoff{Min: s.interval, Max: maxBackoff, Rand: s.Rand}.Delay(failures - 1)
}

var _ source.Source = (*Source)(nil)
