package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openPositions(t *testing.T, dir string) *FilePositions {
	t.Helper()
	p, err := OpenPositions(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestFilePositions(t *testing.T) {
	tests := []struct {
		name    string
		source  string
		file    string // what is on disk before the start, under the source's file name
		save    string // saved in the first lifetime, "" for nothing
		want    string // what the next lifetime loads
		wantErr string
	}{
		{name: "nothing saved", source: "app", want: ""},
		{name: "saved and loaded after a restart", source: "app", save: `{"offset":12}`, want: `{"offset":12}`},
		{name: "a later save replaces the file", source: "app", file: `{"offset":1}`, save: `{"offset":2}`, want: `{"offset":2}`},
		{name: "a name with a slash stays inside the directory", source: "logs/app", save: `{"offset":3}`, want: `{"offset":3}`},
		{name: "a corrupt file is an error naming it", source: "app", file: `{"offset":`, wantErr: "app.json is not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "positions")
			p := openPositions(t, dir)
			if tt.file != "" {
				if err := os.WriteFile(p.file(tt.source), []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.save != "" {
				p.Save(tt.source, []byte(tt.save))
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := openPositions(t, dir).Load(tt.source)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load = %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("Load = %q, %v; want %q", got, err, tt.want)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp") || !strings.HasSuffix(e.Name(), ".json") {
					t.Errorf("left over in the positions directory: %s", e.Name())
				}
			}
		})
	}
}

// TestFilePositionsLoadSeesUnwrittenSave: a source rebuilt by a reload
// continues from the position its predecessor saved a moment ago, before
// the periodic write.
func TestFilePositionsLoadSeesUnwrittenSave(t *testing.T) {
	dir := t.TempDir()
	p := openPositions(t, dir)
	p.Save("app", []byte(`{"offset":7}`))
	if got, err := p.Load("app"); err != nil || string(got) != `{"offset":7}` {
		t.Errorf("Load = %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "app.json")); !os.IsNotExist(err) {
		t.Errorf("written before Flush: %v", err)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "app.json")); err != nil || string(data) != `{"offset":7}` {
		t.Errorf("after Flush the file holds %q, %v", data, err)
	}
}

// TestFilePositionsFlushError: a position that cannot be written stays due.
func TestFilePositionsFlushError(t *testing.T) {
	dir := t.TempDir()
	p := openPositions(t, dir)
	p.Save("app", []byte(`{"offset":1}`))
	// A directory in the file's place: the rename fails, even for root.
	blocker := filepath.Join(dir, "app.json")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := p.Flush()
	if err == nil || !strings.Contains(err.Error(), "saving the position of source app") {
		t.Fatalf("Flush onto a directory = %v", err)
	}
	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(blocker); err != nil || string(data) != `{"offset":1}` {
		t.Errorf("the retried write holds %q, %v", data, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left in the directory: %v (the failed write's temporary file should be gone)", entries)
	}
}
