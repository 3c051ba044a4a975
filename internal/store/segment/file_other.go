//go:build !linux

package segment

import "os"

// createSegmentFile creates a new segment file for writing, through the
// page cache: O_DIRECT is Linux's.
func createSegmentFile(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	return f, false, err
}

// openSegmentRead opens a segment file for reading.
func openSegmentRead(path string) (*os.File, error) { return os.Open(path) }
