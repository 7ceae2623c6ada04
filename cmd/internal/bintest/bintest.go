// Package bintest builds the project's commands once per test process, for
// the tests that run the real binaries side by side.
package bintest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]error{}
)

// Build builds each command of campusgate/cmd/ named (once per process) into
// one directory and returns it.
func Build(t testing.TB, names ...string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if dir == "" {
		d, err := os.MkdirTemp("", "campusgate-bin-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	for _, n := range names {
		err, ok := built[n]
		if !ok {
			if out, e := exec.Command("go", "build", "-o", filepath.Join(dir, n), "campusgate/cmd/"+n).CombinedOutput(); e != nil {
				err = fmt.Errorf("build %s: %v\n%s", n, e, out)
			}
			built[n] = err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
