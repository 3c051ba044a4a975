package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/internal/atomicfile"
)

// Positions remembers how far each source got, across restarts, for sources
// whose input cannot be redelivered by a broker (a log file): such a source
// saves a position once lookout is done with what came before it (its batches
// were acknowledged, event.Batch.Ack), and resumes there at the next start.
//
// A position is the source's own JSON encoding; the store does not look
// inside. Implementations are safe for concurrent use.
type Positions interface {
	// Load returns the position last saved under source's name, or nil when
	// none was. An error means one was saved but cannot be read back (the
	// caller falls back to where it starts without one).
	Load(source string) ([]byte, error)
	// Save records pos as source's position. It does not wait for the disk,
	// so it may be called from an Ack: positions reach the disk shortly
	// after (FilePositions: within a second, and at Close). The callee owns
	// pos afterwards.
	Save(source string, pos []byte)
}

// noPositions is the default Positions: nothing is remembered.
type noPositions struct{}

func (noPositions) Load(string) ([]byte, error) { return nil, nil }
func (noPositions) Save(string, []byte)         {}

// PositionSaveInterval is how often FilePositions writes the positions saved
// since its last write: a crash loses at most this much progress, which is
// then read again (and counted as late where its windows were emitted).
const PositionSaveInterval = time.Second

// FilePositions keeps each source's position in a JSON file of its own,
// <dir>/<name>.json, replaced atomically (written to a temporary file,
// synced, renamed, the directory synced) so a crash leaves the old position
// or the new one, never half of one. Saves are batched: at most one write
// per source per PositionSaveInterval, and a last one at Close.
type FilePositions struct {
	dir string
	log *slog.Logger

	mu    sync.Mutex
	last  map[string][]byte // the newest saved position per source
	dirty map[string]bool   // saved since it was last written

	flushMu sync.Mutex // one writer at a time, so renames land in order
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// OpenPositions returns the positions kept under dir, creating it, and
// starts writing saved positions every PositionSaveInterval until Close.
func OpenPositions(dir string, log *slog.Logger) (*FilePositions, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating positions directory: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &FilePositions{dir: dir, log: log, last: map[string][]byte{}, dirty: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

func (p *FilePositions) loop() {
	defer close(p.done)
	t := time.NewTicker(PositionSaveInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if err := p.Flush(); err != nil {
				p.log.Warn("saving source positions", "err", err)
			}
		}
	}
}

// file is where source's position is kept; the name is escaped so that any
// source name is one file name inside dir.
func (p *FilePositions) file(source string) string {
	return filepath.Join(p.dir, url.PathEscape(source)+".json")
}

// Load returns source's position: the one saved in this process if any (a
// source rebuilt by a reload continues where the old one got to), else the
// one on disk; nil when there is none.
func (p *FilePositions) Load(source string) ([]byte, error) {
	p.mu.Lock()
	pos, ok := p.last[source]
	p.mu.Unlock()
	if ok {
		return append([]byte(nil), pos...), nil
	}
	name := p.file(source)
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the position of source %s: %w", source, err)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("reading the position of source %s: %s is not JSON", source, name)
	}
	return data, nil
}

// Save records pos; it is written within PositionSaveInterval.
func (p *FilePositions) Save(source string, pos []byte) {
	p.mu.Lock()
	p.last[source] = pos
	p.dirty[source] = true
	p.mu.Unlock()
}

// Flush writes every position saved since the last write, now. A position
// that could not be written stays due for the next Flush.
func (p *FilePositions) Flush() error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.mu.Lock()
	due := make(map[string][]byte, len(p.dirty))
	for name := range p.dirty {
		due[name] = p.last[name]
	}
	clear(p.dirty)
	p.mu.Unlock()
	var errs []error
	for name, pos := range due {
		if err := atomicfile.Write(p.file(name), pos); err != nil {
			errs = append(errs, fmt.Errorf("saving the position of source %s: %w", name, err))
			p.mu.Lock()
			p.dirty[name] = true
			p.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// Close stops the periodic writes and writes what is left. Positions saved
// after Close are written by a later Flush only. It is called after the
// store has closed, so the acknowledgements of its last commit are in.
func (p *FilePositions) Close() error {
	p.once.Do(func() { close(p.stop) })
	<-p.done
	return p.Flush()
}

var _ Positions = (*FilePositions)(nil)
