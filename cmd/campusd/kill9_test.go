package main

import (
	"campusgate/cmd/internal/bintest"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/gatelink"
	"campusgate/sync/store"
	"campusgate/sync/store/pgtest"
)

var campusdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "campusd-test")
	if err != nil {
		panic(err)
	}
	campusdBin = filepath.Join(dir, "campusd")
	if out, err := exec.Command("go", "build", "-o", campusdBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building campusd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := pgtest.Main(m)
	bintest.Cleanup()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startCampusd runs the real binary and waits for its web console line.
func startCampusd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return bintest.Start(t, campusdBin, "web console on", args...).Cmd
}

// TestKill9DuringIngest kills campusd with SIGKILL again and again while a
// gate drains its backlog into it: in the end every entry is on the server
// exactly once and the gate's outbox is empty.
func TestKill9DuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	state := t.TempDir()
	password := addGate(t, state)
	httpAddr, mqttAddr := bintest.FreeAddr(t), bintest.FreeAddr(t)
	args := []string{"-state", state, "-school", "hz", "-http", httpAddr, "-mqtt-listen", mqttAddr}

	const n = 10_000
	jdir := t.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "campusd-kill9-"); err == nil {
			jdir = d
			t.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	j, err := journal.Open(filepath.Join(jdir, "j.db"), &journal.Opts{GateID: "north-1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := range n {
		e := journal.Entry{Time: time.Now(), PersonID: fmt.Sprint("P", i%300), Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
		if err := j.Append(&e); err != nil {
			t.Fatal(err)
		}
	}

	cmd := startCampusd(t, args...)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	dial, _ := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + mqttAddr, ClientID: "north-1", Username: "north-1", Password: password, KeepAlive: time.Second})
	l, err := gatelink.New(gatelink.Opts{School: "hz", Gate: "north-1", Dial: dial, Store: j, Logger: slog.New(slog.DiscardHandler),
		Batch: 10, Window: 2, AckTimeout: time.Second, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithCancel(context.Background())
	ldone := make(chan struct{})
	go func() { defer close(ldone); _ = l.Run(lctx) }()
	defer func() { lcancel(); <-ldone }()

	kills := 0
	for kills < 5 {
		time.Sleep(time.Duration(150+rand.IntN(400)) * time.Millisecond)
		if b, _ := j.Backlog(); b == 0 {
			break
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		kills++
		cmd = startCampusd(t, args...)
	}
	eventually(t, "backlog drained after the kills", func() bool { b, _ := j.Backlog(); return b == 0 })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()

	db, err := store.Open(context.Background(), filepath.Join(state, "campusd.db"), &store.Opts{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	es, err := db.Entries(context.Background(), store.Query{Gate: "north-1", Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, e := range es {
		if seen[e.Seq] {
			t.Fatalf("seq %d stored twice", e.Seq)
		}
		seen[e.Seq] = true
	}
	if len(es) != n {
		t.Fatalf("server holds %d entries, want %d (killed %d times)", len(es), n, kills)
	}
	if gaps, _ := db.Gaps(context.Background(), "north-1"); len(gaps) != 0 {
		t.Fatalf("gaps %v", gaps)
	}
	if err := db.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	t.Logf("campusd killed %d times during the drain; %d entries stored once each; the gate connected %d times and published %d+%d entry messages", kills, len(es), st.Connects, st.Sent, st.Resent)
}

// TestBrokerDownWhileAdmitting: the school server (and its broker) is down
// while a gate admits 1,000 people; when it returns, all 1,000 are stored,
// each once.
func TestBrokerDownWhileAdmitting(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	state := t.TempDir()
	password := addGate(t, state)
	httpAddr, mqttAddr := bintest.FreeAddr(t), bintest.FreeAddr(t)
	args := []string{"-state", state, "-school", "hz", "-http", httpAddr, "-mqtt-listen", mqttAddr}
	cmd := startCampusd(t, args...)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Opts{GateID: "north-1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	dial, _ := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + mqttAddr, ClientID: "north-1", Username: "north-1", Password: password, KeepAlive: time.Second})
	l, err := gatelink.New(gatelink.Opts{School: "hz", Gate: "north-1", Dial: dial, Store: j, Logger: slog.New(slog.DiscardHandler),
		AckTimeout: 2 * time.Second, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithCancel(context.Background())
	ldone := make(chan struct{})
	go func() { defer close(ldone); _ = l.Run(lctx) }()
	defer func() { lcancel(); <-ldone }()
	eventually(t, "gate connected", func() bool { return l.Stats().Connected })

	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	const n = 1000
	for i := range n { // the gate goes on admitting, journal first
		e := journal.Entry{Time: time.Now(), PersonID: fmt.Sprint("P", i), Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
		if err := j.Append(&e); err != nil {
			t.Fatal(err)
		}
		l.Kick()
	}
	if b, _ := j.Backlog(); b != n {
		t.Fatalf("backlog %d while the server is down, want %d", b, n)
	}
	cmd = startCampusd(t, args...)
	eventually(t, "all 1,000 acknowledged after the server returned", func() bool { b, _ := j.Backlog(); return b == 0 })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	db, err := store.Open(context.Background(), filepath.Join(state, "campusd.db"), &store.Opts{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	es, _ := db.Entries(context.Background(), store.Query{Gate: "north-1", Limit: 10_000})
	if len(es) != n {
		t.Fatalf("server holds %d entries, want %d", len(es), n)
	}
}
