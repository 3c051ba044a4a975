package store

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lookout-dev/lookout/internal/store/segment"
)

// segDirName is the segment log's directory under Options.Dir, the one
// directory outside the database that DuckDB may read.
const segDirName = "events"

// viewBranches bounds the parts the events view is made of, so that
// binding it stays cheap however many segments there are.
const viewBranches = 64

// viewSQL is the SQL of the events view over the segment files f: the rows
// stored in DuckDB by lookout before segments (events_rows), then the closed
// segments in at most viewBranches runs of consecutive ones, each read only
// under the condition that ts lies within the run's time range, then the
// tail: the open segment and every segment created after f was taken, found
// by a glob and chosen by file name (which DuckDB does before reading). The
// conditions are what make a query for a time range cheap: DuckDB finds a
// query's own condition on ts (the dashboard's drill-down, the refill at
// start) contradicting a run's range while planning, and drops that run
// without reading it. The tail lets the view stay as it is when segments
// rotate, which they do several times a second at a million events a
// second: making the view costs DuckDB a bind of every run, so the segment
// log asks for it again at most every segment.DefaultViewEvery then, and at
// once before Prune deletes a file it names.
func viewSQL(f segment.Files) string {
	var b strings.Builder
	b.WriteString("CREATE OR REPLACE VIEW events AS\nSELECT ts, source, fields, flags, raw FROM events_rows")
	per := (len(f.Closed) + viewBranches - 1) / viewBranches
	for run := range slices.Chunk(f.Closed, max(per, 1)) {
		paths := make([]string, len(run))
		lo, hi := run[0].Min, run[0].Max
		for i, seg := range run {
			paths[i] = seg.Path
			lo, hi = min(lo, seg.Min), max(hi, seg.Max)
		}
		fmt.Fprintf(&b, "\nUNION ALL\nSELECT * FROM (%s) WHERE ts BETWEEN make_timestamptz(%d) AND make_timestamptz(%d)",
			segmentSelect(paths...), lo, hi)
	}
	b.WriteString("\nUNION ALL\n")
	b.WriteString(segmentFrom(sqlString(f.Glob), ", filename = true",
		"WHERE filename = "+sqlString(f.Open)+" OR filename >= "+sqlString(f.Next)))
	return b.String()
}

// segmentSelect is a SELECT of the events columns from the segment files
// at paths. DuckDB's NDJSON reader would be the obvious way,
// but it takes 32 MiB buffers from DuckDB's memory limit (64MB by default)
// per file it reads, and so failed queries over two segments; the CSV
// reader's buffers are sized by the query. So each line is read as one
// VARCHAR (the delimiter segment.NoDelim never occurs in a line, and
// quoting is off), split at segment.RawMark (position and substr count
// characters alike, so multi-byte text splits right) and its JSON parsed
// once by from_json. try() turns a torn last line, which a query may see
// while the writer appends, into NULL, which the WHERE drops with the blank
// padding lines.
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
		FROM (SELECT line, position(chr(` + strconv.Itoa(segment.RawMark) + `) IN line) AS p
			FROM read_csv(` + files + `, columns = {line: 'VARCHAR'}, header = false, auto_detect = false,
				delim = chr(` + strconv.Itoa(segment.NoDelim) + `), quote = '', escape = '',
				max_line_size = ` + strconv.Itoa(segment.MaxLine+1) + `, buffer_size = ` + strconv.Itoa(2*segment.MaxLine+2) + extra + `)
			` + where + `))
	WHERE e.ts IS NOT NULL`
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
