package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// macros are the SQL helpers of docs/sql.md, created (or replaced, so a newer
// lookout updates them) each time the store opens. They are table macros
// over the windows table only: no file, network or setting is involved, so
// they work unchanged inside Query's read-only, locked-down transactions.
//
// Every helper takes the time it judges "now" as the optional named
// parameter as_of; without it, now is the newest window end of the pipeline.
// Using the data's own clock keeps a replayed backlog and the tests
// deterministic; a rule that must notice a pipeline going silent as a whole
// passes as_of := now().
//
// Values are read with vals->>name, so an aggregate that was null (NaN) in a
// window is NULL here and SQL's aggregates skip it.
var macros = []string{
	// One row per window and aggregate: the long form, whatever the
	// pipeline's aggregates are.
	`CREATE OR REPLACE MACRO window_values(pipe) AS TABLE
	SELECT w.pipeline, w.start, w."end", w.grp, e.key AS name, TRY_CAST(e.value AS DOUBLE) AS value
	FROM windows AS w, json_each(w.vals) AS e
	WHERE w.pipeline = pipe`,

	// The value of one aggregate of one window row, as a DOUBLE.
	`CREATE OR REPLACE MACRO wval(vals, name) AS TRY_CAST(vals->>name AS DOUBLE)`,

	// The last span of windows against the same span shift earlier, per
	// group: now and before (NULL when the group has no windows, or only
	// null values, in that span: "no data" is not 0), ratio (NULL when
	// before is NULL or 0) and delta (a missing side counts as 0). agg folds
	// the windows of a span: sum (counts), avg, max or min.
	`CREATE OR REPLACE MACRO compare(pipe, val, span, shift, as_of := NULL, agg := 'sum') AS TABLE
	WITH t AS (
		SELECT coalesce(CAST(as_of AS TIMESTAMPTZ), (SELECT max("end") FROM windows WHERE pipeline = pipe)) AS cut
	), spans AS (
		SELECT CAST(w.grp AS VARCHAR) AS g, w.grp,
			w."end" > t.cut - span AS cur, TRY_CAST(w.vals->>val AS DOUBLE) AS v
		FROM windows AS w, t
		WHERE w.pipeline = pipe
			AND ((w."end" > t.cut - span AND w."end" <= t.cut)
				OR (w."end" > t.cut - shift - span AND w."end" <= t.cut - shift))
	), folded AS (
		SELECT g, any_value(grp) AS grp, cur,
			CASE lower(agg) WHEN 'avg' THEN avg(v) WHEN 'max' THEN max(v) WHEN 'min' THEN min(v) ELSE sum(v) END AS v
		FROM spans GROUP BY g, cur
	)
	SELECT any_value(grp) AS grp,
		max(v) FILTER (WHERE cur) AS now,
		max(v) FILTER (WHERE NOT cur) AS before,
		max(v) FILTER (WHERE cur) / nullif(max(v) FILTER (WHERE NOT cur), 0) AS ratio,
		coalesce(max(v) FILTER (WHERE cur), 0) - coalesce(max(v) FILTER (WHERE NOT cur), 0) AS delta
	FROM folded GROUP BY g`,

	// The k groups whose value rose most in the last span against the span
	// before it, biggest rise first, with their rank.
	`CREATE OR REPLACE MACRO topk_change(pipe, val, span, k, as_of := NULL, agg := 'sum') AS TABLE
	SELECT *, CAST(row_number() OVER (ORDER BY delta DESC, CAST(grp AS VARCHAR)) AS BIGINT) AS rank
	FROM compare(pipe, val, span, span, as_of := as_of, agg := agg)
	WHERE delta > 0
	ORDER BY delta DESC, CAST(grp AS VARCHAR)
	LIMIT k`,

	// Per group, the newest window's value (latest) against the n windows
	// before it: their mean, sample stddev, median and median absolute
	// deviation, and how far latest is from them in those units.
	`CREATE OR REPLACE MACRO baseline(pipe, val, n, as_of := NULL) AS TABLE
	WITH t AS (
		SELECT coalesce(CAST(as_of AS TIMESTAMPTZ), (SELECT max("end") FROM windows WHERE pipeline = pipe)) AS cut
	), r AS (
		SELECT CAST(w.grp AS VARCHAR) AS g, w.grp, w."end", TRY_CAST(w.vals->>val AS DOUBLE) AS v,
			row_number() OVER (PARTITION BY CAST(w.grp AS VARCHAR) ORDER BY w."end" DESC) AS rn
		FROM windows AS w, t
		WHERE w.pipeline = pipe AND w."end" <= t.cut
		QUALIFY rn <= n + 1
	), s AS (
		SELECT any_value(grp) AS grp,
			max("end") AS "end",
			any_value(v) FILTER (WHERE rn = 1) AS latest,
			avg(v) FILTER (WHERE rn > 1) AS mean,
			stddev_samp(v) FILTER (WHERE rn > 1) AS stddev,
			median(v) FILTER (WHERE rn > 1) AS median,
			mad(v) FILTER (WHERE rn > 1) AS mad,
			count(v) FILTER (WHERE rn > 1) AS samples
		FROM r GROUP BY g
	)
	SELECT grp, "end", latest, mean, stddev, median, mad, samples,
		(latest - mean) / nullif(stddev, 0) AS zscore,
		(latest - median) / nullif(mad, 0) AS mad_score
	FROM s`,

	// Groups that had windows in the last lookback but none in the last
	// recent: a service that stopped sending. silent_s is how long ago its
	// last window ended, in seconds.
	`CREATE OR REPLACE MACRO absent(pipe, recent, lookback, as_of := NULL) AS TABLE
	WITH t AS (
		SELECT coalesce(CAST(as_of AS TIMESTAMPTZ), (SELECT max("end") FROM windows WHERE pipeline = pipe)) AS cut
	)
	SELECT any_value(w.grp) AS grp, max(w."end") AS last_end,
		epoch(any_value(t.cut) - max(w."end")) AS silent_s
	FROM windows AS w, t
	WHERE w.pipeline = pipe AND w."end" > t.cut - lookback AND w."end" <= t.cut
	GROUP BY CAST(w.grp AS VARCHAR)
	HAVING max(w."end") <= any_value(t.cut) - recent`,
}

// createMacros installs the helpers. It runs before lockDown, like the
// migrations, though nothing in it needs external access.
func createMacros(ctx context.Context, db *sql.DB) error {
	for _, m := range macros {
		if _, err := db.ExecContext(ctx, m); err != nil {
			name, _, _ := strings.Cut(strings.TrimPrefix(m, "CREATE OR REPLACE MACRO "), "(")
			return fmt.Errorf("creating macro %s: %w", name, err)
		}
	}
	return nil
}

// PipelineView describes one pipeline for CreatePipelineViews: its name, its
// group_by keys and its aggregate names, as in the config.
type PipelineView struct {
	Name       string
	GroupBy    []string
	Aggregates []string
}

// ViewName is the name of a pipeline's view: w_ and the pipeline's name.
func ViewName(pipeline string) string { return "w_" + pipeline }

// CreatePipelineViews creates (or replaces) one view per pipeline, named
// ViewName(pipeline), over the windows table: pipeline, start, "end", one
// VARCHAR column per group_by key, one DOUBLE column per aggregate, count and
// late. Typed columns spare rules the JSON: `SELECT service, errors FROM
// w_api`. Call it after Open and on every config change; views of pipelines
// that were removed are dropped.
func (s *Store) CreatePipelineViews(ctx context.Context, pipelines []PipelineView) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return createPipelineViews(ctx, s.db, pipelines)
}

func createPipelineViews(ctx context.Context, db *sql.DB, pipelines []PipelineView) error {
	keep := map[string]bool{}
	for _, p := range pipelines {
		keep[ViewName(p.Name)] = true
		if _, err := db.ExecContext(ctx, pipelineViewSQL(p)); err != nil {
			return fmt.Errorf("creating view for pipeline %s: %w", p.Name, err)
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT view_name FROM duckdb_views() WHERE NOT internal AND view_name LIKE 'w\_%' ESCAPE '\' AND comment = 'lookout pipeline view'`)
	if err != nil {
		return fmt.Errorf("listing pipeline views: %w", err)
	}
	var stale []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("listing pipeline views: %w", err)
		}
		if !keep[n] {
			stale = append(stale, n)
		}
	}
	rows.Close()
	for _, n := range stale {
		if _, err := db.ExecContext(ctx, "DROP VIEW IF EXISTS "+quoteIdent(n)); err != nil {
			return fmt.Errorf("dropping view %s: %w", n, err)
		}
	}
	return nil
}

func pipelineViewSQL(p PipelineView) string {
	var b strings.Builder
	b.WriteString("CREATE OR REPLACE VIEW " + quoteIdent(ViewName(p.Name)) + ` AS SELECT pipeline, start, "end"`)
	cols := map[string]bool{"pipeline": true, "start": true, "end": true, "count": true, "late": true}
	for _, k := range slices.Sorted(slices.Values(p.GroupBy)) {
		if cols[k] {
			continue // a group key named like a column keeps the column
		}
		cols[k] = true
		b.WriteString(", grp->>" + quoteString(k) + " AS " + quoteIdent(k))
	}
	for _, a := range p.Aggregates {
		if cols[a] {
			continue
		}
		cols[a] = true
		b.WriteString(", TRY_CAST(vals->>" + quoteString(a) + " AS DOUBLE) AS " + quoteIdent(a))
	}
	b.WriteString(", count, late FROM windows WHERE pipeline = " + quoteString(p.Name))
	return b.String() + "; COMMENT ON VIEW " + quoteIdent(ViewName(p.Name)) + " IS 'lookout pipeline view'"
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
