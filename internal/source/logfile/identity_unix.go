//go:build unix

package logfile

import (
	"os"
	"syscall"
)

// identify returns the device and inode of the file fi describes: what tells
// the file a saved position was in from another one at the same path.
func identify(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}, true //nolint:unconvert // int32 on some platforms
}
