// Package config is the YAML schema of CONTRACT.md and the first stage every
// other one depends on: app builds sources, pipelines, rules and notifiers from
// the *Config it returns, and reload swaps in a new one only when it is valid.
//
// Parse works in four steps over a yaml.Node tree rather than a plain
// yaml.Unmarshal, because every error must carry the line and the path of the
// key it concerns:
//
//  1. ${NAME} references in scalar values are expanded from the environment
//     (an unset variable is an error, $${X} is a literal ${X}); comments are
//     never touched because they are not nodes.
//  2. The tree is decoded strictly: unknown keys, repeated keys and values of
//     the wrong type are errors, and the line of every path is remembered.
//  3. Defaults are filled in for keys that are absent.
//  4. The result is validated: names, references between sections, keys that
//     do not apply to a source's or notifier's type, durations, units.
//
// A source or notifier is an envelope (Source, Notifier: name, type and what
// every kind has) and the settings of its kind, a KindConfig that the kind's
// package registers (through source.Register and notify.Register) and this
// package decodes the item's other keys into, with the same lines, defaults
// and errors as the rest. This package knows no kind's keys.
//
// All problems are collected and returned together as Errors, each printed as
// `file:line: path: message`. Default returns the built-in configuration that
// `lookout run` uses without -config, parsed from the embedded default.yaml.
package config
