package store

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
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
	"unicode/utf8"
	"unsafe"

	"github.com/lookout-dev/lookout/internal/atomicfile"
	"github.com/lookout-dev/lookout/internal/event"
)

// Raw events are not DuckDB rows. Storing one cost DuckDB 2.7–3.2 µs of CPU
// whatever way it was handed over (docs/benchmarks.md, "Raw-event storage"),
// which is more than lookout's whole budget per event. So the writer appends
// each event as one NDJSON line to a segment file under Dir/events, a few
// hundred nanoseconds of encoding and one write per megabyte, and the events
// view reads the segments with DuckDB's own NDJSON reader, with the database
// allowed to read that one directory and nothing else. The segment files are
// the events table's storage: retention, the Parquet archive, Flush and
// AfterCommit work on them as they did on the rows.
//
// Layout: Dir/events/seg-<seq>.ndjson, seq increasing, one of them open for
// appending at a time. A closed segment has a sidecar seg-<seq>.stats with its
// oldest and newest event time and its line count, which lets Prune pick the
// files to delete or rewrite without reading them. Once closed, a segment is
// compressed to seg-<seq>.ndjson.zst (Options.Compression, compress.go), and
// a segment Prune removed has a mark seg-<seq>.gone while its files wait out
// the grace of queries that still read them. A segment left open by a
// crash has no sidecar; Open scans it once, cuts off a torn last line and
// writes the sidecar.
//
// A line is {"ts":<unix µs>,"source":…,"flags":…,"fields":{…}}, ts first so
// that Prune can read it without a JSON parser, flags only when set, then
// the byte 0x1f and the raw message as it is. Escaping the raw message as a
// JSON string was 7 % of lookout's CPU with storage on (an NDJSON message is
// full of quotes); a message that cannot stand in a line as it is (not
// UTF-8, or with a control character below 0x20, newlines included) goes in
// the JSON instead, as "raw":"…", and nothing follows it.

const (
	segDirName = "events"
	segPrefix  = "seg-"
	segExt     = ".ndjson"
	statsExt   = ".stats"
	// goneExt marks a segment Prune removed whose files wait out
	// segments.grace: Open deletes what a crash left of it.
	goneExt = ".gone"

	// segMaxSize and segMaxAge close the open segment: big enough that a
	// query globs few files, small enough that retention, which rewrites the
	// one segment straddling its cutoff, rewrites little.
	segMaxSize = 64 << 20
	segMaxAge  = time.Hour
	// segWriteAt is how much encoded text the writer holds before it
	// writes it to the open segment.
	segWriteAt = 1 << 20
	// segMaxLine is the longest line the events view reads (DuckDB's
	// max_line_size; the read buffer is twice that, from DuckDB's memory
	// limit, 64MB by default), so it is small, and the rare longer event (a
	// push body may be one 16 MiB event) is stored as a row of events_rows
	// instead (writer.appendEvents).
	segMaxLine = 2 << 20
)

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

// doomedFile is a file the events view no longer names, or soon will not:
// it is deleted grace after the view was made without it, so that queries
// which bound the view before still read it.
type doomedFile struct {
	paths []string  // deleted in order
	after time.Time // zero until a view without it was made
}

// segments is the writer's side of the event segments. Only the writer
// goroutine uses it.
type segments struct {
	dir  string
	log  *slog.Logger
	now  func() time.Time
	done []segment // closed segments, in seq order

	maxSize int64 // segMaxSize, smaller in tests
	maxAge  time.Duration

	// changed, when set, is called whenever the closed segments or the
	// open one changed, before a file the view named is deleted: the
	// writer makes the events view again.
	changed   func() error
	viewAt    time.Time     // when viewSQL last ran
	viewEvery time.Duration // viewEvery, shorter in tests

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

// openSegments opens the segment directory (creating it), finishes segments
// a crash left open and starts a new open segment, so the view's glob always
// matches a file.
func openSegments(dir string, log *slog.Logger) (*segments, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	g := &segments{dir: dir, log: log, now: time.Now, next: 1, maxSize: segMaxSize, maxAge: segMaxAge,
		grace: segGrace, viewEvery: viewEvery}
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
		g.next = max(g.next, seq+1)
		switch {
		case f.gone, f.zst && !f.stats:
			// Pruned before a crash. A compressed file has a sidecar
			// from before it was queued, so one without is what the
			// compressor finished after Prune had deleted the rest.
			g.removeAll(seq)
			continue
		case !f.plain && !f.zst: // a sidecar alone
			os.Remove(g.statsPath(seq))
			continue
		case f.plain && f.zst: // compressed before a crash
			os.Remove(g.path(seq))
		}
		seg := segment{seq: seq, zst: f.zst}
		if seg.stats, err = g.loadStats(seg); err != nil {
			return nil, err
		}
		if seg.stats.N == 0 {
			g.removeAll(seq)
			continue
		}
		g.done = append(g.done, seg)
	}
	slices.SortFunc(g.done, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	if err := g.create(); err != nil {
		return nil, err
	}
	return g, nil
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
func (g *segments) path(seq uint64) string {
	return filepath.Join(g.dir, fmt.Sprintf("%s%012d%s", segPrefix, seq, segExt))
}

// pathOf is seg's file, plain or compressed.
func (g *segments) pathOf(seg segment) string {
	if seg.zst {
		return g.path(seg.seq) + zstExt
	}
	return g.path(seg.seq)
}

func (g *segments) statsPath(seq uint64) string {
	return strings.TrimSuffix(g.path(seq), segExt) + statsExt
}

func (g *segments) gonePath(seq uint64) string {
	return strings.TrimSuffix(g.path(seq), segExt) + goneExt
}

// loadStats reads a closed segment's sidecar, or scans a segment without one
// (left open by a crash), cutting off a torn last line, and writes it.
func (g *segments) loadStats(seg segment) (segStats, error) {
	var st segStats
	if b, err := os.ReadFile(g.statsPath(seg.seq)); err == nil && json.Unmarshal(b, &st) == nil {
		return st, nil
	}
	path := g.pathOf(seg)
	st, err := scanSegment(path, seg.zst)
	if err != nil {
		return st, fmt.Errorf("recovering event segment %s: %w", path, err)
	}
	if st.N > 0 {
		if err := writeStats(g.statsPath(seg.seq), st); err != nil {
			return st, err
		}
		g.log.Info("recovered an event segment left open", "file", path, "events", st.N)
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

// lineTime reads the ts a segment line starts with.
func lineTime(line []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(`{"ts":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	ts, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return ts, err == nil
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
func (g *segments) removeAll(seq uint64) error {
	return removeFiles(g.path(seq), g.path(seq)+zstExt, g.statsPath(seq), g.gonePath(seq))
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

// segGrace is how long a file the events view stopped naming is kept for
// queries that bound the view before: more than a query's timeout
// (10 s by default).
const segGrace = 30 * time.Second

// drop takes seg out of done for good: its sidecar becomes the mark that it
// is gone (so that Open deletes what a crash leaves of it) and its files are
// deleted once the view has been made without it and grace has passed.
func (g *segments) drop(seg segment) error {
	i := slices.IndexFunc(g.done, func(s segment) bool { return s.seq == seg.seq })
	if i >= 0 {
		g.done = slices.Delete(g.done, i, i+1)
	}
	if err := os.Rename(g.statsPath(seg.seq), g.gonePath(seg.seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("marking event segment %d deleted: %w", seg.seq, err)
	}
	g.doomed = append(g.doomed, doomedFile{paths: []string{g.path(seg.seq) + zstExt, g.path(seg.seq), g.gonePath(seg.seq)}})
	return nil
}

// maintain is the writer's periodic work on the segments: it takes the
// compressor's results into done, makes the view again when a file waits
// to leave it, and deletes the files whose grace has passed.
func (g *segments) maintain() error {
	var err error
	if g.cz != nil {
		for _, r := range g.cz.take() {
			err = errors.Join(err, g.compressed(r))
		}
	}
	now := g.now()
	waiting := slices.ContainsFunc(g.doomed, func(d doomedFile) bool { return d.after.IsZero() })
	if waiting && now.Sub(g.viewAt) >= g.viewEvery {
		err = errors.Join(err, g.notify())
	}
	g.doomed = slices.DeleteFunc(g.doomed, func(d doomedFile) bool {
		if d.after.IsZero() || now.Before(d.after) {
			return false
		}
		if e := removeFiles(d.paths...); e != nil {
			g.log.Warn("deleting an old event segment file", "err", e)
		}
		return true
	})
	return err
}

// compressed takes the compressor's result for one segment: the segment
// now reads from its compressed file, and the plain one is doomed.
func (g *segments) compressed(r compressed) error {
	i := slices.IndexFunc(g.done, func(s segment) bool { return s.seq == r.seq })
	if r.err != nil {
		os.Remove(g.path(r.seq) + zstExt)
		// Pruned meanwhile (which explains the error), or stopped by
		// close (compressed after the next Open): nothing to say.
		if i >= 0 && !errors.Is(r.err, context.Canceled) {
			g.log.Warn("an event segment stays uncompressed", "file", g.path(r.seq), "err", r.err)
		}
		return nil
	}
	if i < 0 || g.done[i].zst { // pruned meanwhile: no view named the copy
		return removeFiles(g.path(r.seq) + zstExt)
	}
	g.done[i].zst = true
	g.doomed = append(g.doomed, doomedFile{paths: []string{g.path(r.seq)}})
	return nil
}

// compress turns on compressing closed segments, those already closed too.
func (g *segments) compress(log *slog.Logger) {
	g.cz = newCompressor(g.path, log)
	for _, seg := range g.done {
		if !seg.zst {
			g.cz.add(seg.seq)
		}
	}
}

// create starts a new open segment.
func (g *segments) create() error {
	seq := g.next
	f, direct, err := createSegmentFile(g.path(seq))
	if err != nil {
		return fmt.Errorf("creating event segment: %w", err)
	}
	g.next++
	g.f, g.direct, g.cur, g.opened = f, direct, segment{seq: seq}, g.now()
	g.off, g.buf = 0, g.buf[:0]
	return nil
}

// size is the open segment's length, what is held included.
func (g *segments) size() int64 { return g.off + int64(len(g.buf)) }

// add encodes e as a line of the open segment. The line reaches the file at
// the next write, which happens once a megabyte is held, and at commit. It
// returns errTooLong, with nothing added, for an event whose line would be
// longer than segMaxLine.
func (g *segments) add(e *event.Event) error {
	ts := e.Time.UnixMicro()
	n := len(g.buf)
	g.buf, g.kvs = appendEventLine(g.buf, ts, e, g.kvs)
	if len(g.buf)-n > segMaxLine {
		g.buf = g.buf[:n]
		return errTooLong
	}
	g.cur.stats.add(ts)
	if len(g.buf) >= segWriteAt {
		return g.write(false)
	}
	return nil
}

var errTooLong = errors.New("event too long for a segment line")

// appendEventLine appends e's segment line to dst.
func appendEventLine(dst []byte, ts int64, e *event.Event, kvs []fieldKV) ([]byte, []fieldKV) {
	dst = append(dst, `{"ts":`...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, `,"source":`...)
	dst = appendJSONString(dst, e.Source)
	if e.Flags != 0 {
		dst = append(dst, `,"flags":`...)
		dst = appendJSONString(dst, e.Flags.String())
	}
	if e.Fields != nil {
		dst = append(dst, `,"fields":`...)
		dst, kvs = appendFields(dst, e.Fields, kvs)
	}
	if plainRaw(e.Raw) {
		dst = append(dst, '}', rawMark)
		dst = append(dst, e.Raw...)
		return append(dst, '\n'), kvs
	}
	dst = append(dst, `,"raw":`...)
	// The string shares Raw's bytes only while it is being escaped.
	dst = appendJSONString(dst, unsafe.String(unsafe.SliceData(e.Raw), len(e.Raw)))
	return append(dst, "}\n"...), kvs
}

// rawMark separates a line's JSON from the raw message that follows it as it
// is; csvDelim is the delimiter the view's CSV reader splits on (never,
// since neither occurs in a line but as the mark).
const (
	rawMark  = 0x1f
	csvDelim = 0x1e
)

// plainRaw reports whether raw can follow the mark as it is: UTF-8 (the
// view reads it as VARCHAR) without bytes below 0x20 (a newline would end
// the line; the mark and the delimiter are among them). Eight bytes at a
// time while they are ASCII.
func plainRaw(raw []byte) bool {
	const lo, hi = 0x2020202020202020, 0x8080808080808080
	i := 0
	for ; i+8 <= len(raw); i += 8 {
		w := binary.LittleEndian.Uint64(raw[i:])
		if (w-lo)&^w&hi != 0 {
			return false // a byte below 0x20
		}
		if w&hi != 0 {
			break // not ASCII: check the rest byte by byte
		}
	}
	for _, c := range raw[i:] {
		if c < 0x20 {
			return false
		}
	}
	return utf8.Valid(raw[i:])
}

// Segments are written in whole blocks at block-aligned offsets, from a
// block-aligned buffer, so that the file can be opened with O_DIRECT
// (segments_linux.go): the kernel then writes from lookout's buffer instead
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
func (g *segments) write(all bool) error {
	n := len(g.buf)
	full := n &^ (segBlock - 1)
	end := full
	if all && n > full {
		g.buf = append(g.buf, padding[:segBlock-(n-full)]...)
		end = full + segBlock
	}
	if end == 0 {
		return nil
	}
	if g.direct && uintptr(unsafe.Pointer(unsafe.SliceData(g.buf)))%segBlock != 0 {
		g.buf = append(alignedBuf(max(cap(g.buf), segBufCap)), g.buf...)
	}
	_, err := g.f.WriteAt(g.buf[:end], g.off)
	g.dirty = true
	rest := copy(g.buf, g.buf[full:n])
	g.buf = g.buf[:rest]
	g.off += int64(full)
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

// commit writes what is held and syncs the open segment, so that everything
// added before it survives a crash; then it closes the segment when it is
// big or old enough.
func (g *segments) commit() error {
	err := g.write(true)
	if g.dirty {
		if e := g.f.Sync(); e != nil {
			err = errors.Join(err, fmt.Errorf("syncing event segment: %w", e))
		}
		g.dirty = false
	}
	if err == nil && g.cur.stats.N > 0 && (g.size() >= g.maxSize || g.now().Sub(g.opened) >= g.maxAge) {
		err = g.rotate()
	}
	return err
}

// rotate closes the open segment (committed by the caller) and starts the
// next one.
func (g *segments) rotate() error {
	if err := g.finish(); err != nil {
		return err
	}
	if err := g.create(); err != nil {
		return err
	}
	if g.now().Sub(g.viewAt) < g.viewEvery {
		return nil // the view's tail reads the new segments meanwhile
	}
	return g.notify()
}

// notify tells the writer that the segments changed.
func (g *segments) notify() error {
	if g.changed == nil {
		return nil
	}
	return g.changed()
}

// finish closes the open segment: an empty one is removed, a non-empty one
// gets its sidecar and joins done.
func (g *segments) finish() error {
	// Without the last block's padding; the writes are committed.
	err := g.f.Truncate(g.size())
	if e := g.f.Close(); err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("closing event segment: %w", err)
	}
	if g.cur.stats.N == 0 {
		return g.removeAll(g.cur.seq)
	}
	if err := writeStats(g.statsPath(g.cur.seq), g.cur.stats); err != nil {
		return err
	}
	g.closed(g.cur)
	return nil
}

// closed adds a complete segment to done and queues it for compression.
func (g *segments) closed(seg segment) {
	g.done = append(g.done, seg)
	slices.SortFunc(g.done, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	if g.cz != nil {
		g.cz.add(seg.seq)
	}
}

// close commits and closes the open segment, stops compressing and deletes
// the files no view needs (no query runs any more).
func (g *segments) close() error {
	err := errors.Join(g.commit(), g.finish())
	if g.cz != nil {
		g.cz.stop()
		for _, r := range g.cz.take() {
			err = errors.Join(err, g.compressed(r))
		}
	}
	for _, d := range g.doomed {
		err = errors.Join(err, removeFiles(d.paths...))
	}
	g.doomed = nil
	return err
}

// prune removes one segment's worth of events older than cutoff: a segment
// wholly older is deleted, one straddling the cutoff is rewritten with the
// events it keeps. Before anything is deleted, archive (when set) gets the
// removed lines. It returns how many events it removed and whether another
// segment has events to remove; the open segment is closed first when it has
// some, so that it can be rewritten.
func (g *segments) prune(cutoff time.Time, archive func(lines [][]byte) error) (n int64, more bool, err error) {
	cut := cutoff.UnixMicro()
	if g.cur.stats.N > 0 && g.cur.stats.Min < cut {
		if err := g.commit(); err != nil {
			return 0, false, err
		}
		if err := g.rotate(); err != nil {
			return 0, false, err
		}
	}
	i := slices.IndexFunc(g.done, func(s segment) bool { return s.stats.Min < cut })
	if i < 0 {
		return 0, false, nil
	}
	seg := g.done[i]
	if n, err = g.pruneSegment(seg, cut, archive); err != nil {
		return 0, false, err
	}
	more = slices.ContainsFunc(g.done[i:], func(s segment) bool { return s.stats.Min < cut && s.seq != seg.seq })
	return n, more, nil
}

// pruneSegment deletes or rewrites seg and replaces its entry in done.
func (g *segments) pruneSegment(seg segment, cut int64, archive func([][]byte) error) (int64, error) {
	whole := seg.stats.Max < cut
	if whole && archive == nil {
		if err := g.drop(seg); err != nil {
			return 0, err
		}
		return seg.stats.N, g.notify()
	}
	data, err := readSegmentFile(g.pathOf(seg), seg.zst)
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
		seq := g.next
		g.next++
		if err := atomicfile.Write(g.path(seq), keep); err != nil {
			return 0, fmt.Errorf("rewriting event segment: %w", err)
		}
		if err := writeStats(g.statsPath(seq), kept); err != nil {
			return 0, err
		}
		g.closed(segment{seq: seq, stats: kept})
	}
	if err := g.drop(seg); err != nil {
		return 0, err
	}
	return int64(len(removed)), g.notify()
}

// viewBranches bounds the parts the events view is made of, so that
// binding it stays cheap however many segments there are.
const viewBranches = 64

// viewEvery is how often rotation alone makes the events view again.
const viewEvery = 10 * time.Second

// viewSQL is the SQL of the events view: the rows stored in DuckDB by
// lookout before segments (events_rows), then the closed segments in at most
// viewBranches runs of consecutive ones, each read only under the condition
// that ts lies within the run's time range, then the tail: the open segment
// and every segment created after this view, found by a glob and chosen by
// file name (which DuckDB does before reading). The conditions are what make
// a query for a time range cheap: DuckDB finds a query's own condition on ts
// (the dashboard's drill-down, the refill at start) contradicting a run's
// range while planning, and drops that run without reading it. The tail
// lets the view stay as it is when segments rotate, which they do several
// times a second at a million events a second: making the view costs DuckDB
// a bind of every run, so it is made again at most every viewEvery then,
// and at once before Prune deletes a file it names.
func (g *segments) viewSQL() string {
	g.viewAt = g.now()
	for i := range g.doomed {
		if g.doomed[i].after.IsZero() {
			g.doomed[i].after = g.viewAt.Add(g.grace)
		}
	}
	var b strings.Builder
	b.WriteString("CREATE OR REPLACE VIEW events AS\nSELECT ts, source, fields, flags, raw FROM events_rows")
	per := (len(g.done) + viewBranches - 1) / viewBranches
	for run := range slices.Chunk(g.done, max(per, 1)) {
		paths := make([]string, len(run))
		lo, hi := run[0].stats.Min, run[0].stats.Max
		for i, seg := range run {
			paths[i] = g.pathOf(seg)
			lo, hi = min(lo, seg.stats.Min), max(hi, seg.stats.Max)
		}
		fmt.Fprintf(&b, "\nUNION ALL\nSELECT * FROM (%s) WHERE ts BETWEEN make_timestamptz(%d) AND make_timestamptz(%d)",
			segmentSelect(paths...), lo, hi)
	}
	b.WriteString("\nUNION ALL\n")
	b.WriteString(segmentFrom(sqlString(filepath.Join(g.dir, segPrefix+"*"+segExt)), ", filename = true",
		"WHERE filename = "+sqlString(g.path(g.cur.seq))+" OR filename >= "+sqlString(g.path(g.next))))
	return b.String()
}

// segmentSelect is a SELECT of the events columns from the segment files
// at paths. DuckDB's NDJSON reader would be the obvious way,
// but it takes 32 MiB buffers from DuckDB's memory limit (64MB by default)
// per file it reads, and so failed queries over two segments; the CSV
// reader's buffers are sized by the query. So each line is read as one
// VARCHAR (the delimiter 0x1e never occurs in a line, and quoting is off),
// split at the raw mark (position and substr count characters alike, so
// multi-byte text splits right) and its JSON parsed once by from_json.
// try() turns a torn last line, which a query may see while the writer
// appends, into NULL, which the WHERE drops with the blank padding lines.
func segmentSelect(paths ...string) string {
	lits := make([]string, len(paths))
	for i, p := range paths {
		lits[i] = sqlString(p)
	}
	return segmentFrom("["+strings.Join(lits, ", ")+"]", "", "")
}

// segmentFrom is segmentSelect over read_csv(files, …, extra) with a
// condition on its rows.
func segmentFrom(files, extra, where string) string {
	return `SELECT make_timestamptz(e.ts) AS ts, e.source AS source, e.fields AS fields,
		coalesce(e.flags, '') AS flags, coalesce(r, e.raw) AS raw
	FROM (SELECT try(from_json(CASE WHEN p > 0 THEN left(line, p - 1) ELSE line END,
				'{"ts":"BIGINT","source":"VARCHAR","flags":"VARCHAR","fields":"JSON","raw":"VARCHAR"}')) AS e,
			CASE WHEN p > 0 THEN substr(line, p + 1) END AS r
		FROM (SELECT line, position(chr(31) IN line) AS p
			FROM read_csv(` + files + `, columns = {line: 'VARCHAR'}, header = false, auto_detect = false,
				delim = chr(30), quote = '', escape = '',
				max_line_size = ` + strconv.Itoa(segMaxLine+1) + `, buffer_size = ` + strconv.Itoa(2*segMaxLine+2) + extra + `)
			` + where + `))
	WHERE e.ts IS NOT NULL`
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
