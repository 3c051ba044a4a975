package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds Parse arbitrary YAML: it never panics, returns a config or
// errors (never both, never neither), and every error points at a line of
// the file, except the one that is about the file as a whole (an empty
// configuration), so `lookout check` can always say where to look.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(DefaultYAML())
	file := filepath.Join(f.TempDir(), "lookout.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(file, data)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", c != nil, err)
		}
		if err == nil {
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error %T %v is not a non-empty Errors", err, err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range es {
			if e.File != file || e.Msg == "" {
				t.Errorf("error without a file or message: %+v", e)
			}
			if e.Line == 0 && e.Msg == "the configuration is empty" {
				continue
			}
			if e.Line < 1 || e.Line > lines {
				t.Errorf("error %q at line %d of a %d-line file", e.Msg, e.Line, lines)
			}
		}
	})
}
