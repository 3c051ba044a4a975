package config

import (
	"fmt"
	"strings"
)

// Error is one problem at a place in a configuration file. Line is 0 when the
// problem belongs to the file as a whole.
type Error struct {
	File string
	Line int
	Msg  string
}

// Error formats the problem as "FILE:LINE: MSG", or "FILE: MSG" without a
// line, the form editors and CI annotators understand.
func (e Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Errors is every problem found in a file, in file order. Parse returns all of
// them at once so that a user fixes a config in one round, not one per error.
type Errors []Error

// Error joins the problems with newlines.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
