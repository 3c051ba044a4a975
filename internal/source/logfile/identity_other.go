//go:build !unix

package logfile

import "os"

// identify reports no identity where the platform gives no device and inode:
// a saved position is then never trusted, and start applies.
func identify(os.FileInfo) (fileID, bool) { return fileID{}, false }
