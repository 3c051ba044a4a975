package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The allow-list of what a read query may call. The text screen of Query
// refuses the known file and network functions by name, but a name list
// cannot keep up with DuckDB: a table function that runs SQL given as data
// (json_execute_serialized_sql of json_serialize_sql('…')) hides the inner
// query from any screen of the text. So the statement is also parsed by
// DuckDB itself, into its syntax tree as JSON, and every function the tree
// names must be on the list below; anything else is refused before the
// statement is even bound (binding a table function already runs part of
// it: read_blob lists a directory while binding).

// allowedTableFuncs are the table functions a query may use: generators and
// the read-only catalog listings. Every other one (read_*, glob, query,
// checkpoint, json_execute_serialized_sql, …) is refused, as is any that a
// future DuckDB adds until it is listed here.
var allowedTableFuncs = map[string]bool{
	"range": true, "generate_series": true, "unnest": true, "repeat": true, "repeat_row": true,
	"json_each": true, "json_tree": true,
	"duckdb_columns": true, "duckdb_constraints": true, "duckdb_databases": true, "duckdb_functions": true,
	"duckdb_indexes": true, "duckdb_keywords": true, "duckdb_schemas": true, "duckdb_tables": true,
	"duckdb_types": true, "duckdb_views": true, "duckdb_settings": true,
	"pragma_table_info": true, "pragma_version": true, "pg_timezone_names": true, "icu_calendar_names": true,
}

// sideEffectsOK are catalog functions DuckDB marks as having side effects
// that only produce values: random numbers, uuids, error(). The others so
// marked (nextval, setseed, sleep_ms, write_log, …) change state or stall.
var sideEffectsOK = map[string]bool{
	"random": true, "uuid": true, "gen_random_uuid": true, "uuidv4": true, "uuidv7": true, "error": true,
}

// runsSQL are scalar functions that turn SQL text into a syntax tree or back;
// with them a query could assemble another one out of strings.
var runsSQL = map[string]bool{
	"json_serialize_sql": true, "json_deserialize_sql": true, "json_serialize_plan": true,
}

// errNotSerializable: DuckDB has no syntax tree for the statement, which it
// gives only for SELECT; the statement type check then says what it is.
var errNotSerializable = errors.New("statement cannot be parsed into a syntax tree")

// policy is the allow-list as it applies to one database: its scalar,
// aggregate and macro functions (values only: no side effects, no SQL from
// strings), the table functions above, and lookout's own table macros.
type policy struct {
	scalar map[string]bool // allowed scalar, aggregate and macro functions
	table  map[string]bool // allowed table functions and table macros
	known  map[string]bool // every function of the catalog, allowed or not
}

// loadPolicy reads the function catalog of the database conn belongs to.
func loadPolicy(ctx context.Context, conn *sql.Conn) (*policy, error) {
	rows, err := conn.QueryContext(ctx, `SELECT function_name, function_type, has_side_effects, internal
		FROM duckdb_functions()`)
	if err != nil {
		return nil, fmt.Errorf("listing the database's functions: %w", err)
	}
	defer rows.Close()
	p := &policy{scalar: map[string]bool{}, table: map[string]bool{}, known: map[string]bool{}}
	denied := map[string]bool{}
	for rows.Next() {
		var name, typ string
		var side, internal sql.NullBool
		if err := rows.Scan(&name, &typ, &side, &internal); err != nil {
			return nil, fmt.Errorf("reading the database's functions: %w", err)
		}
		name = strings.ToLower(name)
		p.known[name] = true
		switch typ {
		case "scalar", "aggregate", "macro":
			if runsSQL[name] || side.Bool && !sideEffectsOK[name] {
				denied[name] = true
			} else {
				p.scalar[name] = true
			}
		case "table":
			if allowedTableFuncs[name] {
				p.table[name] = true
			}
		case "table_macro":
			// lookout's helpers (docs/sql.md), not DuckDB's own.
			if !internal.Bool {
				p.table[name] = true
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the database's functions: %w", err)
	}
	// A name with one overload that is denied is denied in every form.
	for name := range denied {
		delete(p.scalar, name)
	}
	return p, nil
}

// check parses q with DuckDB on conn and refuses it unless every function it
// calls is allowed and no table it reads names a file.
func (p *policy) check(ctx context.Context, conn *sql.Conn, q string) error {
	var tree string
	err := conn.QueryRowContext(ctx, "SELECT CAST(json_serialize_sql(CAST($1 AS VARCHAR)) AS VARCHAR)", q).Scan(&tree)
	if err != nil {
		return classify(ctx, "parsing query", err)
	}
	var doc any
	d := json.NewDecoder(strings.NewReader(tree))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return fmt.Errorf("reading the parsed query: %w", err)
	}
	top, _ := doc.(map[string]any)
	if top == nil {
		return fmt.Errorf("reading the parsed query: not an object")
	}
	if e, _ := top["error"].(bool); e {
		msg, _ := top["error_message"].(string)
		if typ, _ := top["error_type"].(string); typ == "parser" {
			return fmt.Errorf("%w: %s", ErrBadQuery, msg)
		}
		return fmt.Errorf("%w: %s", errNotSerializable, msg)
	}
	return p.walk(top, false)
}

// walk visits every node of a parsed statement. inTable says the node is
// the function of a TABLE_FUNCTION reference.
func (p *policy) walk(n any, inTable bool) error {
	switch n := n.(type) {
	case []any:
		for _, x := range n {
			if err := p.walk(x, false); err != nil {
				return err
			}
		}
	case map[string]any:
		class, _ := n["class"].(string)
		typ, _ := n["type"].(string)
		if name, ok := n["function_name"].(string); ok && (class == "FUNCTION" || class == "WINDOW") {
			if err := p.allow(strings.ToLower(name), inTable, class, typ); err != nil {
				return err
			}
		}
		switch typ {
		case "BASE_TABLE", "SHOW_REF":
			if name, _ := n["table_name"].(string); looksLikeFile(name) {
				return refused("reading from a file or URL (%q) is not allowed", name)
			}
		}
		for k, v := range n {
			if err := p.walk(v, typ == "TABLE_FUNCTION" && k == "function"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *policy) allow(name string, table bool, class, typ string) error {
	switch {
	case table:
		if p.table[name] {
			return nil
		}
		if p.known[name] {
			return refused("table function %s is not allowed: a query may read lookout's tables, generate rows (range, unnest, …) and list the catalog, but not read files, reach the network, change state or run SQL from strings", name)
		}
		return fmt.Errorf("%w: table function %s does not exist", ErrBadQuery, name)
	case class == "WINDOW" && typ != "WINDOW_AGGREGATE":
		// row_number(), lag(), … are part of the window syntax itself.
		return nil
	case p.scalar[name]:
		return nil
	case p.known[name] || p.table[name]:
		return refused("function %s is not allowed: it changes state, runs SQL from strings or is a table function", name)
	}
	return fmt.Errorf("%w: function %s does not exist", ErrBadQuery, name)
}

// looksLikeFile says whether a table name is one DuckDB would read as a file
// (a replacement scan: 'x.csv', "/etc/passwd", 'https://…'). Lookout's
// tables and views have plain names.
func looksLikeFile(name string) bool {
	name = strings.Trim(name, `"`)
	return strings.ContainsAny(name, `./\:`)
}
