package main

import (
	"bytes"
	"campusgate/cmd/internal/bintest"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"campusgate/cmd/internal/service/servicetest"
	"campusgate/gate/journal"
)

var gatedBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gated-test")
	if err != nil {
		panic(err)
	}
	gatedBin = filepath.Join(dir, "gated")
	if out, err := exec.Command("go", "build", "-race", "-o", gatedBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gated: %v\n%s", err, out)
		os.Exit(1)
	}
	code := bintest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	cmd  *exec.Cmd
	addr string
	out  *bintest.Buffer // its stderr
}

// startGated runs a simulated gated on journal and waits for its console.
func startGated(t *testing.T, journalPath string) *proc {
	t.Helper()
	return startGatedArgs(t, "-simulate", "-journal", journalPath)
}

// startGatedArgs runs gated with args and a free console address, and waits
// for its console.
func startGatedArgs(t *testing.T, args ...string) *proc {
	t.Helper()
	addr := bintest.FreeAddr(t)
	p := bintest.Start(t, gatedBin, "guard console on", append(args, "-listen", addr)...)
	return &proc{cmd: p.Cmd, addr: addr, out: p.Out}
}

type presentResult struct {
	Decision string  `json:"decision"`
	Reason   string  `json:"reason"`
	Seq      uint64  `json:"seq"`
	BodyC    float64 `json:"body_c"`
	Message  struct{ ZH, EN string }
}

func present(ctx context.Context, addr, code string, temp float64) (presentResult, error) {
	var r presentResult
	body := fmt.Sprintf(`{"code": %q, "temperature_c": %v}`, code, temp)
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/sim/present", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return r, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return r, json.Unmarshal(b, &r)
}

func TestSimulatedGate(t *testing.T) {
	dir := t.TempDir()
	p := startGated(t, filepath.Join(dir, "j.db"))
	ctx := context.Background()
	for _, tc := range []struct {
		code     string
		temp     float64
		decision string
		reason   string
	}{
		{"C0101", 36.6, "admit", "ok"},
		{"C0215", 38.4, "deny", "fever"},
		{"NOBODY", 36.6, "deny", "not_on_roster"},
		{"M0101", 36.6, "deny", "role_not_allowed"},
	} {
		r, err := present(ctx, p.addr, tc.code, tc.temp)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.code, err, p.out)
		}
		if r.Decision != tc.decision || r.Reason != tc.reason || r.Message.ZH == "" {
			t.Errorf("%s at %.1f: %+v, want %s/%s", tc.code, tc.temp, r, tc.decision, tc.reason)
		}
	}
	// The console shows the decisions.
	resp, err := http.Get("http://" + p.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(page, []byte("门卫控制台")) || !bytes.Contains(page, []byte("C0101")) && !bytes.Contains(page, []byte("P20260101")) {
		t.Errorf("console page lacks the decisions:\n%s", page)
	}
	// A clean stop releases everything and leaves a consistent journal.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("gated exit: %v\n%s", err, p.out)
	}
	j, err := journal.Open(filepath.Join(dir, "j.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Check(); err != nil {
		t.Fatal(err)
	}
	if n, _ := j.Backlog(); n != 4 {
		t.Errorf("journal holds %d entries, want 4", n)
	}
}

// TestKill9 kills a real gated with SIGKILL at random moments while people are
// being admitted: every admission it answered must be in the journal exactly
// once, and the file must pass bbolt's consistency check.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes in a loop")
	}
	dir := t.TempDir()
	jpath := filepath.Join(dir, "j.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	admitted := map[string]uint64{} // epoch:seq → seen
	rounds := 6
	for round := range rounds {
		p := startGated(t, jpath)
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan presentResult, 100)
		go func() {
			defer close(got)
			for i := 0; ctx.Err() == nil; i++ {
				r, err := present(ctx, p.addr, []string{"C0101", "C0102", "C0215", "C9042"}[i%4], 36.5)
				if err != nil {
					return
				}
				got <- r
			}
		}()
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
		cancel()
		n := 0
		for r := range got {
			if r.Decision == "admit" {
				key := fmt.Sprintf("%d", r.Seq)
				admitted[key]++
				n++
			}
		}
		t.Logf("round %d: %d admissions answered before SIGKILL", round, n)
	}
	j, err := journal.Open(jpath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Check(); err != nil {
		t.Fatalf("journal after %d SIGKILLs: %v", rounds, err)
	}
	entries, err := j.Pending(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	inJournal := map[uint64]journal.Entry{}
	for _, e := range entries {
		if _, dup := inJournal[e.Seq]; dup {
			t.Fatalf("seq %d twice", e.Seq)
		}
		inJournal[e.Seq] = e
	}
	total := 0
	for key, n := range admitted {
		var seq uint64
		fmt.Sscan(key, &seq)
		e, ok := inJournal[seq]
		if !ok || e.Decision != "admit" {
			t.Errorf("admission seq %d answered but not in the journal (%+v)", seq, e)
		}
		if n != 1 {
			t.Errorf("seq %d answered %d times", seq, n)
		}
		total++
	}
	if total == 0 {
		t.Fatal("no admission was answered: the test proved nothing")
	}
	t.Logf("%d answered admissions, %d journal entries, all present once", total, len(entries))
}

func TestBadConfigExits125(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gated.toml")
	os.WriteFile(cfg, []byte("gate_id = \"g1\"\n[temperature]\nthreshold_c = 42.0\n"), 0o644)
	cmd := exec.Command(gatedBin, "-config", cfg)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 125 {
		t.Fatalf("exit %v, want 125\n%s", err, out)
	}
	if !regexp.MustCompile(`temperature\.threshold_c`).Match(out) {
		t.Errorf("message does not name the key:\n%s", out)
	}
}

// TestGatedTellsSystemd: run as a Type=notify unit with a watchdog (as
// gated.service does), gated says READY once its console serves, pings the
// watchdog while its flow and journal answer, and says STOPPING on SIGTERM.
func TestGatedTellsSystemd(t *testing.T) {
	got := servicetest.Listen(t, "400000")
	p := startGated(t, filepath.Join(t.TempDir(), "j.db"))
	want := func(prefix string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case m := <-got:
				if strings.HasPrefix(m, prefix) {
					return
				}
			case <-timeout:
				t.Fatalf("gated sent no %s to systemd:\n%s", prefix, p.out.String())
			}
		}
	}
	want("READY=1")
	want("WATCHDOG=1")
	want("WATCHDOG=1")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	want("STOPPING=1")
}
