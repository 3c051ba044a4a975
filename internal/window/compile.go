package window

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lookout-dev/lookout/internal/window/agg"
)

// compileAggregate compiles one aggregate: an aggregate function call over
// event fields, a baseline aggregate, or an expression over earlier
// aggregates. It appends inputs and baselines to the plan and returns the output.
func (p *Plan) compileAggregate(src string, earlier, later []string) (output, error) {
	name, args, isCall := splitCall(src)
	fn, ok := agg.Lookup(name)
	if !isCall {
		x, err := compileAggExpr(src, earlier, later)
		return output{in: -1, base: -1, expr: x}, err
	}
	if !ok {
		x, err := compileAggExpr(src, earlier, later)
		if err != nil {
			return output{}, fmt.Errorf("unknown function %q: not an aggregate function (%s), and as an expression over aggregates: %w",
				name, strings.Join(agg.Names(), ", "), err)
		}
		return output{in: -1, base: -1, expr: x}, nil
	}
	want := 1 + len(fn.Params)
	if fn.Optional && len(args) == want-1 {
		p.inputs = append(p.inputs, input{fn: fn, kind: agg.InputNone})
		return output{in: len(p.inputs) - 1, base: -1}, nil
	}
	params := make([]float64, 0, len(fn.Params))
	if len(args) > want || len(args) < want && (fn.Defaults == nil || len(args) < 1) {
		// max(errors, 1) is expr-lang's max over aggregates, not max(x).
		if x, err := compileAggExpr(src, earlier, later); err == nil {
			return output{in: -1, base: -1, expr: x}, nil
		}
		sig := append([]string{"x"}, fn.Params...)
		if fn.Input == agg.InputCond {
			sig[0] = "cond"
		}
		return output{}, fmt.Errorf("%s(%s) takes %d argument(s), got %d", name, strings.Join(sig, ", "), want, len(args))
	}
	for i, pname := range fn.Params {
		if 1+i >= len(args) { // a trailing parameter left out takes its default
			params = append(params, fn.Defaults[i])
			continue
		}
		v, err := strconv.ParseFloat(args[1+i], 64)
		if err != nil {
			return output{}, fmt.Errorf("%s: %s must be a number, got %q", name, pname, args[1+i])
		}
		params = append(params, v)
	}
	if fn.Check != nil {
		if err := fn.Check(params); err != nil {
			return output{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	if fn.Counter {
		if p.count > 0 {
			return output{}, fmt.Errorf("%s(x) needs a time window (window: 1m): a {count: N} window has no length of time to measure a counter's growth over", name)
		}
		params = append(params, float64(p.size)/1e9)
	}
	if fn.Baseline != nil && (p.count == 0 || fn.New == nil) {
		return p.compileBaseline(fn, params, args[0], earlier)
	}
	x, err := compileFieldExpr(args[0])
	if err != nil {
		return output{}, fmt.Errorf("%s: %w", name, err)
	}
	p.inputs = append(p.inputs, input{fn: fn, params: params, arg: x, kind: fn.Input})
	return output{in: len(p.inputs) - 1, base: -1}, nil
}

// compileBaseline compiles a baseline aggregate. Its argument is either the
// name of an earlier aggregate (zscore(requests): the window's request count
// against earlier windows' counts) or an expression over event fields, whose
// per-window value is its average over the window (the newest sample's value
// in {count: N} windows), computed by a hidden input.
func (p *Plan) compileBaseline(fn agg.Func, params []float64, arg string, earlier []string) (output, error) {
	b := baseline{fn: fn.Baseline, params: params, ref: slices.Index(earlier, strings.TrimSpace(arg)), hidden: -1}
	if b.ref < 0 {
		x, err := compileFieldExpr(arg)
		if err != nil {
			return output{}, fmt.Errorf("%s: %w", fn.Name, err)
		}
		hf, _ := agg.Lookup("avg")
		if p.count > 0 {
			hf, _ = agg.Lookup("last")
		}
		p.inputs = append(p.inputs, input{fn: hf, arg: x, kind: agg.InputValue})
		b.hidden = len(p.inputs) - 1
	}
	p.baselines = append(p.baselines, b)
	return output{in: -1, base: len(p.baselines) - 1}, nil
}

// splitCall splits `name(a, b)` into its name and trimmed top-level
// arguments. ok is false when src is not one call spanning the whole text
// (`count() / 2`), or an argument is empty.
func splitCall(src string) (name string, args []string, ok bool) {
	s := strings.TrimSpace(src)
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || i > 0 && s[i] >= '0' && s[i] <= '9') {
		i++
	}
	name = s[:i]
	rest := strings.TrimLeft(s[i:], " \t")
	if name == "" || !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
		return name, nil, false
	}
	body := rest[1:]
	depth, start := 0, 0
	var quote byte
	for j := 0; j < len(body); j++ {
		c := body[j]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				j++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' && depth == 0:
			if j != len(body)-1 {
				return name, nil, false // the call ends before the text does
			}
			if last := strings.TrimSpace(body[start:j]); last != "" || len(args) > 0 {
				args = append(args, last)
			}
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			args = append(args, strings.TrimSpace(body[start:j]))
			start = j + 1
		}
	}
	for _, a := range args {
		if a == "" {
			return name, nil, false
		}
	}
	return name, args, true
}
