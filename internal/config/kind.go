package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// KindConfig is the settings of one source or notifier kind: the keys a
// plug-in adds to the envelope every item has (name, type, ...). Each kind
// declares its own struct with yaml tags, registers it with its factory and
// so owns its keys, defaults and checks; this package never names them.
type KindConfig interface {
	// Defaults fills in the defaults. It is called on a fresh value before
	// the item's keys are decoded into it, so a default applies only to a
	// key that was not written (or written with no value).
	Defaults()
	// Validate checks the decoded settings and reports each problem through
	// v, at the line of the key it is about.
	Validate(v *Validator)
}

// kinds is a registry of KindConfig constructors by type name, filled from
// the init() functions of the plug-in packages (through source.Register and
// notify.Register) and read by Parse.
type kinds struct {
	mu sync.RWMutex
	m  map[string]func() KindConfig
}

var (
	sourceKinds   = &kinds{m: map[string]func() KindConfig{}}
	notifierKinds = &kinds{m: map[string]func() KindConfig{}}
)

// RegisterSourceKind makes the settings of source type name known to Parse.
// source.Register calls it; it panics on an empty name, a nil newConfig or a
// name registered twice, all programming errors found at start-up.
func RegisterSourceKind(name string, newConfig func() KindConfig) {
	sourceKinds.register("source", name, newConfig)
}

// RegisterNotifierKind makes the settings of notifier type name known to
// Parse. notify.Register calls it; it panics like RegisterSourceKind.
func RegisterNotifierKind(name string, newConfig func() KindConfig) {
	notifierKinds.register("notifier", name, newConfig)
}

func (k *kinds) register(what, name string, newConfig func() KindConfig) {
	if name == "" || newConfig == nil {
		panic("config: registering a " + what + " kind with an empty name or a nil config")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, dup := k.m[name]; dup {
		panic("config: " + what + " kind " + name + " registered twice")
	}
	k.m[name] = newConfig
}

func (k *kinds) lookup(name string) (func() KindConfig, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	f, ok := k.m[name]
	return f, ok
}

func (k *kinds) names() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ns := make([]string, 0, len(k.m))
	for n := range k.m {
		ns = append(ns, n)
	}
	return ns
}

// sortedNames returns the registered type names, sorted.
func (k *kinds) sortedNames() []string {
	ns := k.names()
	slices.Sort(ns)
	return ns
}

// keysOf returns the keys of type name's settings, or nil when it has none
// registered.
func (k *kinds) keysOf(name string) []string {
	f, ok := k.lookup(name)
	if !ok {
		return nil
	}
	return kindKeys(f())
}

// anyHas reports whether some registered kind has key.
func (k *kinds) anyHas(key string) bool {
	for _, n := range k.names() {
		if slices.Contains(k.keysOf(n), key) {
			return true
		}
	}
	return false
}

// kindKeys lists the top-level yaml keys of a kind's settings struct.
func kindKeys(kc KindConfig) []string {
	fields := yamlFields(reflect.TypeOf(kc).Elem())
	ks := make([]string, 0, len(fields))
	for k := range fields {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// SourceKindConfigs returns a fresh, defaulted settings value of every
// registered source kind, by type name: the schema the docs drift test reads.
func SourceKindConfigs() map[string]KindConfig { return sourceKinds.configs() }

// NotifierKindConfigs is SourceKindConfigs for notifiers.
func NotifierKindConfigs() map[string]KindConfig { return notifierKinds.configs() }

func (k *kinds) configs() map[string]KindConfig {
	m := map[string]KindConfig{}
	for _, n := range k.names() {
		f, _ := k.lookup(n)
		kc := f()
		kc.Defaults()
		m[n] = kc
	}
	return m
}

// Validator is what a KindConfig's Validate reports its problems to. Keys
// are relative to the item ("url", "sasl.mechanism"); each problem is
// recorded at its key's line as "notifiers[2].url: ...".
type Validator struct {
	p    *parser
	base string
	typ  string
	// earlier holds the sources before this one (none for a notifier).
	earlier []Source
}

// Type is the item's type, for messages such as "url is required for type X".
func (v *Validator) Type() string { return v.typ }

// EarlierOfType returns the name and index of the first source before this
// one with the same type, for kinds of which one instance only can run.
func (v *Validator) EarlierOfType() (name string, index int, ok bool) {
	for j, o := range v.earlier {
		if o.Type == v.typ {
			return o.Name, j, true
		}
	}
	return "", 0, false
}

func (v *Validator) path(key string) string {
	if key == "" {
		return v.base
	}
	return v.base + "." + key
}

// Errorf records a problem with key ("" for the item itself), unless its
// value already failed to decode.
func (v *Validator) Errorf(key, format string, args ...any) {
	v.p.at(v.path(key), format, args...)
}

// Missing records that the required key is absent or empty, at the item's
// line, unless a value was written that could not be decoded.
func (v *Validator) Missing(key, format string, args ...any) {
	v.p.missing(v.base, key, format, args...)
}

// Required records "KEY is required for type T" when empty is true.
func (v *Validator) Required(key string, empty bool) {
	if empty {
		v.Missing(key, "%s is required for type %s", key, v.typ)
	}
}

// Has reports whether key was written with a value.
func (v *Validator) Has(key string) bool { return v.p.c.has(v.path(key)) }

// HTTPURL checks that u, the value of key, is an absolute http(s) URL.
func (v *Validator) HTTPURL(key, u string) {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		v.Errorf(key, "must be an http:// or https:// URL")
	}
}

// NonEmpty checks that no item of the list at key is blank.
func (v *Validator) NonEmpty(key string, items []string) {
	for j, it := range items {
		if strings.TrimSpace(it) == "" {
			v.Errorf(fmt.Sprintf("%s[%d]", key, j), "must not be empty")
		}
	}
}

// File checks that the file named by key can be read and returns its path,
// made absolute from the config file's directory when relative.
func (v *Validator) File(key, name string) string {
	return v.p.readableFile(v.path(key), name)
}

// Path returns name made absolute from the config file's directory when
// relative, for paths and globs that need not exist yet.
func (v *Validator) Path(name string) string {
	if !filepath.IsAbs(name) && v.p.file != "" {
		return filepath.Join(filepath.Dir(v.p.file), name)
	}
	return name
}

// Positive records "must be more than 0" for key when bad is true.
func (v *Validator) Positive(key string, bad bool) {
	if bad {
		v.Errorf(key, "must be more than 0")
	}
}

// Puller is implemented by the settings of a source kind that pulls on a
// schedule (host, http): self-monitoring calls such a source silent after a
// few missed pulls rather than after self.silent_after.
type Puller interface {
	PullInterval() time.Duration
}

// PullInterval returns how often the source pulls, or 0 for a source that
// does not pull on a schedule.
func (s Source) PullInterval() time.Duration {
	if p, ok := s.Settings.(Puller); ok {
		return p.PullInterval()
	}
	return 0
}

// Redeliverer is implemented by the settings of a source kind whose broker
// may or may not hand unacknowledged messages to lookout again after a
// restart, depending on its keys (nats: only with durable).
type Redeliverer interface {
	Redelivers() bool
}

// Redelivers reports what the source's settings say about redelivery, and
// false when they say nothing.
func (s Source) Redelivers() bool {
	r, ok := s.Settings.(Redeliverer)
	return ok && r.Redelivers()
}

var (
	sourceType   = reflect.TypeFor[Source]()
	notifierType = reflect.TypeFor[Notifier]()
)

// decodeKind decodes a source or notifier whose type has registered
// settings: the envelope's keys into v, the kind's keys into a fresh,
// defaulted value of its settings, kept in v's Settings. A key of another
// kind is reported as not applying to this type, a key no kind has as
// unknown, as for every other section. It reports false for any other v.
func (p *parser) decodeKind(n *yaml.Node, v reflect.Value, path string) bool {
	var reg *kinds
	switch v.Type() {
	case sourceType:
		reg = sourceKinds
	case notifierType:
		reg = notifierKinds
	default:
		return false
	}
	typ := mappingValue(n, "type")
	newConfig, known := reg.lookup(typ)
	var kc KindConfig
	var kindFields map[string][]int
	if known {
		kc = newConfig()
		kc.Defaults()
		kindFields = yamlFields(reflect.TypeOf(kc).Elem())
	}
	envFields := yamlFields(v.Type())
	env := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	own := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || p.repeated[k] {
			continue // reported by prepare
		}
		_, mine := kindFields[k.Value]
		_, common := envFields[k.Value]
		switch {
		case mine:
			own.Content = append(own.Content, k, val)
		case common:
			env.Content = append(env.Content, k, val)
		case reg.anyHas(k.Value) && known:
			p.failed[keyPath(path, k.Value)] = true
			p.add(k.Line, path, "key %q does not apply to type %s", k.Value, typ)
		case reg.anyHas(k.Value):
			// The type is missing or unknown, which is reported; its
			// keys cannot be judged without it.
		default:
			env.Content = append(env.Content, k, val)
		}
	}
	p.decodeFields(env, v, path)
	if known {
		p.decode(own, reflect.ValueOf(kc).Elem(), path)
		v.FieldByName("Settings").Set(reflect.ValueOf(kc))
	}
	return true
}
