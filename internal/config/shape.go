package config

import (
	"fmt"
	"slices"
	"strings"
)

// DefaultBaseline is how many earlier windows a group's baseline holds when
// a pipeline leaves baseline zero.
const DefaultBaseline = 10

// ShapeError is one problem with the shape of a pipeline: its window, its
// grouping, its late mode and its baseline. Key is relative to the pipeline
// ("window", "group_by[1]"), so that it maps to a config line.
type ShapeError struct {
	Key string
	Msg string
}

// Error returns Msg; the key is where it is reported.
func (e *ShapeError) Error() string { return e.Msg }

// ShapeErrors returns every problem with the pipeline's shape. Config
// validation and the window engine (window.Compile) both judge a pipeline by
// it, so that a pipeline built in code is held to the same rules, in the
// same words, as one read from a file.
func (pl *Pipeline) ShapeErrors() []*ShapeError {
	var errs []*ShapeError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ShapeError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for j, g := range pl.GroupBy {
		if strings.TrimSpace(g) == "" {
			bad(fmt.Sprintf("group_by[%d]", j), "must not be empty")
		}
		if slices.Index(pl.GroupBy, g) < j {
			bad(fmt.Sprintf("group_by[%d]", j), "%q is repeated", g)
		}
	}
	w := pl.Window
	switch {
	case w.Count < 0:
		bad("window", "count must be more than 0")
	case w.Count > 0 && (w.Size != 0 || w.Every != 0):
		bad("window", "a window has either count or size/every, not both")
	case w.Count > 0:
	case w.Size <= 0:
		bad("window", "size must be more than 0")
	case w.Every < 0:
		bad("window", "every must be more than 0")
	case w.Every > w.Size:
		bad("window", "every %s must not be longer than size %s", shortDuration(w.Every), shortDuration(w.Size))
	case w.Every > 0 && w.Size%w.Every != 0:
		bad("window", "size %s must be a multiple of every %s", shortDuration(w.Size), shortDuration(w.Every))
	}
	switch pl.Late {
	case "", "drop", "update":
	default:
		bad("late", "late must be drop or update, got %q", pl.Late)
	}
	if pl.MinBaseline > 0 && pl.MinBaseline > max(pl.Baseline, DefaultBaseline*boolInt(pl.Baseline == 0)) {
		bad("min_baseline", "min_baseline %d is more than baseline", pl.MinBaseline)
	}
	return errs
}
