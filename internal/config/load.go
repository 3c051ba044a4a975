package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the file at path and parses it with Parse. Errors in the file
// come back as Errors; a file that cannot be read is a plain wrapped error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse turns the YAML in data into a validated Config. file names the source
// in error messages and anchors relative token_file paths. On any problem it
// returns nil and Errors holding every problem found, in file order.
func Parse(file string, data []byte) (*Config, error) {
	c, err := parse(file, data)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// LoadPartial is Load for `lookout check`: on problems it returns, besides
// the Errors, the config as far as it decoded (nil only when the YAML did not
// parse at all), with Failed saying which parts had a problem, so that the
// expressions and templates of the rest can be compiled too and every
// problem is reported at once. A config with problems must not be run.
func LoadPartial(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return parse(path, data)
}

// Failed reports whether the file had a problem at path or inside it
// ("pipelines[0]" covers "pipelines[0].window"). Only a config from
// LoadPartial has any.
func (c *Config) Failed(path string) bool {
	for _, f := range c.failed {
		if f == path || strings.HasPrefix(f, path+".") || strings.HasPrefix(f, path+"[") {
			return true
		}
	}
	return false
}

func parse(file string, data []byte) (*Config, error) {
	p := &parser{
		file:     file,
		failed:   map[string]bool{},
		seen:     map[*yaml.Node]bool{},
		repeated: map[*yaml.Node]bool{},
	}
	c := &Config{File: file, lines: map[string]int{}, null: map[string]bool{}}
	p.c = c

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{syntaxError(file, data, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, Errors{{File: file, Msg: "the configuration is empty"}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, Errors{{File: file, Line: root.Line, Msg: "the top level must be a mapping of sections (server, sources, pipelines, ...)"}}
	}

	p.prepare(root, "", false)
	p.decode(root, reflect.ValueOf(c).Elem(), "")
	p.defaults()
	p.validate()
	p.readTokenFiles()

	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
		return c, p.errs
	}
	return c, nil
}

// parser holds the state of one Parse: the config being built and the
// problems found so far.
type parser struct {
	file string
	c    *Config
	errs Errors
	// failed marks paths that already have an error, so that a value which
	// could not be decoded does not also produce a "must be > 0" error.
	failed map[string]bool
	// seen stops an aliased scalar from being expanded twice, which would turn
	// an escaped $${X} into an expansion of X.
	seen map[*yaml.Node]bool
	// repeated holds the key nodes of repeated keys; the first one wins.
	repeated map[*yaml.Node]bool
}

// yamlLine finds the line in yaml's own error messages ("yaml: line 7: ...").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a YAML parse error into an Error at its line. The few
// messages without a line ("found unexpected end of stream" for an unclosed
// quote) are about the end of the input, so they point at its last line.
func syntaxError(file string, data []byte, err error) Error {
	msg := err.Error()
	last := max(1, bytes.Count(bytes.TrimRight(data, "\n"), []byte("\n"))+1)
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserProblem(m[2]) {
			line++
		}
		// At the end of the input (an unclosed "[" or "{") the parser's
		// line is already the last one: the +1 would point past it.
		return Error{File: file, Line: min(line, last), Msg: "YAML syntax error: " + m[2]}
	}
	return Error{File: file, Line: last, Msg: "YAML syntax error: " + strings.TrimPrefix(msg, "yaml: ")}
}

// parserProblem reports whether msg is one of the yaml parser's (not its
// scanner's) problems. yaml.v3 reports those at a 0-based line, one less than
// the line an editor shows, while scanner problems are 1-based.
func parserProblem(msg string) bool {
	rest, ok := strings.CutPrefix(msg, "did not find expected ")
	if !ok {
		return false
	}
	switch rest {
	case "key", "node content", "<document start>", "'-' indicator", "',' or ']'", "',' or '}'":
		return true
	}
	return false
}

// add records a problem at line; msg is prefixed with path when there is one.
func (p *parser) add(line int, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	p.errs = append(p.errs, Error{File: p.file, Line: line, Msg: msg})
	p.c.failed = append(p.c.failed, path)
}

// at records a problem about path at path's line (or its nearest parent's),
// unless the value at path could not be decoded at all: that error is enough.
func (p *parser) at(path, format string, args ...any) {
	if p.failed[path] {
		return
	}
	p.add(p.c.lineOrParent(path), path, format, args...)
}

// missing records that key, required in the mapping at base, is absent or
// empty, unless a value was written that could not be decoded or expanded.
func (p *parser) missing(base, key, format string, args ...any) {
	if p.failed[base+"."+key] {
		return
	}
	p.at(base, format, args...)
}

// fail records a problem with decoding path and marks it, so that validation
// does not pile "must be more than 0" on top of "is not a duration".
func (p *parser) fail(path, format string, args ...any) {
	p.at(path, format, args...)
	p.failed[path] = true
}

// keyPath joins a mapping key to its parent's path.
func keyPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// prepare walks the tree once before decoding: it records the line of every
// path, reports repeated keys and expands ${NAME} in scalar values.
func (p *parser) prepare(n *yaml.Node, path string, isNull bool) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				p.add(k.Line, path, "keys must be plain strings")
				continue
			}
			kp := keyPath(path, k.Value)
			if l, dup := first[k.Value]; dup {
				p.add(k.Line, path, "key %q is repeated (first at line %d)", k.Value, l)
				p.repeated[k] = true
				continue
			} else {
				first[k.Value] = k.Line
				p.c.lines[kp] = k.Line
			}
			if isNullNode(v) {
				p.c.null[kp] = true
			}
			p.prepare(v, kp, false)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			p.c.lines[ip] = item.Line
			p.prepare(item, ip, false)
		}
	case yaml.ScalarNode:
		if p.seen[n] {
			return
		}
		p.seen[n] = true
		v, err := expandEnv(n.Value)
		if err != nil {
			p.failed[path] = true
			p.add(n.Line, path, "%s", err)
			return
		}
		if v != n.Value {
			n.Value = v
			// A plain scalar's tag was resolved from its unexpanded text
			// (always !!str); clear it so "${PORT}" can decode as an int.
			if n.Style == 0 {
				n.Tag = ""
			}
		}
	}
}

func isNullNode(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// expandEnv replaces ${NAME} with the value of the environment variable NAME.
// An unset variable is an error, not an empty string, so that a forgotten
// export does not turn into an empty token or URL. $${X} is a literal ${X}.
func expandEnv(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ (write $${ for a literal ${)")
			}
			name := s[i+2 : i+end]
			if !envName.MatchString(name) {
				return "", fmt.Errorf("%q is not an environment variable name (write $${ for a literal ${)", name)
			}
			v, ok := os.LookupEnv(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			i += end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// decode sets v from n strictly, reporting unknown keys and values of the
// wrong kind at their path. It walks the Go type with reflect so that one
// function covers every section and no key is decoded without a line.
func (p *parser) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if p.failed[path] && path != "" {
		return
	}
	if isNullNode(n) {
		return // absent and null are the same: the default applies
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			p.fail(path, "%s", cleanYAMLError(err))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			p.fail(path, "must be a mapping of keys, not %s", describe(n))
			return
		}
		if p.decodeKind(n, v, path) {
			return
		}
		p.decodeFields(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			p.fail(path, "must be a list, not %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			p.fail(path, "must be a mapping, not %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || p.repeated[k] {
				continue
			}
			e := reflect.New(v.Type().Elem()).Elem()
			p.decode(val, e, keyPath(path, k.Value))
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		p.decode(n, e.Elem(), path)
		v.Set(e)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			p.fail(path, "must be a string, not %s", describe(n))
			return
		}
		// Any scalar is text here: `name: 404` means the string "404".
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil && !quoted(n, func(s string) (err error) { b, err = strconv.ParseBool(s); return err }) {
			p.fail(path, "%s is not true or false", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Decode(&i) != nil && !quoted(n, func(s string) (err error) { i, err = strconv.ParseInt(s, 10, 64); return err }) || v.OverflowInt(i) {
			p.fail(path, "%s is not an integer", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || n.Decode(&f) != nil && !quoted(n, func(s string) (err error) { f, err = strconv.ParseFloat(s, 64); return err }) || math.IsNaN(f) {
			p.fail(path, "%s is not a number", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		// Only reachable when types.go gains a field of a kind not handled
		// above; say so rather than dropping the value silently.
		p.fail(path, "cannot decode into %s", v.Type())
	}
}

// decodeFields sets the fields of the struct v from the mapping n, reporting
// keys v has no field for.
func (p *parser) decodeFields(n *yaml.Node, v reflect.Value, path string) {
	fields := yamlFields(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || p.repeated[k] {
			continue // reported by prepare
		}
		idx, ok := fields[k.Value]
		if !ok {
			p.failed[keyPath(path, k.Value)] = true
			p.add(k.Line, path, "unknown key %q", k.Value)
			continue
		}
		p.decode(val, v.FieldByIndex(idx), keyPath(path, k.Value))
	}
}

// quoted parses a quoted scalar with parse. Numbers and booleans are accepted
// in quotes because `"${PORT}"` must be quoted inside a flow mapping, where a
// bare { or } would end it.
func quoted(n *yaml.Node, parse func(string) error) bool {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		return false
	}
	return parse(strings.TrimSpace(n.Value)) == nil
}

// describe names a node for an error message: the quoted value of a scalar,
// or the kind of a collection.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// yamlFields maps the yaml keys of a struct type to field index paths. The
// keys of a field tagged ",inline" (settings several kinds share, such as
// the template keys of the chat notifiers) are the struct's own.
func yamlFields(t reflect.Type) map[string][]int {
	m := make(map[string][]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			for k, idx := range yamlFields(f.Type) {
				m[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = []int{i}
	}
	return m
}

// cleanYAMLError strips yaml's "unmarshal errors: line N:" wrapping from an
// error returned by a nested Decode; the line is added back by the caller.
func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			if _, rest, ok := strings.Cut(e, ": "); ok && strings.HasPrefix(e, "line ") {
				e = rest
			}
			msgs[i] = e
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// Line returns the YAML line of a path such as "rules[1].when",
// "pipelines[0].aggregates.error_rate" or "sources[2]", or 0 when the path was
// not in the file (absent keys, defaults, the built-in config built in code).
func (c *Config) Line(path string) int {
	return c.lines[path]
}

// lineOrParent returns the line of path, or of its nearest ancestor that is in
// the file: a missing required key is reported where its section starts.
func (c *Config) lineOrParent(path string) int {
	for path != "" {
		if l, ok := c.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// Errorf returns an Error at path's line (or its nearest ancestor's) whose
// message starts with path. The app uses it for problems found after Parse,
// such as expressions that do not compile, so they read like Parse's own.
func (c *Config) Errorf(path string, format string, args ...any) Error {
	return Error{
		File: c.File,
		Line: c.lineOrParent(path),
		Msg:  path + ": " + fmt.Sprintf(format, args...),
	}
}

// has reports whether path was written in the file with a value.
func (c *Config) has(path string) bool {
	_, ok := c.lines[path]
	return ok && !c.null[path]
}
