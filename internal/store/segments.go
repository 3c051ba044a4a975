package store

import (
	"bufio"
	"bytes"
	"cmp"
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
// files to delete or rewrite without reading them. A segment left open by a
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
	changed func() error
	viewAt  time.Time // when viewSQL last ran

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
	g := &segments{dir: dir, log: log, now: time.Now, next: 1, maxSize: segMaxSize, maxAge: segMaxAge}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, ent := range ents {
		if strings.Contains(ent.Name(), ".tmp") {
			// A rewrite, sidecar or archive chunk a crash interrupted
			// before its rename: the file it was to replace is intact.
			os.Remove(filepath.Join(dir, ent.Name()))
			continue
		}
		seq, ok := segSeq(ent.Name())
		if !ok {
			continue
		}
		g.next = max(g.next, seq+1)
		st, err := g.loadStats(seq)
		if err != nil {
			return nil, err
		}
		if st.N == 0 {
			g.remove(seq)
			continue
		}
		g.done = append(g.done, segment{seq, st})
	}
	slices.SortFunc(g.done, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	if err := g.create(); err != nil {
		return nil, err
	}
	return g, nil
}

// segSeq parses a segment file name.
func segSeq(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, segPrefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, segExt); !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	return seq, err == nil
}

func (g *segments) path(seq uint64) string {
	return filepath.Join(g.dir, fmt.Sprintf("%s%012d%s", segPrefix, seq, segExt))
}

func (g *segments) statsPath(seq uint64) string {
	return strings.TrimSuffix(g.path(seq), segExt) + statsExt
}

// loadStats reads a closed segment's sidecar, or scans a segment without one
// (left open by a crash), cutting off a torn last line, and writes it.
func (g *segments) loadStats(seq uint64) (segStats, error) {
	var st segStats
	if b, err := os.ReadFile(g.statsPath(seq)); err == nil && json.Unmarshal(b, &st) == nil {
		return st, nil
	}
	st, err := scanSegment(g.path(seq))
	if err != nil {
		return st, fmt.Errorf("recovering event segment %s: %w", g.path(seq), err)
	}
	if st.N > 0 {
		if err := writeStats(g.statsPath(seq), st); err != nil {
			return st, err
		}
		g.log.Info("recovered an event segment left open", "file", g.path(seq), "events", st.N)
	}
	return st, nil
}

// scanSegment reads a segment's event times and truncates it after its last
// complete line.
func scanSegment(path string) (segStats, error) {
	var st segStats
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return st, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var good int64
	for {
		line, err := r.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) { // a long line: skip the rest of it
			var more []byte
			more, err = r.ReadSlice('\n')
			line = append(line[:len(line):len(line)], more...)
		}
		if err == io.EOF {
			break // a torn line without its newline, or the end
		}
		if err != nil {
			return st, err
		}
		if ts, ok := lineTime(line); ok {
			st.add(ts)
		}
		good += int64(len(line))
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > good {
		if err := f.Truncate(good); err != nil {
			return st, err
		}
	}
	return st, f.Sync()
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

func (g *segments) remove(seq uint64) error {
	err := os.Remove(g.path(seq))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if e := os.Remove(g.statsPath(seq)); e != nil && !errors.Is(e, fs.ErrNotExist) {
		err = errors.Join(err, e)
	}
	return err
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
	if g.now().Sub(g.viewAt) < viewEvery {
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
		return g.remove(g.cur.seq)
	}
	if err := writeStats(g.statsPath(g.cur.seq), g.cur.stats); err != nil {
		return err
	}
	g.done = append(g.done, g.cur)
	return nil
}

// close commits and closes the open segment.
func (g *segments) close() error {
	return errors.Join(g.commit(), g.finish())
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
	i := slices.IndexFunc(g.done, func(s segment) bool { return s.seq == seg.seq })
	whole := seg.stats.Max < cut
	if whole && archive == nil {
		g.done = slices.Delete(g.done, i, i+1)
		if err := g.notify(); err != nil {
			return 0, err
		}
		if err := g.remove(seg.seq); err != nil {
			return 0, fmt.Errorf("deleting event segment: %w", err)
		}
		return seg.stats.N, nil
	}
	data, err := os.ReadFile(g.path(seg.seq))
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
	if kept.N == 0 {
		g.done = slices.Delete(g.done, i, i+1)
		if err := g.notify(); err != nil {
			return 0, err
		}
		if err := g.remove(seg.seq); err != nil {
			return 0, fmt.Errorf("deleting event segment: %w", err)
		}
		return int64(len(removed)), nil
	}
	// The kept events go to a new segment, complete and synced before the
	// old one is deleted: a crash in between keeps both, which counts the
	// kept events twice rather than losing them.
	seq := g.next
	g.next++
	if err := atomicfile.Write(g.path(seq), keep); err != nil {
		return 0, fmt.Errorf("rewriting event segment: %w", err)
	}
	if err := writeStats(g.statsPath(seq), kept); err != nil {
		return 0, err
	}
	g.done[i] = segment{seq, kept}
	slices.SortFunc(g.done, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	if err := g.notify(); err != nil {
		return 0, err
	}
	if err := g.remove(seg.seq); err != nil {
		return 0, fmt.Errorf("deleting event segment: %w", err)
	}
	return int64(len(removed)), nil
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
	var b strings.Builder
	b.WriteString("CREATE OR REPLACE VIEW events AS\nSELECT ts, source, fields, flags, raw FROM events_rows")
	per := (len(g.done) + viewBranches - 1) / viewBranches
	for run := range slices.Chunk(g.done, max(per, 1)) {
		paths := make([]string, len(run))
		lo, hi := run[0].stats.Min, run[0].stats.Max
		for i, seg := range run {
			paths[i] = g.path(seg.seq)
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
