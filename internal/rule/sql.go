package rule

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// QueryResult is what a QueryFunc returns: the shape of the store's
// read-only query result, declared here so that rule does not import store.
type QueryResult struct {
	Columns []string
	// Types are the columns' database type names (TIMESTAMP WITH TIME ZONE,
	// VARCHAR, DOUBLE, ...), when known. They tell a time, which the store
	// hands over as an RFC 3339 string, from a label.
	Types []string
	// Rows hold strings, numbers (any Go integer or float type, *big.Int),
	// booleans, nil, and map[string]any for JSON objects.
	Rows [][]any
	// Truncated is set when rows were left out by a row limit.
	Truncated bool
}

// QueryFunc runs one read-only SQL statement. It must honour ctx's deadline.
// It is called from the SQL rule goroutines, possibly concurrently.
type QueryFunc func(ctx context.Context, sql string) (*QueryResult, error)

// StateError is recorded (with the error in Decision) when an SQL rule's
// query fails. The rule's alert instances are left as they were: a failed
// query says nothing about whether its rows would be there.
const StateError event.AlertState = "error"

// DefaultSQLTimeout is an SQL rule's `timeout` when it sets none, unless its
// `every` is 10s or less: then the default is half of `every`.
const DefaultSQLTimeout = 10 * time.Second

// sqlRule is one compiled SQL rule. It reuses compiled for its config,
// summary template and `for` logic; its prog and names are unused.
type sqlRule struct {
	c       *compiled
	timeout time.Duration
	// mu keeps two evaluations of the rule from interleaving (a test or a
	// manual EvaluateSQL while the scheduler runs it).
	mu sync.Mutex
}

// compileSQLRule checks an SQL rule: its summary template, its timeout and,
// when check is given, its statement.
func compileSQLRule(i int, r config.Rule, check func(context.Context, string) error) (*sqlRule, []error) {
	var errs []error
	fail := func(path string, err error) {
		errs = append(errs, &CompileError{Index: i, Rule: r.Name, Path: path, Err: err})
	}
	sr := &sqlRule{c: &compiled{index: i, cfg: r}, timeout: r.Timeout.D()}
	if sr.timeout <= 0 {
		sr.timeout = DefaultSQLTimeout
		if r.Every > 0 && r.Every.D() <= DefaultSQLTimeout {
			sr.timeout = r.Every.D() / 2
		}
	} else if r.Every > 0 && sr.timeout >= r.Every.D() {
		fail("timeout", fmt.Errorf("timeout %s must be shorter than every %s", r.Timeout.D(), r.Every.D()))
	}
	tmpl, err := template.New(r.Name).Option("missingkey=default").Parse(r.Summary)
	if err != nil {
		fail("summary", err)
	}
	sr.c.summary = tmpl
	if check != nil && strings.TrimSpace(r.SQL) != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := check(ctx, r.SQL); err != nil {
			fail("sql", err)
		}
	}
	return sr, errs
}

// SQLRules returns the names of the SQL rules, in config order.
func (e *Engine) SQLRules() []string {
	out := make([]string, len(e.sql))
	for i, r := range e.sql {
		out[i] = r.c.cfg.Name
	}
	return out
}

// RunSQL evaluates every SQL rule every `every`, each on its own goroutine,
// until ctx is done; then it waits for them and returns. The first
// evaluation of each rule is one `every` after the start, so that windows of
// the first interval are stored before they are judged. A slow query delays
// only its own rule's next evaluation (ticks missed meanwhile are dropped),
// never ingest: queries run on the store's read connections.
func (e *Engine) RunSQL(ctx context.Context) {
	var wg sync.WaitGroup
	for _, r := range e.sql {
		if r.c.cfg.Every <= 0 {
			// Config validation requires every; without it the rule only
			// runs through EvaluateSQL.
			continue
		}
		wg.Go(func() {
			t := time.NewTicker(r.c.cfg.Every.D())
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					// The error is logged and recorded by EvaluateSQL.
					_ = e.EvaluateSQL(ctx, r.c.cfg.Name)
				}
			}
		})
	}
	wg.Wait()
}

// EvaluateSQL runs the SQL rule called name once, now (by the Engine's
// clock), and acts on the outcome as OnWindow does for a window: each row
// returned is an alert instance whose condition holds; each instance of the
// rule that returned no row this time is one whose condition does not.
//
// Columns become the instance's group labels (string and boolean columns,
// and each key of a JSON object column) and values (numeric columns): the
// column named value, else the first numeric one, is the alert's Value;
// the summary template sees labels and values by name. Time columns are
// neither. Two rows with the same labels are one instance (the first wins).
//
// A query error (or a timeout, the rule's `timeout`) is logged with the
// rule, recorded as a StateError transition and returned; the instances stay
// as they were. When the result was truncated by the store's row limit,
// instances missing from it are kept rather than resolved.
func (e *Engine) EvaluateSQL(ctx context.Context, name string) error {
	var r *sqlRule
	for _, x := range e.sql {
		if x.c.cfg.Name == name {
			r = x
		}
	}
	if r == nil {
		return fmt.Errorf("evaluating SQL rule %s: no such SQL rule", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()

	at := e.clock.Now()
	res, err := e.runQuery(ctx, r)
	if err != nil {
		err = fmt.Errorf("evaluating SQL rule %s: %w", name, err)
		e.log.Error("evaluating sql rule", "rule", name, "err", err)
		if e.record != nil {
			e.record(event.Transition{Time: at, Rule: name, State: StateError, Decision: "query failed: " + err.Error()})
		}
		return err
	}

	c := r.c
	seen := make(map[string]bool, len(res.Rows))
	for _, row := range res.Rows {
		group, vals, value := rowObservation(res, row)
		fp := Fingerprint(name, group)
		if seen[fp] {
			e.warnOnce(c, "sql rule returned two rows with the same labels; keeping the first", "labels", group)
			continue
		}
		seen[fp] = true
		e.step(c, fp, group, true, at, func(a *event.Alert) {
			a.Value = value
			a.Summary = renderData(c, a.Labels, vals)
		})
	}
	if res.Truncated {
		e.warnOnce(c, "sql rule result was truncated by the row limit; instances missing from it are kept")
		return nil
	}
	for _, fp := range e.fingerprintsOf(name) {
		if !seen[fp] {
			e.step(c, fp, nil, false, at, nil)
		}
	}
	return nil
}

func (e *Engine) runQuery(ctx context.Context, r *sqlRule) (*QueryResult, error) {
	if e.query == nil {
		return nil, errors.New("no query function: SQL rules need Options.Query")
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := e.query(ctx, r.c.cfg.SQL)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return &QueryResult{}, nil
	}
	return res, nil
}

// fingerprintsOf lists the current instances of a rule.
func (e *Engine) fingerprintsOf(rule string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for fp, in := range e.alerts {
		if in.a.Rule == rule {
			out = append(out, fp)
		}
	}
	return out
}

// rowObservation splits one result row into group labels and values, and
// picks the alert's value.
func rowObservation(res *QueryResult, row []any) (group map[string]string, vals map[string]float64, value float64) {
	group = map[string]string{}
	vals = map[string]float64{}
	explicit := map[string]string{}
	valueCol, firstNum := -1, -1
	for i, name := range res.Columns {
		if i >= len(row) {
			break
		}
		typ := ""
		if i < len(res.Types) {
			typ = strings.ToUpper(res.Types[i])
		}
		if isTimeType(typ) {
			continue
		}
		switch v := row[i].(type) {
		case nil:
			if isNumericType(typ) {
				vals[name] = math.NaN()
				if name == "value" {
					valueCol = i
				} else if firstNum < 0 {
					firstNum = i
				}
			}
		case string:
			explicit[name] = v
		case bool:
			explicit[name] = strconv.FormatBool(v)
		case map[string]any:
			// A JSON object, such as the helpers' grp: each key is a label.
			for k, x := range v {
				if s, ok := labelString(x); ok {
					group[k] = s
				}
			}
		default:
			f, ok := toNumber(v)
			if !ok {
				continue
			}
			vals[name] = f
			if name == "value" {
				valueCol = i
			} else if firstNum < 0 {
				firstNum = i
			}
		}
	}
	// Named string columns win over keys of JSON objects.
	maps.Copy(group, explicit)
	switch {
	case valueCol >= 0:
		value = vals[res.Columns[valueCol]]
	case firstNum >= 0:
		value = vals[res.Columns[firstNum]]
	}
	return group, vals, value
}

func isTimeType(t string) bool {
	return strings.HasPrefix(t, "TIMESTAMP") || strings.HasPrefix(t, "DATE") ||
		strings.HasPrefix(t, "TIME") || t == "INTERVAL"
}

func isNumericType(t string) bool {
	switch {
	case strings.Contains(t, "INT"), strings.HasPrefix(t, "DOUBLE"), strings.HasPrefix(t, "FLOAT"),
		strings.HasPrefix(t, "DECIMAL"), strings.HasPrefix(t, "REAL"), strings.HasPrefix(t, "NUMERIC"):
		return !strings.HasPrefix(t, "INTERVAL")
	}
	return false
}

func toNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case *big.Int:
		if n == nil {
			return 0, false
		}
		f, _ := new(big.Float).SetInt(n).Float64()
		return f, true
	}
	return 0, false
}

// labelString turns a JSON value into a label value; null and nested values
// are not labels.
func labelString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	}
	if f, ok := toNumber(v); ok {
		return strconv.FormatFloat(f, 'g', -1, 64), true
	}
	return "", false
}

// renderData is render for an SQL row: the summary over the labels and the
// values by name (values win on a clash).
func renderData(c *compiled, labels map[string]string, vals map[string]float64) string {
	if c.cfg.Summary == "" {
		return ""
	}
	data := make(map[string]any, len(labels)+len(vals))
	for k, v := range labels {
		data[k] = v
	}
	for k, v := range vals {
		data[k] = v
	}
	var b strings.Builder
	if err := c.summary.Execute(&b, data); err != nil {
		return c.cfg.Summary + " (summary template error: " + err.Error() + ")"
	}
	return b.String()
}
