package source

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/lookout-dev/lookout/internal/atomicfile"
)

// memberFile is the file in the data directory that keeps this lookout's
// member name, created on the first start.
const memberFile = "member-id"

var memberMu sync.Mutex

// MemberName returns the name a broker source keeps in its consumer group
// across restarts (a Kafka static member id, a Redis Streams consumer):
// "<member>-<source>", where <member> is generated once per data directory
// (the host name at the first start and a random suffix) and kept in it.
// A restarted lookout thus takes back what it had, while two lookouts never
// share a name unless one's data directory was copied from the other's.
// It returns "" when dataDir is empty.
func MemberName(dataDir, source string) (string, error) {
	if dataDir == "" {
		return "", nil
	}
	memberMu.Lock()
	defer memberMu.Unlock()
	path := filepath.Join(dataDir, memberFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if id == "" {
			return "", fmt.Errorf("reading the member name: %s is empty; delete it to get a new one", path)
		}
		return id + "-" + source, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("reading the member name: %w", err)
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("generating the member name: %w", err)
	}
	host, _ := os.Hostname()
	id := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' {
			return c
		}
		return '-'
	}, host)
	if id == "" {
		id = "lookout"
	}
	id += "-" + hex.EncodeToString(r[:])
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", fmt.Errorf("creating the data directory for the member name: %w", err)
	}
	if err := atomicfile.Write(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("saving the member name: %w", err)
	}
	return id + "-" + source, nil
}
