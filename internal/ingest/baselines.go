package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/internal/atomicfile"
	"github.com/lookout-dev/lookout/internal/window"
)

// checkpointEvery is how often, at most, the ingest loop saves the baseline
// histories of pipelines that emitted windows since their last save. A
// kill -9 loses the windows of at most this long from the histories (a
// graceful stop saves them all).
const checkpointEvery = 10 * time.Second

// baselineSaver keeps each pipeline's baseline histories (zscore,
// mad_score, ewma, change) in <data>/baselines/<pipeline>.ckpt, so that a
// restart does not leave anomaly rules cold for min_baseline windows. Open
// windows need no checkpoint: they are refilled from the store or
// redelivered by brokers (internal/app rebuild.go). Its maps are touched only on the
// ingest goroutine; files are written on a goroutine of their own, one
// round at a time.
type baselineSaver struct {
	dir   string
	log   *slog.Logger
	dirty map[string]bool // pipelines that emitted since their last save
	last  time.Time
	busy  sync.Mutex // held while a round of files is being written
}

func newBaselineSaver(dir string, log *slog.Logger) *baselineSaver {
	return &baselineSaver{dir: dir, log: log, dirty: map[string]bool{}}
}

func (s *baselineSaver) path(pipeline string) string {
	return filepath.Join(s.dir, pipeline+".ckpt")
}

// load restores the histories of every pipeline with baseline aggregates
// from its checkpoint. A missing checkpoint is a first start; one of another
// definition or a damaged one is logged and skipped: the pipeline starts
// cold, as it would have without checkpoints.
func (s *baselineSaver) load(ps []*window.Pipeline) {
	for _, p := range ps {
		if !p.HasBaselines() {
			continue
		}
		f, err := os.Open(s.path(p.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			s.log.Warn("baseline checkpoint unreadable; baselines start cold", "pipeline", p.Name(), "err", err)
			continue
		}
		n, err := p.LoadBaselines(f)
		f.Close()
		switch {
		case errors.Is(err, window.ErrBaselineMismatch):
			s.log.Info("baseline checkpoint is of an earlier definition of the pipeline; baselines start cold",
				"pipeline", p.Name())
		case err != nil:
			s.log.Warn("baseline checkpoint skipped; baselines start cold", "pipeline", p.Name(),
				"path", s.path(p.Name()), "err", err)
		default:
			s.log.Info("restored baseline histories", "pipeline", p.Name(), "groups", n)
		}
	}
}

// carry hands the baseline histories of pipelines a reload rebuilt (their
// definition changed) from the old pipeline to its successor, when the
// change leaves their meaning alone (see window.ErrBaselineMismatch). On
// the ingest goroutine, which owns both.
func (s *baselineSaver) carry(old, cur []*window.Pipeline) {
	byName := map[string]*window.Pipeline{}
	for _, p := range old {
		byName[p.Name()] = p
	}
	for _, p := range cur {
		op := byName[p.Name()]
		if op == nil || op == p || !p.HasBaselines() || !op.HasBaselines() {
			continue
		}
		var b bytes.Buffer
		if err := op.SaveBaselines(&b); err != nil {
			continue
		}
		if n, err := p.LoadBaselines(&b); err == nil {
			s.log.Info("kept baseline histories across the reload", "pipeline", p.Name(), "groups", n)
			s.dirty[p.Name()] = true
		}
	}
}

// emitted notes that pipeline emitted a window, so its histories changed.
func (s *baselineSaver) emitted(pipeline string) { s.dirty[pipeline] = true }

// tick saves the changed histories when checkpointEvery has passed since
// the last round and no round is still being written.
func (s *baselineSaver) tick(ps []*window.Pipeline, now time.Time) {
	if now.Sub(s.last) < checkpointEvery || len(s.dirty) == 0 || !s.busy.TryLock() {
		return
	}
	s.last = now
	files := s.encode(ps)
	go func() {
		defer s.busy.Unlock()
		s.write(files)
	}()
}

// flush saves the changed histories and waits until they are written: at
// stop, after the last window was emitted.
func (s *baselineSaver) flush(ps []*window.Pipeline) {
	s.busy.Lock()
	defer s.busy.Unlock()
	s.write(s.encode(ps))
}

// encode builds the checkpoints of the changed pipelines, on the ingest
// goroutine that owns them.
func (s *baselineSaver) encode(ps []*window.Pipeline) map[string][]byte {
	files := map[string][]byte{}
	for _, p := range ps {
		if !p.HasBaselines() || !s.dirty[p.Name()] {
			continue
		}
		var b bytes.Buffer
		if err := p.SaveBaselines(&b); err != nil {
			s.log.Error("encoding baseline checkpoint", "pipeline", p.Name(), "err", err)
			continue
		}
		files[p.Name()] = b.Bytes()
	}
	clear(s.dirty)
	return files
}

func (s *baselineSaver) write(files map[string][]byte) {
	for name, data := range files {
		if err := writeFileAtomic(s.path(name), data); err != nil {
			s.log.Error("saving baseline checkpoint", "pipeline", name, "err", err)
		}
	}
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old file or the new one, never a part.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	return atomicfile.Write(path, data)
}
