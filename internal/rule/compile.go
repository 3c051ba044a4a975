package rule

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"

	"github.com/lookout-dev/lookout/internal/config"
	"github.com/lookout-dev/lookout/internal/event"
)

// CompileError is a rule that could not be compiled. Index is the rule's index
// in the config's rules list, Rule its name and Path the key at fault, e.g.
// "when" or "summary".
type CompileError struct {
	Index int
	Rule  string
	Path  string
	Err   error
}

// Error reads like the config's own errors: rules[0].when: ....
func (e *CompileError) Error() string {
	return fmt.Sprintf("rules[%d].%s (rule %s): %v", e.Index, e.Path, e.Rule, e.Err)
}

// Unwrap returns the underlying error, e.g. expr's *file.Error with the
// line and column inside the expression.
func (e *CompileError) Unwrap() error { return e.Err }

// compiled is one `when` rule ready to evaluate.
type compiled struct {
	index   int
	cfg     config.Rule
	prog    *vm.Program
	names   []string // identifiers `when` reads from the window, in source order
	summary *template.Template

	// warned makes the engine log a broken evaluation once per rule instead
	// of once per window.
	warned atomic.Bool

	// noData is the rule's missing-data policy (nil for SQL rules).
	noData *noData
	// parent is the rule a <Rule>NoData pseudo-rule reports on; nil for
	// the rules of the config.
	parent *compiled
	// groupBy is the pipeline's group_by when New was given the pipelines
	// (non-nil then), to recover a restored alert's group from its labels.
	groupBy []string
}

// needed returns how many consecutive windows fire the rule, or 0 when its
// `for` is a duration.
func (c *compiled) needed() int {
	if c.cfg.For.Duration > 0 {
		return 0
	}
	return max(1, c.cfg.For.Count)
}

// ready reports whether an instance pending since `since` with `consecutive`
// true windows fires at a window ending at end.
func (c *compiled) ready(consecutive int, since, end time.Time) bool {
	if d := c.cfg.For.Duration; d > 0 {
		return end.Sub(since) >= d
	}
	return consecutive >= c.needed()
}

// grouping is what the rule's alerts carry for the dispatcher's batching.
func (c *compiled) grouping() event.Grouping {
	if c.cfg.GroupWait <= 0 && c.cfg.GroupInterval <= 0 {
		return event.Grouping{}
	}
	return event.Grouping{By: c.cfg.GroupBy, Wait: c.cfg.GroupWait.D(), Interval: c.cfg.GroupInterval.D()}
}

// holdResolve returns why a firing alert whose condition turned false keeps
// firing at at (keep_firing_for or resolve_after not yet passed), or "" when
// it resolves. a.LastActive is the last observation with the condition true
// and a.Clean counts the false ones since, this one included. The reason
// names the rule's settings only, so it is recorded once per send however
// often the input flaps.
func (c *compiled) holdResolve(a event.Alert, at time.Time) string {
	k, n := c.cfg.KeepFiringFor.D(), c.cfg.ResolveAfter
	keep := k > 0 && !a.LastActive.IsZero() && at.Sub(a.LastActive) < k
	if !keep && (n <= 1 || a.Clean >= n) {
		return ""
	}
	var why []string
	if k > 0 {
		why = append(why, "keep_firing_for "+k.String())
	}
	if n > 1 {
		why = append(why, fmt.Sprintf("resolve_after %d", n))
	}
	return strings.Join(why, ", ")
}

// neFunc is what `a != b` is rewritten to, so that NaN != x is false like
// every other comparison with NaN.
const neFunc = "__lookout_ne"

// compileRule compiles one rule. pipe is the rule's pipeline when the caller
// gave the pipelines (typed checking), nil otherwise.
func compileRule(i int, r config.Rule, pipe *config.Pipeline, threshold func(string) (float64, bool)) (*compiled, []error) {
	var errs []error
	fail := func(path string, err error) {
		errs = append(errs, &CompileError{Index: i, Rule: r.Name, Path: path, Err: err})
	}
	c := &compiled{index: i, cfg: r}

	if strings.TrimSpace(r.When) == "" {
		fail("when", errors.New("a rule needs `when` (or `sql`)"))
	} else {
		// Compile once as written, for the errors (the != rewrite would hide
		// a mismatch like `service != 1`), then again with the rewrite to run.
		_, err := expr.Compile(r.When, exprOptions(pipe, threshold, false)...)
		if err == nil {
			c.prog, err = expr.Compile(r.When, exprOptions(pipe, threshold, true)...)
		}
		if err != nil {
			fail("when", err)
		} else {
			c.names = readNames(c.prog)
		}
	}

	tmpl, err := template.New(r.Name).Option("missingkey=default").Parse(r.Summary)
	if err != nil {
		fail("summary", err)
	}
	c.summary = tmpl
	return c, errs
}

// exprOptions builds the expr environment of a rule.
func exprOptions(pipe *config.Pipeline, threshold func(string) (float64, bool), rewriteNE bool) []expr.Option {
	env := map[string]any{}
	opts := []expr.Option{
		expr.AsBool(),
		expr.Function("threshold", func(p ...any) (any, error) {
			name, _ := p[0].(string)
			if threshold != nil {
				if v, ok := threshold(name); ok {
					return v, nil
				}
			}
			return toFloat(p[1])
		}, new(func(string, float64) float64)),
		expr.Function(neFunc, func(p ...any) (any, error) {
			if isNaN(p[0]) || isNaN(p[1]) {
				return false, nil
			}
			return !runtime.Equal(p[0], p[1]), nil
		}, new(func(any, any) bool)),
	}
	if rewriteNE {
		opts = append(opts, expr.Patch(nePatcher{}))
	}
	if pipe != nil {
		// Labels first so that an aggregate with the same name as a
		// group_by key wins, as it does at run time.
		for _, k := range pipe.GroupBy {
			env[k] = ""
		}
		for _, a := range pipe.Aggregates {
			env[a.Name] = 0.0
		}
		opts = append(opts, expr.Env(env))
	} else {
		opts = append(opts, expr.Env(env), expr.AllowUndefinedVariables())
	}
	return opts
}

func toFloat(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case int:
		return float64(n), nil
	case int64:
		return float64(n), nil
	}
	return 0, fmt.Errorf("threshold default %v is not a number", v)
}

func isNaN(v any) bool {
	f, ok := v.(float64)
	return ok && math.IsNaN(f)
}

// nePatcher rewrites `a != b` into a call that is false when either side is
// NaN. expr compiles != as not(==), which would make NaN != x true and let a
// window with no data fire a rule.
type nePatcher struct{}

// Visit replaces != nodes; ast.Walk visits children first, so nested ones are
// rewritten too.
func (nePatcher) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || b.Operator != "!=" {
		return
	}
	call := &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: neFunc},
		Arguments: []ast.Node{b.Left, b.Right},
	}
	ast.Patch(node, call)
}

// readNames lists the identifiers a program reads from its environment, in
// the order they appear in the source, without function names and `let`
// variables.
func readNames(prog *vm.Program) []string {
	node := prog.Node()
	var c nameCollector
	ast.Walk(&node, &c)
	slices.SortStableFunc(c.found, func(a, b foundName) int { return cmp.Compare(a.pos, b.pos) })
	var out []string
	for _, f := range c.found {
		if c.callees[f.ident] || c.lets[f.name] || slices.Contains(out, f.name) {
			continue
		}
		out = append(out, f.name)
	}
	return out
}

type foundName struct {
	name  string
	pos   int
	ident *ast.IdentifierNode
}

type nameCollector struct {
	found   []foundName
	callees map[*ast.IdentifierNode]bool
	lets    map[string]bool
}

func (c *nameCollector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		c.found = append(c.found, foundName{name: n.Value, pos: n.Location().From, ident: n})
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			if c.callees == nil {
				c.callees = map[*ast.IdentifierNode]bool{}
			}
			c.callees[id] = true
		}
	case *ast.VariableDeclaratorNode:
		if c.lets == nil {
			c.lets = map[string]bool{}
		}
		c.lets[n.Name] = true
	}
}
