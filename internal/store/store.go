package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/lookout-dev/lookout/internal/event"
	"github.com/lookout-dev/lookout/internal/store/segment"
)

// The defaults of Options.
const (
	DefaultFlushInterval = time.Second
	DefaultBatchSize     = 10000
	DefaultQueryTimeout  = 10 * time.Second
	DefaultMaxRows       = 10000
	DefaultQueueSize     = 1024
	DefaultPruneChunk    = 10000
	DefaultWindowBatch   = 64
)

// The values of Options.Compression.
const (
	CompressionZstd = "zstd"
	CompressionNone = "none"
)

// FileName is the name of the database file inside Options.Dir.
const FileName = "lookout.duckdb"

// ErrClosed is returned by the Write methods, Flush and the reads once Close
// has been called.
var ErrClosed = errors.New("store closed")

// Options configures a Store. The zero value of each field means its default.
type Options struct {
	// Dir is the data directory; the database is Dir/lookout.duckdb. It is
	// created when missing.
	Dir string
	// FlushInterval bounds how long a written row waits before it is
	// committed. Default 1s.
	FlushInterval time.Duration
	// BatchSize commits as soon as this many rows are buffered. Default 10000.
	BatchSize int
	// StoreEvents turns on storing raw events. When false WriteEvents accepts
	// and discards them; windows, alerts and rejected inputs are still stored.
	StoreEvents bool
	// QueryTimeout bounds each Query. Default 10s.
	QueryTimeout time.Duration
	// MaxRows caps the rows a Query returns; beyond it Result.Truncated is set.
	// Default 10000.
	MaxRows int
	// QueueSize bounds the number of Write calls waiting for the writer; a
	// Write blocks while it is full. Default 1024.
	QueueSize int
	// MemoryLimit caps DuckDB's own memory (its buffer pool of cached pages),
	// e.g. "512MB". DuckDB's default is 80% of the machine's RAM, which a
	// long-running monitor would slowly fill with cached pages. Default
	// DefaultMemoryLimit.
	MemoryLimit string
	// Retention is how long Prune keeps rows of each table.
	Retention Retention
	// ArchiveDir, when set, makes Prune write the rows it deletes to Parquet
	// files under it first: ArchiveDir/<table>/<table>-<oldest>-<n>.parquet.
	ArchiveDir string
	// PruneChunk is the most rows one step of Prune deletes. Default 10000.
	PruneChunk int
	// WindowBatch is how many windows WriteWindow gathers into one request
	// for the writer. Default DefaultWindowBatch: small, because the queue
	// holds QueueSize requests and every window in it is live heap — with
	// 1,024 a whole close of 200,000 groups could wait there (+50 MB of live
	// heap, which the GC then doubles); with 64 at most QueueSize × 64.
	WindowBatch int
	// Compression is how closed event segments are kept: CompressionZstd
	// (the default) or CompressionNone.
	Compression string
	// Log receives the writer's errors. Default: discarded.
	Log *slog.Logger

	// tune, in tests, changes the segment log's options before the
	// writer opens it.
	tune func(*segment.Options)
}

// Retention is how long each table keeps its rows; zero keeps them forever.
// Rejected inputs are kept as long as events.
type Retention struct {
	Events  time.Duration
	Windows time.Duration
	Alerts  time.Duration
}

func (o *Options) setDefaults() {
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = DefaultQueryTimeout
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.Compression == "" {
		o.Compression = CompressionZstd
	}
	if o.MemoryLimit == "" {
		o.MemoryLimit = DefaultMemoryLimit
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.PruneChunk <= 0 {
		o.PruneChunk = DefaultPruneChunk
	}
	if o.WindowBatch <= 0 {
		o.WindowBatch = DefaultWindowBatch
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Store is lookout's DuckDB database. All methods are safe for concurrent use.
type Store struct {
	opts Options
	log  *slog.Logger

	connector *duckdb.Connector
	db        *sql.DB // read connections: Windows, History, Query
	parser    *parser

	// mu guards closed and the closing of queue: Write methods hold it for
	// reading while they send, Close takes it for writing, so no send can
	// race with close(queue).
	mu      sync.RWMutex
	closed  bool
	queue   chan *request
	backlog atomic.Int64
	done    chan struct{} // closed when the writer goroutine has finished
	w       *writer

	// winMu guards pending: closed windows gathered by WriteWindow for one
	// request to the writer. A close emits a window per group, so at 100,000
	// groups one request per window cost 100,000 requests, each with its own
	// row of boxed values, every 10 s. winMu is held while a batch is sent,
	// so batches reach the queue in the order their windows were written.
	winMu   sync.Mutex
	pending []*event.Window

	// gate, when set (by tests only), is received from by the writer after
	// it takes each request off the queue, so a test can hold the writer
	// still and watch the queue fill up.
	gate chan struct{}
}

// Open opens (creating when needed) the database in opts.Dir, brings its
// schema up to date and starts the writer.
func Open(opts Options) (*Store, error) {
	return open(opts, nil)
}

func open(opts Options, gate chan struct{}) (*Store, error) {
	opts.setDefaults()
	if opts.Dir == "" {
		return nil, errors.New("opening store: no data directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", opts.Dir, err)
	}
	path := filepath.Join(opts.Dir, FileName)
	connector, err := duckdb.NewConnector(path, nil)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	s := &Store{
		opts:      opts,
		log:       opts.Log,
		connector: connector,
		db:        sql.OpenDB(connector),
		queue:     make(chan *request, opts.QueueSize),
		done:      make(chan struct{}),
		gate:      gate,
	}
	fail := func(err error) (*Store, error) {
		s.db.Close()
		if s.parser != nil {
			s.parser.close()
		}
		connector.Close()
		return nil, err
	}
	ctx := context.Background()
	if err := migrate(ctx, s.db); err != nil {
		return fail(fmt.Errorf("migrating %s: %w", path, err))
	}
	if err := createMacros(ctx, s.db); err != nil {
		return fail(fmt.Errorf("creating SQL helpers in %s: %w", path, err))
	}
	segDir := filepath.Join(opts.Dir, segDirName)
	if err := lockDown(ctx, s.db, opts.MemoryLimit, segDir); err != nil {
		return fail(fmt.Errorf("locking down %s: %w", path, err))
	}
	if s.parser, err = newParser(); err != nil {
		return fail(err)
	}
	if s.w, err = newWriter(ctx, s); err != nil {
		return fail(fmt.Errorf("starting writer for %s: %w", path, err))
	}
	// The view names the segments, so it comes after the writer has
	// opened them.
	if _, err := s.db.ExecContext(ctx, viewSQL(s.w.segs.Files())); err != nil {
		s.w.close()
		return fail(fmt.Errorf("creating the events view in %s: %w", path, err))
	}
	go s.run()
	return s, nil
}

// lockDown makes the database unable to touch anything outside itself and
// the event segments in segDir, so a query that slips past Query's checks
// still cannot read another file, reach the network or load an extension,
// and cannot turn any of that back on. It runs after the migrations because
// they are the last thing that needs no such limit. DuckDB's cache of
// external files is off: the open segment grows under it, and the page
// cache already holds what was read.
func lockDown(ctx context.Context, db *sql.DB, memoryLimit, segDir string) error {
	if !memoryLimitRE.MatchString(memoryLimit) {
		return fmt.Errorf("memory limit %q: want a number and a unit like 512MB", memoryLimit)
	}
	var allow []string
	if segDir != "" {
		allow = []string{"SET allowed_directories = ['" + strings.ReplaceAll(segDir, "'", "''") + "']"}
	}
	for _, q := range append(allow,
		"SET memory_limit = '"+memoryLimit+"'",
		"SET enable_external_file_cache = false",
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		"SET enable_external_access = false",
		"SET lock_configuration = true",
	) {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("running %q: %w", q, err)
		}
	}
	return nil
}

// DefaultMemoryLimit is DuckDB's memory cap unless Options.MemoryLimit says
// (config storage.memory_limit has the same default). DuckDB's page cache
// fills up to the cap under steady writing and stays there, so the cap sets
// how far RSS climbs before it levels off: with 64MB a 10-minute soak was
// flat after 2 minutes (128MB took 6 to level off) and the comparison SQL
// rule ran as fast as with 512MB (docs/benchmarks.md).
const DefaultMemoryLimit = "64MB"

var memoryLimitRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$`)

// Backlog returns the number of rows handed to the Write methods and not yet
// committed.
func (s *Store) Backlog() int { return int(s.backlog.Load()) }

// Close commits everything written before it, stops the writer and closes
// the database. Writes after Close fail with ErrClosed. Calling Close again
// returns ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	// No Write method runs now (they hold mu for reading) and the writer is
	// still draining the queue, so the windows gathered last can go in.
	s.winMu.Lock()
	if len(s.pending) > 0 {
		s.queue <- &request{table: "windows", windows: s.pending}
		s.pending = nil
	}
	s.winMu.Unlock()
	close(s.queue)
	s.mu.Unlock()

	<-s.done
	return errors.Join(
		s.w.close(),
		s.db.Close(),
		s.parser.close(),
		s.connector.Close(),
	)
}
