// Package bintest builds the project's commands once per test process, for
// the tests that run the real binaries side by side.
package bintest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// FreeAddr is a TCP address on 127.0.0.1 that nothing listens on (yet).
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreePort is FreeAddr's port.
func FreePort(t testing.TB) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(FreeAddr(t))
	n, _ := strconv.Atoi(p)
	return n
}

// Buffer is a bytes.Buffer for a child process's output that the test reads
// while the process still writes.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *Buffer) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
