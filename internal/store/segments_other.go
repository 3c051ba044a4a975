//go:build !linux

package store

import "os"

// createSegmentFile creates a new segment file for writing, through the
// page cache: O_DIRECT is Linux's.
func createSegmentFile(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	return f, false, err
}
