package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// TestExamplesPassCheck runs `lookout check` on every example config, with
// each ${NAME} it uses set to a placeholder, and requires a README beside it.
func TestExamplesPassCheck(t *testing.T) {
	var files []string
	err := filepath.WalkDir("../../examples", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) < 6 {
		t.Fatalf("found %d example configs (%v), want at least 6", len(files), err)
	}
	for _, f := range files {
		t.Run(strings.TrimPrefix(f, "../../"), func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), "README.md")); err != nil {
				t.Errorf("no README.md beside %s", f)
			}
			cmd := exec.Command(binary, "check", "-config", f)
			cmd.Env = os.Environ()
			for _, m := range envRef.FindAllStringSubmatch(string(mustRead(t, f)), -1) {
				cmd.Env = append(cmd.Env, m[1]+"=placeholder-"+strings.ToLower(m[1]))
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("lookout check %s: %v\n%s", f, err, out)
			}
		})
	}
}
