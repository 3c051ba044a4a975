package logfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// fileID is what a file is, independent of its name: a rotation renames the
// file and creates a new one at the path, with another identity.
type fileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// position is how far the source got in which file: the offset just after
// the last complete line lookout is done with. It is saved as JSON through
// source.Positions.
//
// Head is a hash of the file's first HeadLen bytes. A device and inode can
// name another file after the first was deleted (inodes are reused), and a
// file truncated and written again while lookout was down (copytruncate)
// keeps its identity and may have grown past the offset: in both cases the
// start of the file differs, and the file is read from its start.
type position struct {
	Path string `json:"path"`
	fileID
	Offset  int64  `json:"offset"`
	Head    uint64 `json:"head"`
	HeadLen int    `json:"head_len"`
}

// headBytes is how much of a file's start its position's Head covers.
const headBytes = 64

// headHash hashes the first n bytes of f; ok is false when f has fewer.
func headHash(f *os.File, n int) (h uint64, ok bool) {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return 0, false
	}
	sum := fnv.New64a()
	sum.Write(buf)
	return sum.Sum64(), true
}

// sameHead reports whether f starts as the file p was saved in did.
func sameHead(f *os.File, p position) bool {
	if p.HeadLen == 0 {
		return true
	}
	h, ok := headHash(f, p.HeadLen)
	return ok && h == p.Head
}

// tracker turns batch acknowledgements, which may arrive in any order, into
// the position to save: it advances to a batch's position only once that
// batch and every one submitted before it were acknowledged without error.
// A failed acknowledgement (lookout did not store the batch, or stopped
// before its windows closed) stops it for the rest of the run, so the next
// start reads those lines again. It is safe for concurrent use: acks come
// from lookout's goroutines.
type tracker struct {
	save func(position)

	mu    sync.Mutex
	base  uint64 // the sequence number of q[0]
	q     []mark // submitted, not yet saved, oldest first
	stuck bool
}

type mark struct {
	pos  position
	done bool
}

// add registers the next submitted batch, which ends at pos, and returns its
// Ack function.
func (k *tracker) add(pos position) func(error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stuck {
		return func(error) {}
	}
	seq := k.base + uint64(len(k.q))
	k.q = append(k.q, mark{pos: pos})
	var once sync.Once
	return func(err error) { once.Do(func() { k.ack(seq, err) }) }
}

func (k *tracker) ack(seq uint64, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stuck || seq < k.base || seq-k.base >= uint64(len(k.q)) {
		return
	}
	if err != nil {
		k.stuck, k.q = true, nil
		return
	}
	k.q[seq-k.base].done = true
	n := 0
	for n < len(k.q) && k.q[n].done {
		n++
	}
	if n == 0 {
		return
	}
	last := k.q[n-1].pos
	k.q = append(k.q[:0], k.q[n:]...)
	k.base += uint64(n)
	k.save(last)
}

// start saves pos when nothing is pending: where reading starts needs no
// acknowledgement, and saving it makes lines written during a later downtime
// be read even if none was read in this run.
func (k *tracker) start(pos position) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.stuck && len(k.q) == 0 {
		k.save(pos)
	}
}

// savePosition hands pos to the positions store.
func (s *Source) savePosition(pos position) {
	data, err := json.Marshal(pos)
	if err != nil { // cannot happen: plain numbers and a string
		s.deps.Log.Warn("encoding the read position", "source", s.name, "err", err)
		return
	}
	s.deps.Positions.Save(s.name, data)
}

// loadPosition returns the position saved by an earlier run, or nil when
// there is none that can be used: then start applies. A saved position that
// cannot be read is a warning, never a failure of the source.
func (s *Source) loadPosition() *position {
	data, err := s.deps.Positions.Load(s.name)
	if err == nil && data != nil {
		var p position
		err = json.Unmarshal(data, &p)
		if err == nil && (p.Offset < 0 || p.fileID == (fileID{})) {
			err = fmt.Errorf("position %s has no file identity or a negative offset", data)
		}
		if err == nil {
			if p.Path != s.path {
				s.deps.Log.Info("saved read position is of another path; start applies",
					"source", s.name, "path", s.path, "saved_path", p.Path)
				return nil
			}
			return &p
		}
	}
	if err != nil {
		s.deps.Log.Warn("ignoring the saved read position; start applies", "source", s.name,
			"start", s.start, "err", err)
	}
	return nil
}

// resume positions t, which has just opened the file at the path (f, info),
// for the position saved by the last run: the same file at least that long
// is read from there; a shorter one (truncated while lookout was down) from
// its start; another file (rotated while lookout was down) from its start,
// after the rest of the old file if it is still next to it (path.1 and the
// like, found by its identity).
func (s *Source) resume(t *tail, f *os.File, info os.FileInfo, p position) error {
	id, ok := identify(info)
	switch {
	case ok && id == p.fileID && info.Size() >= p.Offset && sameHead(f, p):
		if _, err := f.Seek(p.Offset, io.SeekStart); err != nil {
			return fmt.Errorf("seeking to the saved position in %s: %w", s.path, err)
		}
		t.offset, t.lineEnd = p.Offset, p.Offset
		s.deps.Log.Info("resuming log file at its saved position", "source", s.name, "path", s.path, "offset", p.Offset)
	case ok && id == p.fileID:
		s.deps.Log.Info("log file shorter than its saved position or rewritten (truncated while lookout was down); reading it from its start",
			"source", s.name, "path", s.path, "offset", p.Offset, "size", info.Size())
	default:
		rf, rinfo, err := s.findRotated(p)
		if err != nil {
			s.deps.Log.Warn("looking for the rotated log file", "source", s.name, "path", s.path, "err", err)
		}
		if rf == nil {
			s.deps.Log.Info("log file replaced while lookout was down; reading the new one from its start",
				"source", s.name, "path", s.path)
			return nil
		}
		// Follow the old file first; poll sees that the path names another
		// file, reads the old one to its end and then opens the new one from
		// its start, as for a rotation while running.
		f.Close()
		t.f, t.info, t.id, t.offset, t.lineEnd = rf, rinfo, p.fileID, p.Offset, p.Offset
		t.head, t.headLen = 0, 0
		s.deps.Log.Info("log file rotated while lookout was down; reading the rest of the old file first",
			"source", s.name, "path", s.path, "rotated", rf.Name(), "offset", p.Offset)
	}
	return nil
}

// findRotated looks next to the path for the file of p under another name
// (app.log.1 for app.log) and opens it at p's offset. It returns a nil file
// when there is none at least that long.
func (s *Source) findRotated(p position) (*os.File, os.FileInfo, error) {
	dir, base := filepath.Split(s.path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.Name() == base || !strings.HasPrefix(e.Name(), base) || e.IsDir() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		fi, err := os.Stat(name)
		if err != nil {
			continue // gone meanwhile
		}
		if id, ok := identify(fi); !ok || id != p.fileID || fi.Size() < p.Offset {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("opening %s: %w", name, err))
			continue
		}
		// Stat the open file: the name may have moved on since.
		fi, err = f.Stat()
		if id, ok := identify(fi); err != nil || !ok || id != p.fileID || fi.Size() < p.Offset || !sameHead(f, p) {
			f.Close()
			continue
		}
		if _, err := f.Seek(p.Offset, io.SeekStart); err != nil {
			f.Close()
			errs = append(errs, fmt.Errorf("seeking in %s: %w", name, err))
			continue
		}
		return f, fi, nil
	}
	return nil, nil, errors.Join(errs...)
}
