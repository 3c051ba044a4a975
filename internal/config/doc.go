// Package config is the YAML schema of CONTRACT.md. Load reads a file, expands
// ${ENV} references (an unset variable is an error), decodes strictly (unknown
// keys are errors), fills defaults and validates; every error carries the file
// and line it refers to, as `file:line: message`.
package config
