package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ErrRefused is wrapped by Query when a statement is not allowed: more than
// one statement, a statement that is not a read, or one that reaches for
// files, the network or the configuration. The message says which.
var ErrRefused = errors.New("query refused")

// ErrBadQuery is wrapped by Query when DuckDB cannot parse or bind the
// statement (a syntax error, an unknown table or column). Like ErrRefused it
// is the caller's mistake, not the store's.
var ErrBadQuery = errors.New("bad query")

// ErrTooBig is wrapped by Query when DuckDB runs out of its memory for the
// statement: the caller's query needs more than storage.memory_limit.
var ErrTooBig = errors.New("query needs more memory than storage.memory_limit")

// maxQueryLen bounds the text Query accepts; a longer one is refused before
// any parsing.
const maxQueryLen = 64 << 10

// Result is the outcome of Query, shaped for /api/v1/query.
type Result struct {
	Columns []string `json:"columns"`
	// Rows hold values ready for encoding/json: numbers, strings, booleans,
	// nil, times as RFC 3339 strings with milliseconds, lists, objects.
	Rows      [][]any `json:"rows"`
	Truncated bool    `json:"truncated,omitempty"`
	// Types are the columns' DuckDB type names (VARCHAR, DOUBLE,
	// TIMESTAMP WITH TIME ZONE, ...). SQL rules use them to tell a time,
	// which Rows hold as a string, from a label. Not part of the API's JSON.
	Types []string `json:"-"`
}

// firstWords are the statements a query may start with. DuckDB reports
// DESCRIBE, SHOW, SUMMARIZE, VALUES and PRAGMA all as SELECT statements, so
// this list is what keeps out PRAGMA (which can change settings); the
// statement type DuckDB reports is checked as well.
var firstWords = map[string]bool{
	"select": true, "with": true, "values": true, "from": true,
	"describe": true, "show": true, "summarize": true, "explain": true,
}

// deniedFuncs are table and scalar functions that read files or reach the
// network, or run SQL given as a string (which would hide it from these
// checks). The database has external access disabled anyway; refusing them
// here gives a clear message instead of a permission error.
var deniedFuncs = map[string]bool{
	"glob": true, "sniff_csv": true, "query": true, "query_table": true,
	"csv_scan": true, "parquet_scan": true, "json_scan": true,
	"sqlite_scan": true, "sqlite_attach": true, "postgres_scan": true,
	"postgres_attach": true, "mysql_scan": true, "delta_scan": true,
	"iceberg_scan": true, "from_json_file": true, "load_aws_credentials": true,
}

// deniedPrefixes catch whole families: read_csv, read_json_auto,
// read_parquet, read_text, read_blob, read_xlsx, parquet_metadata, ...
var deniedPrefixes = []string{"read_", "parquet_", "iceberg_", "delta_", "postgres_", "mysql_", "sqlite_"}

func refused(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// screen checks a single statement's text before DuckDB sees it: its first
// word, the functions it names and its string literals. It returns the
// offset where the statement under an EXPLAIN starts, or -1.
func screen(q string) (inner int, err error) {
	toks, err := lex(q)
	if err != nil {
		return -1, fmt.Errorf("%w: scanning the statement: %w", ErrBadQuery, err)
	}
	first := -1
	for i, t := range toks {
		if t.kind != 'p' || t.text != "(" {
			first = i
			break
		}
	}
	if first < 0 || toks[first].kind != 'w' {
		return -1, refused("a query must start with SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN")
	}
	if w := toks[first].text; !firstWords[w] {
		return -1, refused("%s statements are not allowed; only SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN are", strings.ToUpper(w))
	}
	for i, t := range toks {
		switch t.kind {
		case 'w', 'q':
			if i+1 < len(toks) && toks[i+1].kind == 'p' && toks[i+1].text == "(" && deniedFunc(t.text) {
				return -1, refused("function %s is not allowed: queries may not read files, reach the network or run SQL from strings", t.text)
			}
		case 's':
			// FROM 'x.csv' or FROM 'https://...' reads a file or a URL by
			// DuckDB's replacement scans. A string elsewhere, a URL one
			// compared with a field say, reaches nothing.
			if i > 0 && toks[i-1].kind == 'w' && (toks[i-1].text == "from" || toks[i-1].text == "join") {
				return -1, refused("reading from a file or URL (%q) is not allowed", t.text)
			}
		}
	}
	inner = -1
	if toks[first].text == "explain" {
		// EXPLAIN [ANALYZE] [(options)] statement: ANALYZE runs the
		// statement, so it gets the same checks.
		j := first + 1
		if j < len(toks) && toks[j].kind == 'w' && (toks[j].text == "analyze" || toks[j].text == "analyse") {
			j++
		}
		if j < len(toks) && toks[j].kind == 'p' && toks[j].text == "(" {
			for j < len(toks) && (toks[j].kind != 'p' || toks[j].text != ")") {
				j++
			}
			j++
		}
		if j >= len(toks) {
			return -1, refused("EXPLAIN needs a statement")
		}
		inner = toks[j].pos
	}
	return inner, nil
}

func deniedFunc(name string) bool {
	if deniedFuncs[name] {
		return true
	}
	for _, p := range deniedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Query runs one read-only statement and returns at most Options.MaxRows
// rows of it. Refused statements fail with an error wrapping ErrRefused,
// statements DuckDB cannot parse or bind with one wrapping ErrBadQuery, and a
// query running past Options.QueryTimeout is cancelled with an error wrapping
// context.DeadlineExceeded.
//
// The checks, in order: DuckDB's parser must find exactly one statement; its
// text must start with a reading keyword and name no file or network
// function; DuckDB must classify it as SELECT or EXPLAIN (of a SELECT) when
// preparing it; and it runs in a read-only transaction on a connection that
// is not the writer's, in a database whose external access is off.
func (s *Store) Query(ctx context.Context, q string) (*Result, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var res *Result
	truncated, err := s.Stream(ctx, q, 0, func(cols, types []string) error {
		res = &Result{Columns: cols, Rows: [][]any{}, Types: types}
		return nil
	}, func(row []any) (bool, error) {
		res.Rows = append(res.Rows, slices.Clone(row))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	res.Truncated = truncated
	return res, nil
}

// checkQuery runs every check of Query on q except running it, and returns
// the connection it prepared q on (the caller closes it) and q trimmed.
func checkQuery(ctx context.Context, db *sql.DB, p *parser, q string) (*sql.Conn, string, error) {
	q = strings.TrimSpace(q)
	switch {
	case q == "":
		return nil, "", refused("empty query")
	case len(q) > maxQueryLen:
		return nil, "", refused("query longer than %d bytes", maxQueryLen)
	case !utf8.ValidString(q):
		return nil, "", refused("query is not valid UTF-8")
	}
	// The text screen comes first: it refuses most things with the
	// clearest message and keeps them away from even the parser.
	inner, err := screen(q)
	if err != nil {
		return nil, "", err
	}
	if inner >= 0 {
		if _, err := screen(q[inner:]); err != nil {
			return nil, "", err
		}
	}
	n, err := p.count(q)
	if err != nil {
		return nil, "", fmt.Errorf("%w: splitting the statements: %w", ErrBadQuery, err)
	}
	if n != 1 {
		return nil, "", refused("only one statement is allowed, found %d", n)
	}

	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("getting a query connection: %w", err)
	}
	// The allow-list of functions comes before binding, which already runs
	// part of a table function.
	pol, err := p.policy(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, "", err
	}
	stmt := q
	if inner >= 0 {
		stmt = q[inner:] // EXPLAIN itself has no syntax tree to walk
	}
	if err := pol.check(ctx, conn, stmt); err != nil {
		if errors.Is(err, errNotSerializable) {
			// Not a SELECT: the type check refuses it by name.
			if terr := checkType(ctx, conn, stmt, false); terr != nil {
				err = terr
			} else {
				err = refused("%v", err)
			}
		}
		conn.Close()
		return nil, "", err
	}
	if err := checkType(ctx, conn, q, true); err != nil {
		conn.Close()
		return nil, "", err
	}
	if inner >= 0 {
		if err := checkType(ctx, conn, q[inner:], false); err != nil {
			conn.Close()
			return nil, "", err
		}
	}
	return conn, q, nil
}

// checkType prepares q, which binds it without running it (the text holds one
// statement, so the driver executes nothing), and refuses it unless DuckDB
// says it is a SELECT, or an EXPLAIN when explainOK.
func checkType(ctx context.Context, conn *sql.Conn, q string, explainOK bool) error {
	var typ duckdb.StmtType
	err := conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("driver connection cannot prepare")
		}
		st, err := pc.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		ds, ok := st.(*duckdb.Stmt)
		if !ok {
			return errors.New("driver statement is not a DuckDB statement")
		}
		typ, err = ds.StatementType()
		return err
	})
	if err != nil {
		return classify(ctx, "preparing query", err)
	}
	switch typ {
	case duckdb.STATEMENT_TYPE_SELECT:
		return nil
	case duckdb.STATEMENT_TYPE_EXPLAIN:
		if explainOK {
			return nil
		}
	}
	return refused("%s statements are not allowed; only reads are", stmtTypeName(typ))
}

// Stream runs q like Query but hands the rows to emit one at a time, as
// they are read, instead of collecting them: begin gets the columns and
// their DuckDB types once the statement runs, then emit each row (values as
// in Result.Rows; the slice is reused, so emit must not keep it). emit
// returning false refuses that row and stops the query there, truncated. At
// most Options.MaxRows rows are emitted; truncated says the statement had
// more. The query's deadline
// (Options.QueryTimeout) covers begin and emit, so a caller encoding the
// rows for a slow client is cut off with the query.
//
// With maxBytes > 0 the rows are also bounded inside DuckDB: DuckDB hands
// over a result only once all of it is made, outside its memory limit, so
// a cap applied while encoding would come after the memory is spent. The
// statement is wrapped to stop at the first row whose JSON, added to the
// rows before it, passes maxBytes (a running sum, which DuckDB computes
// streaming, keeping the statement's order); that row ends the answer as
// truncated.
func (s *Store) Stream(ctx context.Context, q string, maxBytes int64, begin func(cols, types []string) error, emit func(row []any) (bool, error)) (truncated bool, err error) {
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	conn, q, err := checkQuery(ctx, s.db, s.parser, q)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if maxBytes <= 0 {
		return s.runReadOnly(ctx, conn, q, 0, begin, emit)
	}
	wrapped, names, types, err := boundBytes(ctx, conn, q, maxBytes)
	if err != nil {
		return false, err
	}
	if wrapped == "" {
		return s.runReadOnly(ctx, conn, q, 0, begin, emit)
	}
	// The wrapped statement's columns are renamed; the caller gets the
	// statement's own.
	named := func(_, _ []string) error { return begin(names, types) }
	return s.runReadOnly(ctx, conn, wrapped, maxBytes, named, emit)
}

// boundBytes wraps a SELECT (or WITH, FROM, VALUES) so that it ends after
// the row whose size, added to the rows before it, passes maxBytes; it adds
// the columns __lookout_len and __lookout_sum, which runReadOnly takes off
// again. A row's size is its JSON's, estimated without copying a string:
// the length of text and blobs, the text of nested values, 24 bytes for a
// number or time. Other statements (DESCRIBE, SHOW, SUMMARIZE, EXPLAIN:
// small answers) are not wrapped. The statement's columns are renamed
// positionally (they may repeat a name), so the caller gets the names and
// types from DESCRIBE. The statement goes on lines of its own, so a
// trailing -- comment ends before the closing parenthesis, and without
// trailing semicolons.
func boundBytes(ctx context.Context, conn *sql.Conn, q string, maxBytes int64) (wrapped string, names, types []string, err error) {
	toks, err := lex(q)
	if err != nil || len(toks) == 0 {
		return "", nil, nil, nil
	}
	first := 0
	for first < len(toks) && toks[first].kind == 'p' && toks[first].text == "(" {
		first++
	}
	if first == len(toks) || toks[first].kind != 'w' {
		return "", nil, nil, nil
	}
	switch toks[first].text {
	case "select", "with", "from", "values":
	default:
		return "", nil, nil, nil
	}
	end := len(toks)
	for end > 0 && toks[end-1].kind == 'p' && toks[end-1].text == ";" {
		end--
	}
	body := q
	if end < len(toks) {
		body = q[:toks[end].pos]
	}
	rows, err := conn.QueryContext(ctx, "DESCRIBE\n"+body+"\n")
	if err != nil {
		return "", nil, nil, classify(ctx, "describing query", err)
	}
	defer rows.Close()
	rcols, err := rows.Columns()
	if err != nil {
		return "", nil, nil, fmt.Errorf("describing query: %w", err)
	}
	for rows.Next() {
		vals := make([]any, len(rcols))
		ptrs := make([]any, len(rcols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", nil, nil, classify(ctx, "describing query", err)
		}
		names = append(names, fmt.Sprint(vals[0]))
		types = append(types, fmt.Sprint(vals[1]))
	}
	if err := rows.Err(); err != nil {
		return "", nil, nil, classify(ctx, "describing query", err)
	}
	if len(names) == 0 {
		return "", nil, nil, nil
	}
	alias := make([]string, len(names))
	size := make([]string, len(names))
	for i, t := range types {
		c := fmt.Sprintf(`"__lookout_c%d"`, i)
		alias[i] = c
		switch {
		case t == "VARCHAR":
			size[i] = "coalesce(strlen(" + c + ") + 3, 5)"
		case t == "BLOB":
			size[i] = "coalesce(octet_length(" + c + ") + 3, 5)"
		case strings.ContainsAny(t, "[(") || t == "JSON" || t == "MAP":
			size[i] = "coalesce(strlen(CAST(" + c + " AS VARCHAR)) + 1, 5)"
		default:
			size[i] = "24"
		}
	}
	return fmt.Sprintf(`SELECT * FROM (
	SELECT *, sum(__lookout_len) OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS __lookout_sum
	FROM (SELECT *, %s AS __lookout_len FROM (
%s
) AS __lookout_q(%s))
) WHERE __lookout_sum - __lookout_len <= %d`, strings.Join(size, " + "), body, strings.Join(alias, ", "), maxBytes), names, types, nil
}

// runReadOnly runs q inside a read-only transaction, so that even a
// statement that got past the checks cannot change the database.
//
// With maxBytes > 0, q is a statement wrapped by boundBytes: its two last
// columns are taken off, and a row whose running sum passes maxBytes ends it
// as truncated.
func (s *Store) runReadOnly(ctx context.Context, conn *sql.Conn, q string, maxBytes int64, begin func(cols, types []string) error, emit func(row []any) (bool, error)) (truncated bool, err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION READ ONLY"); err != nil {
		return false, classify(ctx, "starting read-only transaction", err)
	}
	defer func() {
		// The query's context may be done; the rollback must still happen
		// or the pooled connection would stay inside the transaction.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(rctx, "ROLLBACK"); err != nil {
			s.log.Warn("discarding query connection", "err", err)
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()

	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return false, classify(ctx, "running query", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return false, fmt.Errorf("reading query columns: %w", err)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return false, fmt.Errorf("reading query column types: %w", err)
	}
	typeNames := make([]string, len(types))
	for i, t := range types {
		typeNames[i] = t.DatabaseTypeName()
	}
	user := len(cols) // the statement's own columns
	if maxBytes > 0 {
		user -= 2
	}
	if err := begin(cols[:user], typeNames[:user]); err != nil {
		return false, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	row := make([]any, user)
	n := 0
	for rows.Next() {
		if n == s.opts.MaxRows {
			truncated = true
			break
		}
		if err := rows.Scan(ptrs...); err != nil {
			return false, classify(ctx, "reading query row", err)
		}
		if maxBytes > 0 {
			if runningSum(vals[user+1]) > maxBytes {
				return true, nil
			}
		}
		for i, v := range vals[:user] {
			// The driver scans a UUID as its 16 raw bytes, which only
			// the column type tells apart from a BLOB.
			if b, ok := v.([]byte); ok && len(b) == 16 && typeNames[i] == "UUID" {
				var u duckdb.UUID
				copy(u[:], b)
				v = &u
			}
			row[i] = jsonValue(v)
		}
		n++
		more, err := emit(row)
		if err != nil {
			return false, err
		}
		if !more {
			return true, nil
		}
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("reading query rows: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return false, classify(ctx, "reading query rows", err)
	}
	return truncated, nil
}

// runningSum reads boundBytes' __lookout_sum, a HUGEINT.
func runningSum(v any) int64 {
	switch v := v.(type) {
	case *big.Int:
		if v.IsInt64() {
			return v.Int64()
		}
		return math.MaxInt64
	case int64:
		return v
	case float64:
		return int64(v)
	}
	return 0
}

// classify wraps a DuckDB error for the caller: a timeout or cancellation as
// the context's error, a permission error (external access is off) as
// ErrRefused, a parse or bind error as ErrBadQuery.
func classify(ctx context.Context, doing string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w (%w)", doing, ctxErr, err)
	}
	var de *duckdb.Error
	if errors.As(err, &de) {
		switch de.Type {
		case duckdb.ErrorTypeOutOfMemory:
			// DuckDB's own advice is to SET memory_limit or threads,
			// which a query may not; the config is where it is set.
			msg, _, _ := strings.Cut(de.Msg, "Possible solutions")
			return fmt.Errorf("%w: %s: %w; raise storage.memory_limit in the config, or make the query need less (fewer rows or columns, a LIMIT, no big lists or sorts)",
				ErrTooBig, doing, retold{strings.TrimSpace(msg), de})
		case duckdb.ErrorTypePermission:
			return fmt.Errorf("%w: %s: %w", ErrRefused, doing, de)
		case duckdb.ErrorTypeParser, duckdb.ErrorTypeBinder, duckdb.ErrorTypeCatalog,
			duckdb.ErrorTypeConversion, duckdb.ErrorTypeInvalidInput, duckdb.ErrorTypeOutOfRange,
			duckdb.ErrorTypeDivideByZero, duckdb.ErrorTypeMismatchType:
			return fmt.Errorf("%w: %s: %w", ErrBadQuery, doing, de)
		}
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// retold is a driver error told in other words (without advice that does not
// apply to lookout) that still unwraps to the driver's error.
type retold struct {
	msg string
	err error
}

func (e retold) Error() string { return e.msg }
func (e retold) Unwrap() error { return e.err }

func stmtTypeName(t duckdb.StmtType) string {
	names := map[duckdb.StmtType]string{
		duckdb.STATEMENT_TYPE_INSERT: "INSERT", duckdb.STATEMENT_TYPE_UPDATE: "UPDATE",
		duckdb.STATEMENT_TYPE_DELETE: "DELETE", duckdb.STATEMENT_TYPE_PREPARE: "PREPARE",
		duckdb.STATEMENT_TYPE_CREATE: "CREATE", duckdb.STATEMENT_TYPE_EXECUTE: "EXECUTE",
		duckdb.STATEMENT_TYPE_ALTER: "ALTER", duckdb.STATEMENT_TYPE_TRANSACTION: "transaction",
		duckdb.STATEMENT_TYPE_COPY: "COPY", duckdb.STATEMENT_TYPE_ANALYZE: "ANALYZE",
		duckdb.STATEMENT_TYPE_VARIABLE_SET: "SET VARIABLE", duckdb.STATEMENT_TYPE_CREATE_FUNC: "CREATE FUNCTION",
		duckdb.STATEMENT_TYPE_DROP: "DROP", duckdb.STATEMENT_TYPE_EXPORT: "EXPORT",
		duckdb.STATEMENT_TYPE_PRAGMA: "PRAGMA", duckdb.STATEMENT_TYPE_VACUUM: "VACUUM",
		duckdb.STATEMENT_TYPE_CALL: "CALL", duckdb.STATEMENT_TYPE_SET: "SET",
		duckdb.STATEMENT_TYPE_LOAD: "LOAD/INSTALL", duckdb.STATEMENT_TYPE_EXTENSION: "extension",
		duckdb.STATEMENT_TYPE_ATTACH: "ATTACH", duckdb.STATEMENT_TYPE_DETACH: "DETACH",
		duckdb.STATEMENT_TYPE_EXPLAIN: "EXPLAIN of EXPLAIN", duckdb.STATEMENT_TYPE_MULTI: "multi",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("type-%d", t)
}

// timeLayout is RFC 3339 with milliseconds, as CONTRACT.md asks of times.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// jsonValue turns a value scanned from DuckDB into one encoding/json writes
// the way a user expects: NaN and infinities (which it cannot encode) become
// null, times RFC 3339 strings, big integers numbers, nested values likewise.
func jsonValue(v any) any {
	switch v := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, int, uint8, uint16, uint32, uint64:
		return v
	case float32:
		return finite(float64(v))
	case float64:
		return finite(v)
	case time.Time:
		return v.UTC().Format(timeLayout)
	case []byte:
		return validString(v)
	case *big.Int:
		if v == nil {
			return nil
		}
		if v.IsInt64() {
			return v.Int64()
		}
		f, _ := new(big.Float).SetInt(v).Float64()
		return f
	case duckdb.Decimal:
		return finite(v.Float64())
	case duckdb.UUID:
		return v.String()
	case *duckdb.UUID:
		if v == nil {
			return nil
		}
		return v.String()
	case duckdb.Interval:
		return v
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonValue(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = jsonValue(x)
		}
		return out
	case duckdb.Map:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[fmt.Sprint(jsonValue(k))] = jsonValue(x)
		}
		return out
	case duckdb.OrderedMap:
		out := make(map[string]any, v.Len())
		keys, vals := v.Keys(), v.Values()
		for i := range keys {
			out[fmt.Sprint(jsonValue(keys[i]))] = jsonValue(vals[i])
		}
		return out
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

func finite(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}
