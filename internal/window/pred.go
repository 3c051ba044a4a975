package window

import (
	"strings"

	"github.com/expr-lang/expr/ast"
)

// pred evaluates a simple condition natively, without the expression VM. ok
// is false where expr-lang would report an error (comparing a missing field
// with <), which callers treat as "does not match", exactly as they treat a
// VM error. The tests check that both agree.
type pred func(fields map[string]any) (v, ok bool)

// nativePred returns a native evaluation of n when n is built only from
// comparisons of a field with a constant, &&, || and !; nil otherwise.
func nativePred(n ast.Node) pred {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		name := n.Value
		return func(f map[string]any) (bool, bool) {
			b, ok := f[name].(bool)
			return b, ok
		}
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			return nil
		}
		x := nativePred(n.Node)
		if x == nil {
			return nil
		}
		return func(f map[string]any) (bool, bool) {
			v, ok := x(f)
			return !v, ok
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and", "||", "or":
			l, r := nativePred(n.Left), nativePred(n.Right)
			if l == nil || r == nil {
				return nil
			}
			if n.Operator == "&&" || n.Operator == "and" {
				return func(f map[string]any) (bool, bool) {
					v, ok := l(f)
					if !ok || !v {
						return false, ok
					}
					return r(f)
				}
			}
			return func(f map[string]any) (bool, bool) {
				v, ok := l(f)
				if !ok || v {
					return v, ok
				}
				return r(f)
			}
		case "==", "!=", "<", "<=", ">", ">=":
			return comparison(n.Operator, n.Left, n.Right)
		}
	}
	return nil
}

// flip mirrors a comparison so that the field is on the left: 500 <= status
// is status >= 500.
func flip(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	}
	return op // == and != are symmetric
}

// comparison builds a native field-versus-constant comparison.
func comparison(op string, left, right ast.Node) pred {
	id, ok := left.(*ast.IdentifierNode)
	if !ok {
		if id, ok = right.(*ast.IdentifierNode); !ok {
			return nil
		}
		left, right, op = right, left, flip(op)
	}
	name := id.Value
	if c, ok := numberLiteral(right); ok {
		return numberComparison(op, name, c)
	}
	switch lit := right.(type) {
	case *ast.StringNode:
		return stringComparison(op, name, lit.Value)
	case *ast.BoolNode:
		c := lit.Value
		switch op {
		case "==":
			return func(f map[string]any) (bool, bool) { b, ok := f[name].(bool); return ok && b == c, true }
		case "!=":
			return func(f map[string]any) (bool, bool) { b, ok := f[name].(bool); return !(ok && b == c), true }
		}
	case *ast.NilNode:
		switch op {
		case "==":
			return func(f map[string]any) (bool, bool) { return f[name] == nil, true }
		case "!=":
			return func(f map[string]any) (bool, bool) { return f[name] != nil, true }
		}
	}
	return nil
}

// numberLiteral returns the value of an integer or float constant, including
// a negated one.
func numberLiteral(n ast.Node) (float64, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return float64(n.Value), true
	case *ast.FloatNode:
		return n.Value, true
	case *ast.UnaryNode:
		if v, ok := numberLiteral(n.Node); ok {
			switch n.Operator {
			case "-":
				return -v, true
			case "+":
				return v, true
			}
		}
	}
	return 0, false
}

// fieldNumber reads a numeric field the way expr-lang compares it: numbers
// only, booleans are not numbers here.
func fieldNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	}
	return 0, false
}

func numberComparison(op, name string, c float64) pred {
	switch op {
	case "==":
		return func(f map[string]any) (bool, bool) { x, ok := fieldNumber(f[name]); return ok && x == c, true }
	case "!=":
		return func(f map[string]any) (bool, bool) { x, ok := fieldNumber(f[name]); return !(ok && x == c), true }
	case "<":
		return func(f map[string]any) (bool, bool) { x, ok := fieldNumber(f[name]); return ok && x < c, ok }
	case "<=":
		return func(f map[string]any) (bool, bool) { x, ok := fieldNumber(f[name]); return ok && x <= c, ok }
	case ">":
		return func(f map[string]any) (bool, bool) { x, ok := fieldNumber(f[name]); return ok && x > c, ok }
	case ">=":
		return func(f map[string]any) (bool, bool) { x, ok := fieldNumber(f[name]); return ok && x >= c, ok }
	}
	return nil
}

func stringComparison(op, name, c string) pred {
	switch op {
	case "==":
		return func(f map[string]any) (bool, bool) { s, ok := f[name].(string); return ok && s == c, true }
	case "!=":
		return func(f map[string]any) (bool, bool) { s, ok := f[name].(string); return !(ok && s == c), true }
	}
	// Ordering compares strings only; anything else is an error in expr-lang.
	return func(f map[string]any) (bool, bool) {
		s, ok := f[name].(string)
		if !ok {
			return false, false
		}
		d := strings.Compare(s, c)
		switch op {
		case "<":
			return d < 0, true
		case "<=":
			return d <= 0, true
		case ">":
			return d > 0, true
		}
		return d >= 0, true
	}
}
