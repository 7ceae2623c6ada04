package journal

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv switches the test binary into a child process for TestKill9 and
// TestSecondOpenOtherProcess: "append:<path>" or "hold:<path>".
const helperEnv = "JOURNAL_TEST_HELPER"

// TestHelperProcess is not a test: it is the child's body.
func TestHelperProcess(t *testing.T) {
	mode, path, ok := strings.Cut(os.Getenv(helperEnv), ":")
	if !ok {
		t.Skip("helper process only")
	}
	j, err := Open(path, &Opts{GateID: "north-1", Timeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Stdout.WriteString("ready\n")
	switch mode {
	case "hold":
		time.Sleep(time.Minute)
	case "append":
		for {
			e := sampleEntry(time.Now())
			e.PersonID = "kill9"
			if err := j.Append(e); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
			// One write per line: pipe writes under PIPE_BUF are atomic, so
			// the parent never sees a torn number.
			os.Stdout.WriteString(strconv.FormatUint(e.Seq, 10) + "\n")
		}
	}
	os.Exit(0)
}

type child struct {
	cmd   *exec.Cmd
	lines chan string
}

// startHelper starts the child; with waitReady it returns once the child has
// opened the journal.
func startHelper(t *testing.T, mode, path string, waitReady bool) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode+":"+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1<<16)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	if !waitReady {
		return c
	}
	select {
	case l := <-c.lines:
		if l != "ready" {
			t.Fatalf("helper said %q", l)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("helper did not start")
	}
	return c
}

func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

func TestSecondOpenOtherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := filepath.Join(t.TempDir(), "j.db")
	c := startHelper(t, "hold", path, true)
	defer c.kill()
	start := time.Now()
	_, err := Open(path, &Opts{GateID: "north-1", Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("open while another process holds it: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
	c.kill()
	MustOpenAt(t, path, nil)
}

// TestKill9 SIGKILLs a child appending in a loop at random moments: every seq
// the child printed (so Append had returned) must be in the journal exactly
// once, seqs must be strictly increasing and gapless, and the file must pass
// bbolt's check.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes in a loop")
	}
	path := filepath.Join(t.TempDir(), "j.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	var printed []uint64
	for round := range 20 {
		// Every fourth round the delay runs from the child's start, not from
		// its Open, so some kills land in process start-up or in Open itself
		// (the first round then kills a file being created).
		early := round%4 == 0
		c := startHelper(t, "append", path, !early)
		time.Sleep(time.Duration(5+rng.IntN(76)) * time.Millisecond)
		c.kill()
		n := 0
		for l := range c.lines {
			if l == "ready" && early {
				continue
			}
			s, err := strconv.ParseUint(l, 10, 64)
			if err != nil {
				t.Fatalf("round %d: child printed %q", round, l)
			}
			if len(printed) > 0 && s <= printed[len(printed)-1] {
				t.Fatalf("round %d: seq %d after %d", round, s, printed[len(printed)-1])
			}
			printed = append(printed, s)
			n++
		}
		t.Logf("round %d (early %v): %d appends acknowledged before SIGKILL", round, early, n)
	}
	if len(printed) == 0 {
		t.Fatal("the child never appended")
	}
	j := MustOpenAt(t, path, nil)
	if err := j.Check(); err != nil {
		t.Fatalf("check after SIGKILLs: %v", err)
	}
	m, _ := j.Meta()
	count := map[uint64]int{}
	prev := uint64(0)
	err := j.Entries(time.Time{}, time.Time{}, func(e Entry) error {
		if e.Seq != prev+1 || e.PersonID != "kill9" || e.Epoch != m.Epoch {
			return fmt.Errorf("entry seq %d after %d: %+v", e.Seq, prev, e)
		}
		prev = e.Seq
		count[e.Seq]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if prev != m.LastSeq {
		t.Fatalf("entries end at %d, last seq %d", prev, m.LastSeq)
	}
	for _, s := range printed {
		if count[s] != 1 {
			t.Errorf("acknowledged seq %d is in the journal %d times", s, count[s])
		}
	}
	if b, _ := j.Backlog(); b != int(m.LastSeq) {
		t.Errorf("outbox %d, entries %d", b, m.LastSeq)
	}
	t.Logf("%d acknowledged appends, %d in the journal", len(printed), m.LastSeq)
}
