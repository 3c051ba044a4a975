package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order, each once; schema_version records the
// number applied. Append to this list, never edit an entry: a database
// created by an older lookout has already run it.
var migrations = []string{
	// 1: the tables of CONTRACT.md. alerts.seq orders transitions that share
	// a timestamp.
	`CREATE TABLE events (
		ts TIMESTAMPTZ NOT NULL,
		source VARCHAR NOT NULL,
		fields JSON,
		flags VARCHAR NOT NULL DEFAULT '',
		raw VARCHAR
	);
	CREATE TABLE windows (
		pipeline VARCHAR NOT NULL,
		start TIMESTAMPTZ NOT NULL,
		"end" TIMESTAMPTZ NOT NULL,
		grp JSON,
		vals JSON,
		count BIGINT,
		late BIGINT
	);
	CREATE TABLE alerts (
		ts TIMESTAMPTZ NOT NULL,
		rule VARCHAR NOT NULL,
		fingerprint VARCHAR NOT NULL,
		labels JSON,
		state VARCHAR NOT NULL,
		value DOUBLE,
		summary VARCHAR,
		decision VARCHAR,
		seq BIGINT
	);
	CREATE TABLE rejected (
		ts TIMESTAMPTZ NOT NULL,
		source VARCHAR NOT NULL,
		raw VARCHAR,
		reason VARCHAR
	);`,
	// 2: exemplars of a window, [{aggregate, value, trace_id, ts}], linking
	// its results to the traces behind them; NULL when it had none.
	`ALTER TABLE windows ADD COLUMN exemplars JSON;`,
	// 3: raw events moved to segment files (package segment); the events view,
	// created at every Open, reads them and the rows stored before.
	`ALTER TABLE events RENAME TO events_rows;`,
	// 4: events of the window's group stamped more than max_future ahead
	// of the clock, counted instead of folded in; NULL in older rows.
	`ALTER TABLE windows ADD COLUMN future BIGINT;`,
}

// migrate brings the schema up to the newest version, one transaction per
// migration, so a crash leaves the database at a version it can resume from.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
	)`); err != nil {
		return fmt.Errorf("creating schema_version: %w", err)
	}
	var have int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("checking schema version: database is at version %d, this lookout knows only %d", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		if err := applyMigration(ctx, db, v, migrations[v-1]); err != nil {
			return fmt.Errorf("applying migration %d: %w", v, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, version int, stmts string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, stmts); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, version); err != nil {
		return err
	}
	return tx.Commit()
}
