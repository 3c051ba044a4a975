package window

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/lookout-dev/lookout/internal/window/agg"
)

// dotted rewrites a member chain of identifiers (http.status, a.b.c) into one
// identifier holding the dotted key. Events carry nested JSON flattened to
// dotted keys, and expr-lang would otherwise read http.status as "field status
// of the value of http", which does not exist.
type dotted struct{}

// Visit runs after the children were visited (ast.Walk is post-order), so
// a.b.c has already become (a.b).c and collapses step by step.
func (dotted) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MemberNode)
	if !ok || m.Optional || m.Method {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok {
		return
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		return
	}
	ast.Patch(n, &ast.IdentifierNode{Value: id.Value + "." + prop.Value})
}

// parseTree parses src and applies the dotted-name rewrite, for analysis.
func parseTree(src string) (ast.Node, error) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, err
	}
	ast.Walk(&tree.Node, dotted{})
	return tree.Node, nil
}

// names returns the identifiers an expression reads (not the functions it
// calls) and the names of the functions it calls, each in order of first
// appearance.
func names(root ast.Node) (idents, calls []string) {
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		switch n := n.(type) {
		case nil:
		case *ast.IdentifierNode:
			if !slices.Contains(idents, n.Value) {
				idents = append(idents, n.Value)
			}
		case *ast.CallNode:
			if id, ok := n.Callee.(*ast.IdentifierNode); ok {
				calls = append(calls, id.Value)
			} else {
				walk(n.Callee)
			}
			for _, a := range n.Arguments {
				walk(a)
			}
		default:
			// Not ast.Walk: it would visit a call's callee like any
			// identifier, and a function name is not an event field.
			for _, c := range children(n) {
				walk(c)
			}
		}
	}
	walk(root)
	return idents, calls
}

// children returns the direct child nodes of n.
func children(n ast.Node) []ast.Node {
	switch n := n.(type) {
	case *ast.UnaryNode:
		return []ast.Node{n.Node}
	case *ast.BinaryNode:
		return []ast.Node{n.Left, n.Right}
	case *ast.ChainNode:
		return []ast.Node{n.Node}
	case *ast.MemberNode:
		return []ast.Node{n.Node, n.Property}
	case *ast.SliceNode:
		return []ast.Node{n.Node, n.From, n.To}
	case *ast.BuiltinNode:
		return n.Arguments
	case *ast.PredicateNode:
		return []ast.Node{n.Node}
	case *ast.VariableDeclaratorNode:
		return []ast.Node{n.Value, n.Expr}
	case *ast.SequenceNode:
		return n.Nodes
	case *ast.ConditionalNode:
		return []ast.Node{n.Cond, n.Exp1, n.Exp2}
	case *ast.ArrayNode:
		return n.Nodes
	case *ast.MapNode:
		return n.Pairs
	case *ast.PairNode:
		return []ast.Node{n.Key, n.Value}
	}
	return nil
}

// fieldExpr is a compiled expression over the fields of one event: a where
// condition, or the argument of an aggregate.
type fieldExpr struct {
	src string
	// field is set when the expression is a bare (possibly dotted) field
	// name: the value is a map lookup, no VM.
	field string
	// pred is a native evaluation of simple conditions, nil when the
	// expression is not one.
	pred pred
	prog *vm.Program
	// fields are the event fields the expression reads.
	fields []string
}

// compileFieldExpr compiles src as an expression over event fields. Missing
// fields read as nil, so a missing field makes a comparison fail (and the
// event not match) rather than the pipeline.
func compileFieldExpr(src string) (*fieldExpr, error) {
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("empty expression")
	}
	root, err := parseTree(src)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", src, err)
	}
	idents, calls := names(root)
	for _, c := range calls {
		if _, ok := builtin.Index[c]; !ok {
			return nil, fmt.Errorf("unknown function %q in %q", c, src)
		}
	}
	prog, err := expr.Compile(src, expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.Patch(dotted{}))
	if err != nil {
		return nil, fmt.Errorf("compiling %q: %w", src, err)
	}
	x := &fieldExpr{src: src, prog: prog, fields: idents, pred: nativePred(root)}
	if id, ok := root.(*ast.IdentifierNode); ok {
		x.field = id.Value
	}
	return x, nil
}

// cond reports whether the expression is true for fields. An expression that
// fails (a comparison with a missing field) or yields anything but true is
// false.
func (x *fieldExpr) cond(fields map[string]any, m *vm.VM) bool {
	if x.pred != nil {
		v, ok := x.pred(fields)
		return ok && v
	}
	out, err := m.Run(x.prog, fields)
	return err == nil && out == true
}

// value returns the expression's value for fields, nil when it fails.
func (x *fieldExpr) value(fields map[string]any, m *vm.VM) any {
	if x.field != "" {
		return fields[x.field]
	}
	out, err := m.Run(x.prog, fields)
	if err != nil {
		return nil
	}
	return out
}

// number converts an expression value to a float64. Booleans count as 0 and
// 1, like event.Event.Number.
func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case float32:
		return float64(v), true
	case int32:
		return float64(v), true
	case uint64:
		return float64(v), true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// aggExpr is a compiled expression over earlier aggregates of the same
// window, e.g. errors / requests.
type aggExpr struct {
	prog *vm.Program
	// refs are the indexes (in the pipeline's aggregate order) of the
	// aggregates it reads.
	refs []int
}

// compileAggExpr compiles src over the aggregates named in earlier; later
// names are all the pipeline's aggregate names after this one, for a clearer
// error.
func compileAggExpr(src string, earlier, later []string) (*aggExpr, error) {
	root, err := parseTree(src)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", src, err)
	}
	idents, calls := names(root)
	for _, c := range calls {
		if _, ok := builtin.Index[c]; ok {
			continue
		}
		if _, ok := agg.Lookup(c); ok {
			return nil, fmt.Errorf("%s() is an aggregate function and must be a whole aggregate: give it its own name and use the name here", c)
		}
		return nil, fmt.Errorf("unknown function %q (aggregate functions: %s)", c, strings.Join(agg.Names(), ", "))
	}
	env := make(map[string]any, len(earlier))
	for _, n := range earlier {
		env[n] = 0.0
	}
	a := &aggExpr{}
	for _, id := range idents {
		i := slices.Index(earlier, id)
		switch {
		case i >= 0:
			a.refs = append(a.refs, i)
		case slices.Contains(later, id):
			return nil, fmt.Errorf("aggregate %q is defined after this one; an expression can only use aggregates above it", id)
		default:
			return nil, fmt.Errorf("unknown aggregate %q", id)
		}
	}
	a.prog, err = expr.Compile(src, expr.Env(env))
	if err != nil {
		return nil, fmt.Errorf("compiling %q: %w", src, err)
	}
	return a, nil
}

// eval computes the expression from the window's aggregate values. NaN in,
// division by zero, an error or a non-numeric result all give NaN: "could not
// be computed".
func (a *aggExpr) eval(vals []float64, names []string, env map[string]any, m *vm.VM) float64 {
	for _, i := range a.refs {
		if math.IsNaN(vals[i]) {
			return math.NaN()
		}
		env[names[i]] = vals[i]
	}
	out, err := m.Run(a.prog, env)
	if err != nil {
		return math.NaN()
	}
	v, ok := number(out)
	if !ok || math.IsInf(v, 0) {
		return math.NaN()
	}
	return v
}
