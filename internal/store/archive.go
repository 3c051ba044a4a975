package store

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/lookout-dev/lookout/internal/atomicfile"
)

// The archive is written by lookout itself, with the Parquet writer of
// arrow-go, rather than by DuckDB's COPY: the database keeps external access
// off for good (lock_configuration), so no statement — a user's query
// included — can ever write a file.

// archiveColumns lists a table's columns with their Arrow types, in the
// order of tables. JSON columns are archived as their text.
func archiveColumns(table string) ([]string, []arrow.DataType) {
	var cols []string
	if table == "events" {
		cols = eventColumns
	}
	for _, t := range tables {
		if t.name == table {
			cols = t.columns
		}
	}
	types := make([]arrow.DataType, len(cols))
	for i, c := range cols {
		switch c {
		case "ts", "start", "end":
			types[i] = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		case "count", "late", "seq", "future":
			types[i] = arrow.PrimitiveTypes.Int64
		case "value":
			types[i] = arrow.PrimitiveTypes.Float64
		default:
			types[i] = arrow.BinaryTypes.String
		}
	}
	return cols, types
}

// archive writes the rows of table whose rowids are in the temp table
// lookout_prune to a new Parquet file and returns how many it wrote. It runs
// on the writer goroutine inside the prune's transaction; the file is
// complete and synced (written under a temporary name, then renamed) before
// it returns, so the delete that follows never loses a row the file lacks.
// Rows of events_rows (events stored before segments) are archived as
// events.
func (w *writer) archive(ctx context.Context, table string) (int64, error) {
	name := table
	if table == "events_rows" {
		name = "events"
	}
	return w.archiveFrom(ctx, name, table+" WHERE rowid IN (SELECT id FROM lookout_prune)")
}

// archiveLines writes event segment lines that Prune removes to Parquet
// files of at most PruneChunk events each. DuckDB reads them back from a
// temporary file in the segment directory, the one place it may read.
func (w *writer) archiveLines(lines [][]byte) error {
	tmp := filepath.Join(w.segs.Dir(), ".archive.tmp")
	defer os.Remove(tmp)
	from := "(" + segmentSelect(tmp) + ") AS lines"
	for chunk := range slices.Chunk(lines, w.s.opts.PruneChunk) {
		if err := atomicfile.Write(tmp, bytes.Join(chunk, nil)); err != nil {
			return fmt.Errorf("archiving events: %w", err)
		}
		if _, err := w.archiveFrom(context.Background(), "events", from); err != nil {
			return fmt.Errorf("archiving events: %w", err)
		}
	}
	return nil
}

// archiveFrom writes the rows of a FROM clause, in the layout of the table
// name, to a new Parquet file and returns how many it wrote.
func (w *writer) archiveFrom(ctx context.Context, table, from string) (int64, error) {
	cols, types := archiveColumns(table)
	if len(cols) == 0 {
		return 0, fmt.Errorf("no archive layout for table %s", table)
	}
	sel := make([]string, len(cols))
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		q := quoteIdent(c)
		if types[i] == arrow.BinaryTypes.String {
			sel[i] = "CAST(" + q + " AS VARCHAR)"
		} else {
			sel[i] = q
		}
		fields[i] = arrow.Field{Name: c, Type: types[i], Nullable: true}
	}
	order := "ts"
	if table == "windows" {
		order = `"end"`
	}
	qr, ok := w.conn.(driver.QueryerContext)
	if !ok {
		return 0, errors.New("driver connection cannot query")
	}
	rows, err := qr.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY %s",
		strings.Join(sel, ", "), from, order), nil)
	if err != nil {
		return 0, err
	}
	defer rows.Close()

	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	var n int64
	var oldest time.Time
	dest := make([]driver.Value, len(cols))
	for {
		if err := rows.Next(dest); err == io.EOF {
			break
		} else if err != nil {
			return 0, err
		}
		for i, v := range dest {
			if err := appendValue(b.Field(i), v); err != nil {
				return 0, fmt.Errorf("column %s: %w", cols[i], err)
			}
		}
		if n == 0 {
			if t, ok := dest[0].(time.Time); ok {
				oldest = t
			}
			if table == "windows" {
				oldest, _ = dest[2].(time.Time)
			}
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return n, writeParquet(filepath.Join(w.s.opts.ArchiveDir, table), table, oldest, n, schema, rec)
}

func appendValue(b array.Builder, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	switch b := b.(type) {
	case *array.TimestampBuilder:
		t, ok := v.(time.Time)
		if !ok {
			return fmt.Errorf("%T is not a time", v)
		}
		b.Append(arrow.Timestamp(t.UnixMicro()))
	case *array.Int64Builder:
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("%T is not an int64", v)
		}
		b.Append(n)
	case *array.Float64Builder:
		f, ok := v.(float64)
		if !ok {
			return fmt.Errorf("%T is not a float64", v)
		}
		b.Append(f)
	case *array.StringBuilder:
		switch s := v.(type) {
		case string:
			b.Append(s)
		case []byte:
			b.Append(string(s))
		default:
			b.Append(fmt.Sprint(s))
		}
	default:
		return fmt.Errorf("no archive builder for %T", b)
	}
	return nil
}

// writeParquet writes rec to dir/<table>-<oldest>-<n>.parquet (with a
// counter when that name is taken), atomically.
func writeParquet(dir, table string, oldest time.Time, n int64, schema *arrow.Schema, rec arrow.RecordBatch) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := fmt.Sprintf("%s-%s-%d", table, oldest.UTC().Format("20060102T150405.000000Z"), n)
	name := filepath.Join(dir, base+".parquet")
	for i := 1; ; i++ {
		if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) {
			break
		}
		name = filepath.Join(dir, fmt.Sprintf("%s.%d.parquet", base, i))
	}
	f, err := os.CreateTemp(dir, "."+base+"-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd))
	fw, err := pqarrow.NewFileWriter(schema, nopCloser{f}, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return err
	}
	if err := fw.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	ok = true
	return nil
}

// nopCloser keeps the Parquet writer from closing the file, which must be
// synced first.
type nopCloser struct{ *os.File }

func (nopCloser) Close() error { return nil }
