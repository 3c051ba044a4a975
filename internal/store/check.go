package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Checker judges SQL the way Query does — the same refusals, and DuckDB
// parsing and binding it against lookout's tables, helpers and pipeline
// views — without running it and without a data directory. It backs
// `lookout check` for SQL rules: its database is an empty in-memory one
// with the store's schema and the same lock-down.
type Checker struct {
	connector *duckdb.Connector
	db        *sql.DB
	parser    *parser
}

// NewChecker builds a Checker whose schema has the views of pipelines (see
// CreatePipelineViews). Close it when done.
func NewChecker(ctx context.Context, pipelines []PipelineView) (*Checker, error) {
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("opening the checking database: %w", err)
	}
	c := &Checker{connector: connector, db: sql.OpenDB(connector)}
	for _, step := range []func() error{
		func() error { return migrate(ctx, c.db) },
		func() error { return createMacros(ctx, c.db) },
		func() error { return createPipelineViews(ctx, c.db, pipelines) },
		func() error { // the schema of the events view, without segments
			_, err := c.db.ExecContext(ctx, "CREATE VIEW events AS SELECT ts, source, fields, flags, raw FROM events_rows")
			return err
		},
		func() error { return lockDown(ctx, c.db, DefaultMemoryLimit, "") },
		func() (err error) { c.parser, err = newParser(); return err },
	} {
		if err := step(); err != nil {
			c.Close()
			return nil, fmt.Errorf("preparing the checking database: %w", err)
		}
	}
	return c, nil
}

// Check returns nil when Query would run q, or the error Query would fail
// with before running it (wrapping ErrRefused or ErrBadQuery). It is safe for
// concurrent use.
func (c *Checker) Check(ctx context.Context, q string) error {
	conn, _, err := checkQuery(ctx, c.db, c.parser, q)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Close releases the in-memory database.
func (c *Checker) Close() error {
	var errs []error
	if c.db != nil {
		errs = append(errs, c.db.Close())
	}
	if c.parser != nil {
		errs = append(errs, c.parser.close())
	}
	errs = append(errs, c.connector.Close())
	return errors.Join(errs...)
}
