package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/source"
)

// Defaults for keys the config leaves out.
const (
	DefaultMaxMessageBytes = source.DefaultMaxMessageBytes
	DefaultSessionTimeout  = 45 * time.Second
	// DefaultGroup is the consumer group of a source that names none.
	DefaultGroup = "lookout"
)

// Config is the settings of a kafka source, besides name, type and
// preprocessing.
type Config struct {
	Brokers []string `yaml:"brokers"`
	Topics  []string `yaml:"topics"`
	// Group is the consumer group. Default DefaultGroup.
	Group string `yaml:"group"`
	// Start is where a partition without a committed offset begins:
	// earliest (default) or latest.
	Start string `yaml:"start"`
	// SessionTimeout is how long the group waits for a silent member (one
	// that crashed) before giving its partitions to another. Default 45s.
	SessionTimeout config.Duration `yaml:"session_timeout"`
	// GroupInstanceID makes this lookout a static member of its group
	// (KIP-345): restarted under the same id it takes back its partitions
	// at once instead of after the session timeout. Default a name kept in
	// the data directory.
	GroupInstanceID string `yaml:"group_instance_id"`
	// TLS secures the connection to the brokers.
	TLS TLS `yaml:"tls"`
	// SASL authenticates to the brokers.
	SASL                 SASL `yaml:"sasl"`
	source.MessageConfig `yaml:",inline"`
}

// TLS is the TLS of the connection to the brokers.
type TLS struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate, for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify turns certificate verification off (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL is a SASL login: mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
type SASL struct {
	Mechanism string        `yaml:"mechanism"`
	Username  string        `yaml:"username"`
	Password  config.Secret `yaml:"password"`
}

// Defaults sets the group, start, session timeout and message keys.
func (c *Config) Defaults() {
	c.Group = DefaultGroup
	c.Start = "earliest"
	c.SessionTimeout = config.Duration(DefaultSessionTimeout)
	c.MessageConfig.Defaults()
}

// Validate checks the brokers and topics, start, the session timeout, TLS
// and SASL, and the message keys.
func (c *Config) Validate(v *config.Validator) {
	v.Required("brokers", len(c.Brokers) == 0)
	v.Required("topics", len(c.Topics) == 0)
	v.NonEmpty("brokers", c.Brokers)
	v.NonEmpty("topics", c.Topics)
	switch c.Start {
	case "earliest", "latest":
	default:
		v.Errorf("start", "%q is not a start offset (earliest or latest)", c.Start)
	}
	v.Positive("session_timeout", c.SessionTimeout <= 0)
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		v.Errorf("tls", "cert_file and key_file go together")
	}
	switch c.SASL.Mechanism {
	case "":
		if c.SASL.Username != "" {
			v.Errorf("sasl", "mechanism is required with a username (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASL.Username == "" {
			v.Errorf("sasl", "username is required with mechanism %s", c.SASL.Mechanism)
		}
	default:
		v.Errorf("sasl.mechanism", "%q is not a SASL mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", c.SASL.Mechanism)
	}
	c.MessageConfig.Validate(v)
}

const (
	// pollRecords bounds one poll, and so one batch: big enough that the
	// per-batch costs vanish at high rates, small enough to keep memory flat.
	pollRecords = 10000
	// commitEvery is how often acknowledged offsets are committed. Commits
	// are cheap but not free; a crash redelivers at most this much more.
	commitEvery = time.Second
	minBackoff  = time.Second
	maxBackoff  = time.Minute
	// movedWait bounds how long a rebalance waits for lookout to forget
	// the windows of the partitions it loses. Beyond it the partitions
	// move anyway (and their open windows may come out twice): holding the
	// rebalance longer risks the group's rebalance timeout.
	movedWait = 10 * time.Second
	// lagEvery is how often the lag is measured (and once right after
	// partitions are assigned): one ListOffsets request per interval.
	lagEvery = 2 * time.Second
)

func init() {
	source.Register(source.Kind{Name: "kafka", NewConfig: func() config.KindConfig { return &Config{} }, New: func(cfg config.Source, deps source.Deps) (source.Source, error) {
		return New(cfg, deps)
	}})
}

// Source is one kafka source: one member of its consumer group.
type Source struct {
	name string
	deps source.Deps
	opts []kgo.Opt
	dec  *source.Decoder
	// login names the SASL user and mechanism in connection errors: a
	// broker may just close the connection on a refused login, and "EOF"
	// alone does not say where to look.
	login string
	// instance is the group instance id of a static member, or "".
	instance string
	group    string
	// earliest is whether a partition without a commit starts at the
	// beginning (start: earliest) rather than the end.
	earliest bool
}

// New returns a kafka source for cfg. It checks the configuration (TLS files,
// SASL mechanism) but does not connect: Run does.
func New(cfg config.Source, deps source.Deps) (*Source, error) {
	d, err := deps.WithDefaults(cfg)
	if err != nil {
		return nil, err
	}
	c := source.SettingsOf[Config](cfg)
	if len(c.Brokers) == 0 || len(c.Topics) == 0 {
		return nil, errors.New("brokers and topics are required")
	}
	group := c.Group
	if group == "" {
		group = DefaultGroup
	}
	s := &Source{name: cfg.Name, deps: d, dec: source.NewDecoder(cfg.Name, c.MessageConfig, d), group: group, earliest: true}
	start := kgo.NewOffset().AtStart()
	switch c.Start {
	case "", "earliest":
	case "latest":
		s.earliest = false
		start = kgo.NewOffset().AtEnd()
	default:
		return nil, fmt.Errorf("unknown start %q (want earliest or latest)", c.Start)
	}
	session := c.SessionTimeout.D()
	if session <= 0 {
		session = DefaultSessionTimeout
	}
	s.opts = []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ConsumeTopics(c.Topics...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeResetOffset(start),
		kgo.SessionTimeout(session),
		// Three heartbeats per session, as Kafka recommends, so that a
		// short session_timeout still works.
		kgo.HeartbeatInterval(min(3*time.Second, session/3)),
		// Autocommit commits only the offsets this package marked, and
		// it marks only acknowledged batches: plain autocommit would
		// commit what was merely polled.
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(commitEvery),
		// Rebalances wait until every record of the last poll has been
		// handed to lookout: a revoked partition's callback then finds
		// all its records in lookout's queue, where it can drop them,
		// and none arrive after it (they would open windows that its
		// new owner emits too).
		kgo.BlockRebalanceOnPoll(),
		// A record larger than max_message_bytes must still be fetched
		// (to be rejected and committed past), so the fetch limit is kept
		// above it.
		// A fetch waits at most this long for data. Partitions assigned
		// while a fetch for others is in flight join only the next
		// fetch, so after a restart a partition with a backlog could
		// wait out Kafka's default 5s behind one with none.
		kgo.FetchMaxWait(time.Second),
		kgo.FetchMaxPartitionBytes(int32(max(s.dec.MaxBytes()*2, 1<<20))),
	}
	s.instance = c.GroupInstanceID
	if s.instance == "" {
		if s.instance, err = source.MemberName(d.DataDir, cfg.Name); err != nil {
			return nil, err
		}
	}
	if s.instance != "" {
		// A static member: a lookout restarted after a crash takes
		// back its partitions at once, where a new dynamic member
		// would wait out the dead one's session timeout.
		s.opts = append(s.opts, kgo.InstanceID(s.instance))
	}
	if t := c.TLS; t.Enabled || t.CAFile != "" || t.CertFile != "" {
		tc, err := tlsConfig(t)
		if err != nil {
			return nil, err
		}
		s.opts = append(s.opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL.Mechanism != "" {
		m, err := mechanism(c.SASL)
		if err != nil {
			return nil, err
		}
		s.opts = append(s.opts, kgo.SASL(m))
		s.login = fmt.Sprintf(" as %s (SASL %s)", c.SASL.Username, c.SASL.Mechanism)
	}
	return s, nil
}

func tlsConfig(t TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, documented as tests only
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("reading tls.ca_file %s: no PEM certificate in it", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading tls.cert_file and tls.key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func mechanism(c SASL) (sasl.Mechanism, error) {
	switch c.Mechanism {
	case "PLAIN":
		return plain.Auth{User: c.Username, Pass: c.Password.Reveal()}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: c.Username, Pass: c.Password.Reveal()}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: c.Username, Pass: c.Password.Reveal()}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("unknown sasl.mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", c.Mechanism)
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Health returns the source's health.
func (s *Source) Health() *source.Health { return s.deps.Health }

// Raw returns the source's ring of raw messages.
func (s *Source) Raw() *source.Ring { return s.deps.Raw }

// Run consumes until ctx is done. A client that cannot reach the brokers is
// closed and built again after an exponential backoff with jitter (1s up to
// 1m); errors while consuming are reported through Health and retried by the
// client. Submit blocking (lookout full) stops the polling, so the consumer
// fetches no more than one poll ahead.
//
// When ctx is done Run leaves the group after committing the offsets of
// batches already acknowledged; the others are redelivered to the group. A
// static member leaves too, so that the group need not wait out its session
// timeout; only a crash keeps its partitions for its restart.
func (s *Source) Run(ctx context.Context, sink source.Sink) error {
	source.Reconnect(ctx, reconnect, s.deps.Health, s.deps.Log, s.name, "kafka consumer failed, reconnecting",
		func(ctx context.Context) (bool, error) { return s.consume(ctx, sink) })
	return nil
}

// reconnect is the backoff between clients: 1s doubling to 1m, jittered.
var reconnect = source.Backoff{Min: minBackoff, Max: maxBackoff}

// consume runs one client until ctx is done or the brokers cannot be
// reached. ok reports whether it got as far as consuming.
func (s *Source) consume(ctx context.Context, sink source.Sink) (ok bool, err error) {
	t := &tracker{parts: map[partKey]*partTrack{}, health: s.deps.Health, log: s.deps.Log, name: s.name,
		moved: func(parts map[string][]int32) { s.moved(ctx, parts) }}
	lag := newLagMeter(s)
	opts := append([]kgo.Opt{
		kgo.OnPartitionsAssigned(lag.assigned),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, parts map[string][]int32) {
			lag.remove(parts)
			t.revoked(ctx, cl, parts)
		}),
		kgo.OnPartitionsLost(func(ctx context.Context, cl *kgo.Client, parts map[string][]int32) {
			lag.remove(parts)
			t.lost(ctx, cl, parts)
		}),
	}, s.opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return false, fmt.Errorf("creating kafka client: %w", err)
	}
	t.cl = cl
	defer func() {
		// Leaving the group runs the revoke callback, which waits for
		// the last poll to be allowed.
		cl.AllowRebalance()
		// What lookout acknowledged is committed before leaving; the
		// rest is redelivered to the group.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := cl.CommitMarkedOffsets(cctx); err != nil {
			s.deps.Log.Warn("committing offsets at shutdown", "source", s.name, "err", err)
		}
		if s.instance != "" && ok {
			s.leaveStatic(cctx, cl)
		}
		cancel()
		cl.Close()
	}()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = cl.Ping(pctx)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connecting to kafka%s: %w", s.login, err)
	}
	s.deps.Health.SetConnected(true)
	lagDone := make(chan struct{})
	lagCtx, stopLag := context.WithCancel(ctx)
	go func() {
		defer close(lagDone)
		lag.run(lagCtx, cl)
	}()
	defer func() {
		stopLag()
		<-lagDone
	}()

	for {
		fs := cl.PollRecords(ctx, pollRecords)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return true, nil
		}
		var fetchErr error
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			fetchErr = fmt.Errorf("fetching %s[%d]: %w", topic, p, err)
		})
		if fetchErr != nil {
			s.deps.Health.Failure(fetchErr)
		}
		for i := range fs {
			for j := range fs[i].Topics {
				ft := &fs[i].Topics[j]
				for k := range ft.Partitions {
					fp := &ft.Partitions[k]
					if len(fp.Records) == 0 {
						continue
					}
					key := partKey{ft.Topic, fp.Partition}
					if err := s.submit(ctx, sink, t, key, fp.Records, lag.ownedOrigins()); err != nil {
						return true, nil // ctx is done
					}
				}
			}
		}
		cl.AllowRebalance()
	}
}

// leaveStatic takes a static member out of its group. franz-go does not
// leave on Close with an instance id (so that a restart finds its place
// kept); at a deliberate stop the partitions should go to the other members
// now rather than after the session timeout.
func (s *Source) leaveStatic(ctx context.Context, cl *kgo.Client) {
	// Stops the group management (running the revoke callback) without
	// a LeaveGroup request, which franz-go skips for static members.
	if err := cl.LeaveGroupContext(ctx); err != nil {
		s.deps.Log.Warn("leaving the consumer group", "source", s.name, "err", err)
		return
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = s.group
	m := kmsg.NewLeaveGroupRequestMember()
	m.InstanceID = &s.instance
	req.Members = append(req.Members, m)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
		for _, m := range resp.Members {
			if err == nil {
				err = kerr.ErrorForCode(m.ErrorCode)
			}
		}
	}
	if err != nil && !errors.Is(err, kerr.UnknownMemberID) {
		s.deps.Log.Warn("leaving the consumer group", "source", s.name, "instance", s.instance, "err", err)
	}
}

// submit turns one partition's records into a batch whose Ack marks them
// committable, and hands it over. parts are the origins of every partition
// the member owns (event.Batch.Parts), so that a pipeline waits for all of
// their backlogs before event time closes a window.
func (s *Source) submit(ctx context.Context, sink source.Sink, t *tracker, key partKey, recs []*kgo.Record, parts []int32) error {
	now := s.deps.Clock.Now()
	origin := s.origin(key)
	c := source.NewCollector(s.name, len(recs))
	for _, r := range recs {
		ts := r.Timestamp
		if ts.Unix() <= 0 {
			ts = time.Time{} // no broker time
		}
		e, rej := s.dec.Decode(r.Value, ts, now)
		if c.Add(len(r.Value), e, rej) {
			e.Origin = origin
		}
	}
	last := recs[len(recs)-1]
	c.Batch.Ack = t.add(key, kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1})
	c.Batch.Parts = parts
	if err := sink.Submit(ctx, c.Batch, c.Rejected); err != nil {
		return err
	}
	s.deps.Health.Submitted(len(c.Batch.Events), len(c.Rejected), c.Bytes)
	return nil
}

// origin is the number of partition k in event.Event.Origin.
func (s *Source) origin(k partKey) int32 {
	return s.deps.Origins.Of(s.name + "\x00" + k.topic + "\x00" + strconv.Itoa(int(k.part)))
}

// moved tells lookout that parts moved to another member, and waits (at most
// movedWait) until it has forgotten their open windows. franz-go holds the
// rebalance meanwhile, so the new owner starts reading only after that. When
// the source itself is stopping there is nothing to do: lookout does not emit
// open windows at shutdown.
func (s *Source) moved(ctx context.Context, parts map[string][]int32) {
	if ctx.Err() != nil {
		return
	}
	var origins []int32
	for topic, ps := range parts {
		for _, p := range ps {
			origins = append(origins, s.origin(partKey{topic, p}))
		}
	}
	if len(origins) == 0 {
		return
	}
	slices.Sort(origins)
	wctx, cancel := context.WithTimeout(ctx, movedWait)
	defer cancel()
	if err := s.deps.Revoked(wctx, s.name, origins); err != nil && ctx.Err() == nil {
		s.deps.Log.Warn("partitions moved before lookout forgot their open windows; those windows may be emitted twice",
			"source", s.name, "origins", origins, "err", err)
	}
}

var _ source.Source = (*Source)(nil)
