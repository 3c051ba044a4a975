package window

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/lookout-dev/lookout/internal/config"
)

// Baseline checkpoints. The baseline aggregates (zscore, mad_score, ewma,
// change, rel_change) judge a window against the group's earlier windows,
// which only the engine keeps: without them a restarted lookout is blind
// for min_baseline windows, hours with hourly windows. Open windows are
// rebuilt at start by replaying events (the store, or the brokers'
// uncommitted offsets); the histories of closed windows are not in any
// event still around, so the app saves them with SaveBaselines now and then
// and at stop, and LoadBaselines puts them back before the first event.

// ErrBaselineMismatch is returned by LoadBaselines for a checkpoint written
// by a pipeline whose window, aggregates or baseline length differ: its
// histories would mean something else here.
var ErrBaselineMismatch = errors.New("the checkpoint is of another pipeline definition")

const checkpointMagic = "lookout baselines 1\n"

// baselineSignature names what a history's numbers depend on.
func baselineSignature(cfg config.Pipeline) string {
	var b strings.Builder
	fmt.Fprintf(&b, "window=%d/%d/%d baseline=%d group_by=%q", cfg.Window.Size, cfg.Window.Every, cfg.Window.Count,
		cfg.Baseline, cfg.GroupBy)
	for _, a := range cfg.Aggregates {
		fmt.Fprintf(&b, " %q=%q", a.Name, a.Expr)
	}
	return b.String()
}

// HasBaselines reports whether the pipeline has baseline aggregates, whose
// histories are worth a checkpoint.
func (p *Pipeline) HasBaselines() bool { return len(p.baselines) > 0 }

// SaveBaselines writes every group's baseline history to w, in a format
// only LoadBaselines reads, ending in a CRC-32 of the rest. Like Add, it
// must be called from the goroutine that owns the pipeline.
func (p *Pipeline) SaveBaselines(w io.Writer) error {
	crc := crc32.NewIEEE()
	bw := bufio.NewWriter(io.MultiWriter(w, crc))
	var buf []byte
	buf = append(buf, checkpointMagic...)
	buf = binary.AppendUvarint(buf, uint64(len(p.baseSig)))
	buf = append(buf, p.baseSig...)
	buf = binary.AppendUvarint(buf, uint64(len(p.baselines)))
	buf = binary.AppendUvarint(buf, uint64(len(p.hist)))
	bw.Write(buf)
	// Sorted, so that a checkpoint of the same state is the same file.
	keys := make([]string, 0, len(p.hist))
	for k := range p.hist {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h := p.hist[k]
		buf = binary.AppendUvarint(buf[:0], uint64(len(k)))
		buf = append(buf, k...)
		buf = binary.AppendUvarint(buf, uint64(len(h.ends)))
		buf = binary.AppendUvarint(buf, uint64(h.next))
		buf = binary.AppendVarint(buf, h.last)
		for _, e := range h.ends {
			buf = binary.AppendVarint(buf, e)
		}
		for _, x := range h.xs {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
		}
		for _, x := range h.state {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
		}
		bw.Write(buf)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing baseline checkpoint: %w", err)
	}
	if _, err := w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return fmt.Errorf("writing baseline checkpoint: %w", err)
	}
	return nil
}

// LoadBaselines reads a checkpoint written by SaveBaselines into the
// pipeline's histories and returns how many groups it restored. A
// checkpoint of another definition fails with ErrBaselineMismatch, a
// damaged one with an error saying so; either way nothing is loaded. Call
// it before the first Add.
func (p *Pipeline) LoadBaselines(r io.Reader) (int, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, fmt.Errorf("reading baseline checkpoint: %w", err)
	}
	if len(data) < len(checkpointMagic)+4 || string(data[:len(checkpointMagic)]) != checkpointMagic {
		return 0, errors.New("reading baseline checkpoint: not a baseline checkpoint")
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return 0, errors.New("reading baseline checkpoint: checksum mismatch (damaged or cut short)")
	}
	d := decoder{b: body[len(checkpointMagic):]}
	sig := d.bytes()
	nb := int(d.uvarint())
	n := d.uvarint()
	if d.err != nil {
		return 0, fmt.Errorf("reading baseline checkpoint: %w", d.err)
	}
	if string(sig) != p.baseSig || nb != len(p.baselines) {
		return 0, ErrBaselineMismatch
	}
	hist := map[string]*history{}
	for range n {
		key := string(d.bytes())
		ne, next := int(d.uvarint()), int(d.uvarint())
		h := &history{last: d.varint(), next: next}
		if d.err == nil && (ne > p.baseN || next >= max(ne, 1)) {
			d.err = fmt.Errorf("group %q: %d windows, next %d, baseline %d", key, ne, next, p.baseN)
		}
		if d.err != nil {
			break
		}
		h.ends = make([]int64, ne)
		for i := range h.ends {
			h.ends[i] = d.varint()
		}
		h.xs, h.state = d.floats(ne*nb), d.floats(ne*nb)
		hist[key] = h
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the last group", len(d.b))
	}
	if d.err != nil {
		return 0, fmt.Errorf("reading baseline checkpoint: %w", d.err)
	}
	for k, h := range hist {
		if len(p.hist) >= p.maxGroups {
			break
		}
		p.hist[k] = h
	}
	return len(hist), nil
}

// decoder reads a checkpoint; the first error sticks and later reads
// return zeros.
type decoder struct {
	b   []byte
	err error
}

var errCut = errors.New("cut short")

func (d *decoder) uvarint() uint64 { return readVarint(d, binary.Uvarint) }

func (d *decoder) varint() int64 { return readVarint(d, binary.Varint) }

// readVarint reads one number with read (binary.Uvarint or binary.Varint).
func readVarint[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.err = errCut
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errCut
	}
	if d.err != nil {
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) floats(n int) []float64 {
	if d.err == nil && 8*n > len(d.b) {
		d.err = errCut
	}
	if d.err != nil {
		return nil
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(d.b[8*i:]))
	}
	d.b = d.b[8*n:]
	return v
}
