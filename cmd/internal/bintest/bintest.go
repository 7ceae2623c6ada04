// Package bintest builds the project's commands once per test process, for
// the tests that run the real binaries side by side.
package bintest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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

// Main runs a package's tests and removes what Build built (about 75 MB a
// package that builds the commands: make test would otherwise leave it in
// the temporary directory every run). A package's TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(bintest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	Cleanup()
	return code
}

// Cleanup removes what Build built; for a TestMain that does more than Main.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir, built = "", map[string]error{}
	}
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

// Metrics scrapes http://addr/metrics and returns each sample by its name
// and labels, sorted, as the text format writes them:
// `gated_decisions_total{decision="admit",reason="ok"}`; a histogram gives
// its _count and _sum.
func Metrics(t testing.TB, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				slices.Sort(labels)
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[strings.Replace(key, name, name+"_count", 1)] = float64(m.GetHistogram().GetSampleCount())
				out[strings.Replace(key, name, name+"_sum", 1)] = m.GetHistogram().GetSampleSum()
			case m.Untyped != nil:
				out[key] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

// Proc is a child process started by Start.
type Proc struct {
	Cmd    *exec.Cmd
	Out    *Buffer // its stderr (its log)
	Stdout *Buffer // what it told its user, each line as it came
}

// Start runs the program at path with args and returns once a line of its
// stdout contains ready. The process is killed when the test ends, if it
// still runs. Its temporary directory (TMPDIR) is the test's own, so what a
// killed process leaves there (gated -simulate's emulated scanner) goes with
// the test.
func Start(t testing.TB, path, ready string, args ...string) *Proc {
	t.Helper()
	tmp := t.TempDir() // before the kill below: cleanups run last first
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, Out: &Buffer{}, Stdout: &Buffer{}}
	cmd.Stderr = p.Out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	up := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := false
		for sc.Scan() { // to the end: a full pipe would block the child
			fmt.Fprintln(p.Stdout, sc.Text())
			if !once && strings.Contains(sc.Text(), ready) {
				once = true
				close(up)
			}
		}
	}()
	select {
	case <-up:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start:\n%s", filepath.Base(path), p.Out.String())
	}
	return p
}

// Kill9 kills the process with SIGKILL and waits for it.
func (p *Proc) Kill9() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	_ = p.Cmd.Wait()
}
