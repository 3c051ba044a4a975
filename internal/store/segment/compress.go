package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/lookout-dev/lookout/internal/atomicfile"
)

// Closed segments are compressed with zstd, which DuckDB reads by itself
// (read_csv picks the codec from the .zst name): a benchmark segment of 230
// bytes an event shrinks 14 times. Compression runs on a goroutine of its
// own, never the writer's, one segment at a time, streaming (a 64 KiB
// window, so a few megabytes of memory whatever the segment's size), read
// with O_DIRECT like it was written. The compressed
// file is written next to the plain one and renamed into place whole; Files
// then names it instead of the plain file, which is deleted a grace period
// after (Log.compressed), so that a query that bound the old view still
// finds what it reads. A crash in between
// leaves both, and Open keeps the compressed one.

const (
	zstExt = ".zst"
	// zstWindow bounds the encoder's and DuckDB's decoder's memory; the
	// segments' lines repeat within a few hundred bytes. On a benchmark
	// segment 64 KiB compressed best (14.7 times) and fastest (716 MB/s
	// vs 564 with 1 MiB).
	zstWindow = 64 << 10
	// zstRead is how much of a segment one read takes.
	zstRead = 1 << 20
)

// compressed is a compressor's result for one segment.
type compressed struct {
	seq uint64
	err error
}

// compressor compresses closed segments in the background. Its methods
// are safe for concurrent use.
type compressor struct {
	path func(seq uint64) string // the plain segment file
	log  *slog.Logger

	mu      sync.Mutex
	queue   []uint64
	results []compressed

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

func newCompressor(path func(uint64) string, log *slog.Logger) *compressor {
	ctx, cancel := context.WithCancel(context.Background())
	c := &compressor{path: path, log: log, wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

// add queues segment seq for compression.
func (c *compressor) add(seq uint64) {
	c.mu.Lock()
	c.queue = append(c.queue, seq)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take returns the results since the last call.
func (c *compressor) take() []compressed {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.results
	c.results = nil
	return r
}

// stop abandons the queue and waits for the goroutine; a segment left
// plain is compressed after the next Open.
func (c *compressor) stop() {
	c.cancel()
	<-c.done
}

func (c *compressor) run(ctx context.Context) {
	defer close(c.done)
	var enc *zstd.Encoder
	var buf []byte
	for {
		c.mu.Lock()
		var seq uint64
		ok := len(c.queue) > 0
		if ok {
			seq = c.queue[0]
			c.queue = c.queue[1:]
		}
		c.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
				continue
			}
		}
		if enc == nil { // at the first segment: an idle store holds none of it
			var err error
			enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
				zstd.WithWindowSize(zstWindow), zstd.WithEncoderConcurrency(1))
			if err != nil {
				c.log.Error("event segments stay uncompressed", "err", err)
				return
			}
			buf = alignedBuf(zstRead)[:zstRead]
		}
		// A result is kept even when stop came meanwhile: the
		// compressed file may be in place, and close takes it.
		err := compressFile(ctx, enc, buf, c.path(seq), c.path(seq)+zstExt)
		c.mu.Lock()
		c.results = append(c.results, compressed{seq, err})
		c.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
}

// compressFile writes src compressed to dst, atomically, reading src into
// buf (aligned for O_DIRECT) a piece at a time.
func compressFile(ctx context.Context, enc *zstd.Encoder, buf []byte, src, dst string) error {
	f, err := openSegmentRead(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return atomicfile.WriteFrom(dst, func(w io.Writer) error {
		enc.Reset(w)
		for {
			n, err := io.ReadFull(f, buf)
			if n > 0 {
				if _, werr := enc.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				return enc.Close()
			}
			if err == nil {
				err = ctx.Err()
			}
			if err != nil {
				enc.Close()
				return fmt.Errorf("compressing %s: %w", src, err)
			}
		}
	})
}

// openSegmentFile opens a segment, plain or compressed, for reading its
// lines.
func openSegmentFile(path string, zst bool) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil || !zst {
		return f, err
	}
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		f.Close()
		return nil, err
	}
	return zstReadCloser{dec, f}, nil
}

type zstReadCloser struct {
	dec *zstd.Decoder
	f   *os.File
}

func (z zstReadCloser) Read(p []byte) (int, error) { return z.dec.Read(p) }

func (z zstReadCloser) Close() error {
	z.dec.Close()
	return z.f.Close()
}

// readSegmentFile returns a segment's whole content, decompressed.
func readSegmentFile(path string, zst bool) ([]byte, error) {
	rc, err := openSegmentFile(path, zst)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, nil
}
