package window

import "errors"

// CompileError is a problem in a pipeline definition. Path is relative to the
// pipeline, e.g. "where", "aggregates.error_rate" or "window", so the app can
// map it to a config line.
type CompileError struct {
	Path string
	Err  error
}

// Error returns "Path: Err".
func (e *CompileError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *CompileError) Unwrap() error { return e.Err }

// CompileErrors returns every CompileError in an error returned by New, which
// joins them when a pipeline has more than one problem (errors.As finds only
// the first).
func CompileErrors(err error) []*CompileError {
	var out []*CompileError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if ce, ok := err.(*CompileError); ok {
			out = append(out, ce)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		walk(errors.Unwrap(err))
	}
	walk(err)
	return out
}
