// Package atomicfile replaces a file's content so that a crash at any point
// leaves the old content or the new, never a part: the data goes to a
// temporary file in the same directory, is synced, and is renamed over the
// file; then the directory is synced so that the rename is durable too.
// lookout keeps its small state files this way (log positions, baseline
// checkpoints, event segment sidecars) and rewrites pruned event segments.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path's content with data. The temporary file's name is
// path's with ".tmp" and a random suffix, so globs for path's own pattern
// do not match it.
func Write(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("creating a temporary file: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename there is nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	return commit(f, path)
}

// commit syncs and closes the written temporary file f and renames it to
// path.
func commit(f *os.File, path string) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("renaming to %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // the rename itself; best effort where directories cannot be synced
		d.Close()
	}
	return nil
}
