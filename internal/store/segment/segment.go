// Package segment is the log lookout stores raw events in: NDJSON segment
// files in one directory, appended to by one writer, read by DuckDB's CSV
// reader through the store's events view, pruned by retention and
// compressed once closed. It knows nothing of DuckDB: the view is built
// from Files.
//
// Raw events are not DuckDB rows. Storing one cost DuckDB 2.7–3.2 µs of CPU
// whatever way it was handed over (docs/benchmarks.md, "Raw-event storage"),
// which is more than lookout's whole budget per event. So the store's writer
// appends each event as one NDJSON line to a segment file, a few hundred
// nanoseconds of encoding and one write per megabyte, and the events view
// reads the segments with DuckDB, with the database allowed to read that one
// directory and nothing else. The segment files are the events table's
// storage: retention, the Parquet archive, Flush and AfterCommit work on them
// as they did on the rows.
//
// Layout: <dir>/seg-<seq>.ndjson, seq increasing, one of them open for
// appending at a time. A closed segment has a sidecar seg-<seq>.stats with its
// oldest and newest event time and its line count, which lets Prune pick the
// files to delete or rewrite without reading them. Once closed, a segment is
// compressed to seg-<seq>.ndjson.zst (Options.Compress, compress.go), and
// a segment Prune removed has a mark seg-<seq>.gone while its files wait out
// the grace of queries that still read them. A segment left open by a
// crash has no sidecar; Open scans it once, cuts off a torn last line and
// writes the sidecar.
//
// A line is {"ts":<unix µs>,"source":…,"flags":…,"fields":{…}}, ts first so
// that Prune can read it without a JSON parser, flags only when set, then
// the byte RawMark and the raw message as it is. Escaping the raw message as
// a JSON string was 7 % of lookout's CPU with storage on (an NDJSON message
// is full of quotes); a message that cannot stand in a line as it is (not
// UTF-8, or with a control character below 0x20, newlines included) goes in
// the JSON instead, as "raw":"…", and nothing follows it.
package segment

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/lookout-dev/lookout/internal/atomicfile"
	"github.com/lookout-dev/lookout/internal/event"
)

const (
	segPrefix = "seg-"
	segExt    = ".ndjson"
	statsExt  = ".stats"
	// goneExt marks a segment Prune removed whose files wait out
	// Options.Grace: Open deletes what a crash left of it.
	goneExt = ".gone"

	// DefaultMaxSize and DefaultMaxAge close the open segment: big enough
	// that a query globs few files, small enough that retention, which
	// rewrites the one segment straddling its cutoff, rewrites little.
	DefaultMaxSize = 64 << 20
	DefaultMaxAge  = time.Hour
	// segWriteAt is how much encoded text the log holds before it writes
	// it to the open segment.
	segWriteAt = 1 << 20
	// MaxLine is the longest line a segment holds, so that a reader can
	// size its buffers: the events view's read buffer is twice that, from
	// DuckDB's memory limit (64MB by default), so it is small, and the rare
	// longer event (a push body may be one 16 MiB event) gets ErrTooLong
	// from Append and is stored elsewhere.
	MaxLine = 2 << 20
	// DefaultGrace is how long a file Files stopped naming is kept for
	// queries that bound a view of it before: more than a query's
	// timeout (10 s by default).
	DefaultGrace = 30 * time.Second
	// DefaultViewEvery is how often rotation alone calls Options.Changed.
	DefaultViewEvery = 10 * time.Second
)

// RawMark separates a line's JSON from the raw message that follows it as
// it is; NoDelim is a byte no line holds, for a reader that must name a
// field delimiter (the events view's CSV reader): neither occurs in a line
// but as the mark.
const (
	RawMark = 0x1f
	NoDelim = 0x1e
)

// ErrTooLong is Append's answer, with nothing appended, for an event whose
// line would be longer than MaxLine.
var ErrTooLong = errors.New("event too long for a segment line")

// Options are a Log's settings. The zero value of each is used as it is;
// the Default constants are what the store uses.
type Options struct {
	// Log receives what the log recovers and what fails in the
	// background.
	Log *slog.Logger
	// Compress compresses closed segments with zstd, those already closed
	// too.
	Compress bool
	// MaxSize and MaxAge close the open segment at the commit that finds
	// it that big or old.
	MaxSize int64
	MaxAge  time.Duration
	// Grace is how long a file stays after the first Files that no longer
	// names it.
	Grace time.Duration
	// Changed, when set, is called whenever the closed segments or the
	// open one changed and a reader should take Files again: at once
	// before a file the last Files named is deleted, and after a
	// rotation at most every ViewEvery (the tail of Files covers the new
	// segments meanwhile).
	Changed   func() error
	ViewEvery time.Duration
}

// Files is what a reader must name to read every event of the log.
type Files struct {
	// Closed are the closed segments, in order.
	Closed []File
	// Glob matches every plain segment file. Open and those Glob matches
	// that sort at or after Next (file names sort by sequence) are the
	// tail: the open segment and the segments created after this Files.
	Glob, Open, Next string
}

// File is a closed segment.
type File struct {
	Path string
	// Min and Max are its oldest and newest event time, as Unix
	// microseconds; N is its number of events.
	Min, Max, N int64
}

// segStats describes a segment: the oldest and newest event time in it, as
// Unix microseconds, and its number of events.
type segStats struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
	N   int64 `json:"n"`
}

func (st *segStats) add(ts int64) {
	if st.N == 0 || ts < st.Min {
		st.Min = ts
	}
	if st.N == 0 || ts > st.Max {
		st.Max = ts
	}
	st.N++
}

type segment struct {
	seq   uint64
	stats segStats
	zst   bool // the file is seg-<seq>.ndjson.zst
}

// doomedFile is a file Files no longer names, or soon will not: it is
// deleted grace after the first Files without it, so that queries which
// bound a view of the files before still read it.
type doomedFile struct {
	paths []string  // deleted in order
	after time.Time // zero until a Files without it
}

// Log is a directory of event segments, one of them open for appending.
// It is not safe for concurrent use: one goroutine (the store's writer)
// calls its methods, while readers read the files Files names.
type Log struct {
	dir  string
	log  *slog.Logger
	now  func() time.Time
	done []segment // closed segments, in seq order

	maxSize int64
	maxAge  time.Duration

	changed   func() error
	viewAt    time.Time // when Files last ran
	viewEvery time.Duration

	cz     *compressor // nil: segments stay plain
	doomed []doomedFile
	grace  time.Duration

	f      *os.File // the open segment
	direct bool     // f bypasses the page cache (O_DIRECT)
	cur    segment
	opened time.Time // when f was created
	next   uint64    // the seq of the next segment to create
	dirty  bool      // written since the last sync

	// off is the offset in f of buf's first byte, a multiple of
	// segBlock: buf holds the lines not yet written and, before them,
	// the end of the last written block, which was padded to the block
	// size and is written again, completed, by the next write.
	off int64
	buf []byte
	kvs []fieldKV // appendFields' scratch space
}

// Open opens the segment directory dir (creating it), finishes segments a
// crash left open, deletes what it left of pruned ones and of files not yet
// renamed into place, and starts a new open segment, so that Files' glob
// always matches a file.
func Open(dir string, opts Options) (*Log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Log{dir: dir, log: log, now: time.Now, next: 1, maxSize: opts.MaxSize, maxAge: opts.MaxAge,
		grace: opts.Grace, viewEvery: opts.ViewEvery, changed: opts.Changed}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	type found struct{ plain, zst, stats, gone bool }
	seqs := map[uint64]*found{}
	for _, ent := range ents {
		name := ent.Name()
		if strings.Contains(name, ".tmp") {
			// A rewrite, sidecar, compressed copy or archive chunk a
			// crash interrupted before its rename: the file it was to
			// replace is intact.
			os.Remove(filepath.Join(dir, name))
			continue
		}
		seq, ext, ok := segSeq(name)
		if !ok {
			continue
		}
		f := seqs[seq]
		if f == nil {
			f = &found{}
			seqs[seq] = f
		}
		switch ext {
		case segExt:
			f.plain = true
		case segExt + zstExt:
			f.zst = true
		case statsExt:
			f.stats = true
		case goneExt:
			f.gone = true
		}
	}
	for seq, f := range seqs {
		l.next = max(l.next, seq+1)
		switch {
		case f.gone, f.zst && !f.stats:
			// Pruned before a crash. A compressed file has a sidecar
			// from before it was queued, so one without is what the
			// compressor finished after Prune had deleted the rest.
			l.removeAll(seq)
			continue
		case !f.plain && !f.zst: // a sidecar alone
			os.Remove(l.statsPath(seq))
			continue
		case f.plain && f.zst: // compressed before a crash
			os.Remove(l.path(seq))
		}
		seg := segment{seq: seq, zst: f.zst}
		if seg.stats, err = l.loadStats(seg); err != nil {
			return nil, err
		}
		if seg.stats.N == 0 {
			l.removeAll(seq)
			continue
		}
		l.done = append(l.done, seg)
	}
	slices.SortFunc(l.done, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	if err := l.create(); err != nil {
		return nil, err
	}
	if opts.Compress {
		l.compress()
	}
	return l, nil
}

// Dir is the segment directory.
func (l *Log) Dir() string { return l.dir }

// Files returns the files a reader (the store's events view) names now to
// read every event: the closed segments, the open one and a glob for those
// created later. Taking it says that a reader is about to stop naming the
// files dropped since the last Files: they are deleted Grace from now.
func (l *Log) Files() Files {
	l.viewAt = l.now()
	for i := range l.doomed {
		if l.doomed[i].after.IsZero() {
			l.doomed[i].after = l.viewAt.Add(l.grace)
		}
	}
	f := Files{
		Closed: make([]File, len(l.done)),
		Glob:   filepath.Join(l.dir, segPrefix+"*"+segExt),
		Open:   l.path(l.cur.seq),
		Next:   l.path(l.next),
	}
	for i, seg := range l.done {
		f.Closed[i] = File{Path: l.pathOf(seg), Min: seg.stats.Min, Max: seg.stats.Max, N: seg.stats.N}
	}
	return f
}

// segSeq parses the name of a segment file or of one of its companions:
// the sequence number and the extension (segExt, segExt+zstExt, statsExt,
// goneExt).
func segSeq(name string) (uint64, string, bool) {
	s, ok := strings.CutPrefix(name, segPrefix)
	if !ok {
		return 0, "", false
	}
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(s[:i], 10, 64)
	return seq, s[i:], err == nil
}

// path is the plain file of segment seq.
func (l *Log) path(seq uint64) string {
	return filepath.Join(l.dir, fmt.Sprintf("%s%012d%s", segPrefix, seq, segExt))
}

// pathOf is seg's file, plain or compressed.
func (l *Log) pathOf(seg segment) string {
	if seg.zst {
		return l.path(seg.seq) + zstExt
	}
	return l.path(seg.seq)
}

func (l *Log) statsPath(seq uint64) string {
	return strings.TrimSuffix(l.path(seq), segExt) + statsExt
}

func (l *Log) gonePath(seq uint64) string {
	return strings.TrimSuffix(l.path(seq), segExt) + goneExt
}

// loadStats reads a closed segment's sidecar, or scans a segment without one
// (left open by a crash), cutting off a torn last line, and writes it.
func (l *Log) loadStats(seg segment) (segStats, error) {
	var st segStats
	if b, err := os.ReadFile(l.statsPath(seg.seq)); err == nil && json.Unmarshal(b, &st) == nil {
		return st, nil
	}
	path := l.pathOf(seg)
	st, err := scanSegment(path, seg.zst)
	if err != nil {
		return st, fmt.Errorf("recovering event segment %s: %w", path, err)
	}
	if st.N > 0 {
		if err := writeStats(l.statsPath(seg.seq), st); err != nil {
			return st, err
		}
		l.log.Info("recovered an event segment left open", "file", path, "events", st.N)
	}
	return st, nil
}

// scanSegment reads a segment's event times and truncates a plain one
// after its last complete line.
func scanSegment(path string, zst bool) (segStats, error) {
	var st segStats
	if zst { // complete: compressed files are renamed into place whole
		rc, err := openSegmentFile(path, true)
		if err != nil {
			return st, err
		}
		defer rc.Close()
		_, err = scanLines(rc, &st)
		return st, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return st, err
	}
	defer f.Close()
	good, err := scanLines(f, &st)
	if err != nil {
		return st, err
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > good {
		if err := f.Truncate(good); err != nil {
			return st, err
		}
	}
	return st, f.Sync()
}

// scanLines adds the event times of the complete lines of r to st and
// returns their length.
func scanLines(rd io.Reader, st *segStats) (int64, error) {
	r := bufio.NewReaderSize(rd, 1<<20)
	var good int64
	for {
		line, err := r.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) { // a long line: skip the rest of it
			var more []byte
			more, err = r.ReadSlice('\n')
			line = append(line[:len(line):len(line)], more...)
		}
		if err == io.EOF {
			return good, nil // a torn line without its newline, or the end
		}
		if err != nil {
			return good, err
		}
		if ts, ok := lineTime(line); ok {
			st.add(ts)
		}
		good += int64(len(line))
	}
}

func writeStats(path string, st segStats) error {
	b, _ := json.Marshal(st)
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// removeAll deletes every file of segment seq, the mark that it is gone
// last.
func (l *Log) removeAll(seq uint64) error {
	return removeFiles(l.path(seq), l.path(seq)+zstExt, l.statsPath(seq), l.gonePath(seq))
}

// removeFiles deletes paths in order; missing ones are no error.
func removeFiles(paths ...string) error {
	var err error
	for _, p := range paths {
		if e := os.Remove(p); e != nil && !errors.Is(e, fs.ErrNotExist) {
			err = errors.Join(err, e)
		}
	}
	return err
}

// drop takes seg out of done for good: its sidecar becomes the mark that it
// is gone (so that Open deletes what a crash leaves of it) and its files are
// deleted once the view has been made without it and grace has passed.
func (l *Log) drop(seg segment) error {
	i := slices.IndexFunc(l.done, func(s segment) bool { return s.seq == seg.seq })
	if i >= 0 {
		l.done = slices.Delete(l.done, i, i+1)
	}
	if err := os.Rename(l.statsPath(seg.seq), l.gonePath(seg.seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("marking event segment %d deleted: %w", seg.seq, err)
	}
	l.doomed = append(l.doomed, doomedFile{paths: []string{l.path(seg.seq) + zstExt, l.path(seg.seq), l.gonePath(seg.seq)}})
	return nil
}

// Maintain is the periodic work on the segments, every second or so: it
// takes the compressor's results, calls Options.Changed when a file waits
// to leave the reader's view, and deletes the files whose grace has passed.
func (l *Log) Maintain() error {
	var err error
	if l.cz != nil {
		for _, r := range l.cz.take() {
			err = errors.Join(err, l.compressed(r))
		}
	}
	now := l.now()
	waiting := slices.ContainsFunc(l.doomed, func(d doomedFile) bool { return d.after.IsZero() })
	if waiting && now.Sub(l.viewAt) >= l.viewEvery {
		err = errors.Join(err, l.notify())
	}
	l.doomed = slices.DeleteFunc(l.doomed, func(d doomedFile) bool {
		if d.after.IsZero() || now.Before(d.after) {
			return false
		}
		if e := removeFiles(d.paths...); e != nil {
			l.log.Warn("deleting an old event segment file", "err", e)
		}
		return true
	})
	return err
}

// compressed takes the compressor's result for one segment: the segment
// now reads from its compressed file, and the plain one is doomed.
func (l *Log) compressed(r compressed) error {
	i := slices.IndexFunc(l.done, func(s segment) bool { return s.seq == r.seq })
	if r.err != nil {
		os.Remove(l.path(r.seq) + zstExt)
		// Pruned meanwhile (which explains the error), or stopped by
		// close (compressed after the next Open): nothing to say.
		if i >= 0 && !errors.Is(r.err, context.Canceled) {
			l.log.Warn("an event segment stays uncompressed", "file", l.path(r.seq), "err", r.err)
		}
		return nil
	}
	if i < 0 || l.done[i].zst { // pruned meanwhile: no view named the copy
		return removeFiles(l.path(r.seq) + zstExt)
	}
	l.done[i].zst = true
	l.doomed = append(l.doomed, doomedFile{paths: []string{l.path(r.seq)}})
	return nil
}

// compress turns on compressing closed segments, those already closed too.
func (l *Log) compress() {
	l.cz = newCompressor(l.path, l.log)
	for _, seg := range l.done {
		if !seg.zst {
			l.cz.add(seg.seq)
		}
	}
}

// create starts a new open segment.
func (l *Log) create() error {
	seq := l.next
	f, direct, err := createSegmentFile(l.path(seq))
	if err != nil {
		return fmt.Errorf("creating event segment: %w", err)
	}
	l.next++
	l.f, l.direct, l.cur, l.opened = f, direct, segment{seq: seq}, l.now()
	l.off, l.buf = 0, l.buf[:0]
	return nil
}

// size is the open segment's length, what is held included.
func (l *Log) size() int64 { return l.off + int64(len(l.buf)) }

// Append encodes e as a line of the open segment. The line reaches the file
// at the next write, which happens once a megabyte is held, and is durable
// at the next Commit. It returns ErrTooLong, with nothing appended, for an
// event whose line would be longer than MaxLine. e is not kept.
func (l *Log) Append(e *event.Event) error {
	ts := e.Time.UnixMicro()
	n := len(l.buf)
	l.buf, l.kvs = appendEventLine(l.buf, ts, e, l.kvs)
	if len(l.buf)-n > MaxLine {
		l.buf = l.buf[:n]
		return ErrTooLong
	}
	l.cur.stats.add(ts)
	if len(l.buf) >= segWriteAt {
		return l.write(false)
	}
	return nil
}

// Segments are written in whole blocks at block-aligned offsets, from a
// block-aligned buffer, so that the file can be opened with O_DIRECT
// (file_linux.go): the kernel then writes from lookout's buffer instead
// of copying every byte into the page cache first. That copy was 17 % of
// lookout's CPU with storage on (perf, push-10k-groups) on this VM, where
// page-cache pages are expensive to touch; DMA from a buffer that is reused
// costs nothing of the kind. Where O_DIRECT is not available (tmpfs, other
// systems) the same writes go through the page cache.
const segBlock = 4096

// segBufCap is the held buffer's capacity: a write happens at segWriteAt,
// so it is rarely exceeded (by one long line); append then moves the
// buffer, and write aligns it again.
const segBufCap = segWriteAt + 256<<10

// padding fills the rest of a partial block: blank lines, which the view
// and the segment scanners skip.
var padding = bytes.Repeat([]byte{'\n'}, segBlock)

// write writes the held whole blocks; with all, also the partial last
// block, padded with newlines. The partial block's bytes stay held, so the
// next write writes that block again with what follows.
func (l *Log) write(all bool) error {
	n := len(l.buf)
	full := n &^ (segBlock - 1)
	end := full
	if all && n > full {
		l.buf = append(l.buf, padding[:segBlock-(n-full)]...)
		end = full + segBlock
	}
	if end == 0 {
		return nil
	}
	if l.direct && uintptr(unsafe.Pointer(unsafe.SliceData(l.buf)))%segBlock != 0 {
		l.buf = append(alignedBuf(max(cap(l.buf), segBufCap)), l.buf...)
	}
	_, err := l.f.WriteAt(l.buf[:end], l.off)
	l.dirty = true
	rest := copy(l.buf, l.buf[full:n])
	l.buf = l.buf[:rest]
	l.off += int64(full)
	if err != nil {
		return fmt.Errorf("writing event segment: %w", err)
	}
	return nil
}

// alignedBuf returns an empty slice of capacity n whose array starts on a
// segBlock boundary.
func alignedBuf(n int) []byte {
	b := make([]byte, n+segBlock)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (segBlock - 1))
	return b[off : off : off+n]
}

// Commit writes what is held and syncs the open segment, so that everything
// appended before it survives a crash; then it closes the segment when it is
// big or old enough.
func (l *Log) Commit() error {
	err := l.write(true)
	if l.dirty {
		if e := l.f.Sync(); e != nil {
			err = errors.Join(err, fmt.Errorf("syncing event segment: %w", e))
		}
		l.dirty = false
	}
	if err == nil && l.cur.stats.N > 0 && (l.size() >= l.maxSize || l.now().Sub(l.opened) >= l.maxAge) {
		err = l.rotate()
	}
	return err
}

// Rotate commits and closes the open segment and starts the next one.
func (l *Log) Rotate() error {
	if err := l.Commit(); err != nil {
		return err
	}
	return l.rotate()
}

// rotate closes the open segment (committed by the caller) and starts the
// next one.
func (l *Log) rotate() error {
	if err := l.finish(); err != nil {
		return err
	}
	if err := l.create(); err != nil {
		return err
	}
	if l.now().Sub(l.viewAt) < l.viewEvery {
		return nil // the reader's tail reads the new segments meanwhile
	}
	return l.notify()
}

// notify tells the reader that the segments changed.
func (l *Log) notify() error {
	if l.changed == nil {
		return nil
	}
	return l.changed()
}

// finish closes the open segment: an empty one is removed, a non-empty one
// gets its sidecar and joins done.
func (l *Log) finish() error {
	// Without the last block's padding; the writes are committed.
	err := l.f.Truncate(l.size())
	if e := l.f.Close(); err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("closing event segment: %w", err)
	}
	if l.cur.stats.N == 0 {
		return l.removeAll(l.cur.seq)
	}
	if err := writeStats(l.statsPath(l.cur.seq), l.cur.stats); err != nil {
		return err
	}
	l.closed(l.cur)
	return nil
}

// closed adds a complete segment to done and queues it for compression.
func (l *Log) closed(seg segment) {
	l.done = append(l.done, seg)
	slices.SortFunc(l.done, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	if l.cz != nil {
		l.cz.add(seg.seq)
	}
}

// Close commits and closes the open segment, stops compressing and deletes
// the files no reader needs (no reader may read any more).
func (l *Log) Close() error {
	err := errors.Join(l.Commit(), l.finish())
	if l.cz != nil {
		l.cz.stop()
		for _, r := range l.cz.take() {
			err = errors.Join(err, l.compressed(r))
		}
	}
	for _, d := range l.doomed {
		err = errors.Join(err, removeFiles(d.paths...))
	}
	l.doomed = nil
	return err
}

// Prune removes one segment's worth of events older than cutoff: a segment
// wholly older is deleted, one straddling the cutoff is rewritten with the
// events it keeps. Before anything is deleted, archive (when set) gets the
// removed lines. It returns how many events it removed and whether another
// segment has events to remove; the open segment is closed first when it has
// some, so that it can be rewritten. Deleted files leave Files at once and
// the disk after Grace.
func (l *Log) Prune(cutoff time.Time, archive func(lines [][]byte) error) (n int64, more bool, err error) {
	cut := cutoff.UnixMicro()
	if l.cur.stats.N > 0 && l.cur.stats.Min < cut {
		if err := l.Rotate(); err != nil {
			return 0, false, err
		}
	}
	i := slices.IndexFunc(l.done, func(s segment) bool { return s.stats.Min < cut })
	if i < 0 {
		return 0, false, nil
	}
	seg := l.done[i]
	if n, err = l.pruneSegment(seg, cut, archive); err != nil {
		return 0, false, err
	}
	more = slices.ContainsFunc(l.done[i:], func(s segment) bool { return s.stats.Min < cut && s.seq != seg.seq })
	return n, more, nil
}

// pruneSegment deletes or rewrites seg and replaces its entry in done.
func (l *Log) pruneSegment(seg segment, cut int64, archive func([][]byte) error) (int64, error) {
	whole := seg.stats.Max < cut
	if whole && archive == nil {
		if err := l.drop(seg); err != nil {
			return 0, err
		}
		return seg.stats.N, l.notify()
	}
	data, err := readSegmentFile(l.pathOf(seg), seg.zst)
	if err != nil {
		return 0, fmt.Errorf("reading event segment: %w", err)
	}
	var keep, gone []byte
	var removed [][]byte
	var kept segStats
	for line := range bytes.Lines(data) {
		if line[0] == '\n' {
			continue // padding of a block
		}
		ts, ok := lineTime(line)
		if ok && ts >= cut {
			keep = append(keep, line...)
			kept.add(ts)
			continue
		}
		removed = append(removed, line)
		gone = append(gone, line...)
	}
	if archive != nil && len(removed) > 0 {
		if err := archive(removed); err != nil {
			return 0, err
		}
	}
	if kept.N > 0 {
		// The kept events go to a new segment, complete and synced
		// before the old one is marked gone: a crash in between keeps
		// both, which counts the kept events twice rather than losing
		// them.
		seq := l.next
		l.next++
		if err := atomicfile.Write(l.path(seq), keep); err != nil {
			return 0, fmt.Errorf("rewriting event segment: %w", err)
		}
		if err := writeStats(l.statsPath(seq), kept); err != nil {
			return 0, err
		}
		l.closed(segment{seq: seq, stats: kept})
	}
	if err := l.drop(seg); err != nil {
		return 0, err
	}
	return int64(len(removed)), l.notify()
}
