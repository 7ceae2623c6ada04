package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"campusgate/cmd/internal/bintest"
	"campusgate/gate/journal"
	"campusgate/sync/store"
)

// TestKill9System is the whole system, both processes killed: a real
// simulated gated syncing to a real campusd, people admitted continuously
// through the emulated scanner, and gated and campusd each killed with SIGKILL
// at random moments, alternately. Afterwards every entry gated answered is in
// its journal, every journal entry is on the server exactly once with no gap
// in the sequence, the outbox is empty, and the journal and the server's
// database pass their consistency checks.
//
// CAMPUSGATE_KILLS (default 8) is the number of kills of each process; raise
// it for a longer run by hand.
func TestKill9System(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills the whole system")
	}
	kills := 8
	if s := os.Getenv("CAMPUSGATE_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CAMPUSGATE_KILLS=%q: want a positive number", s)
		}
		kills = n
	}
	campusd := filepath.Join(bintest.Build(t, "campusd"), "campusd")
	state, dir := t.TempDir(), t.TempDir()
	out, err := exec.Command(campusd, "gate", "add", "-state", state, "-school", "hz-001", "-print-password", "north-1").Output()
	if err != nil {
		t.Fatalf("campusd gate add: %v", err)
	}
	httpAddr, mqttAddr := bintest.FreeAddr(t), bintest.FreeAddr(t)
	server := func() *bintest.Proc {
		return bintest.Start(t, campusd, "web console on", "-state", state, "-school", "hz-001", "-http", httpAddr,
			"-mqtt-listen", mqttAddr, "-metrics-addr", "")
	}
	// A short keepalive: a gate notices its killed server within seconds. No
	// duplicate window: the same few codes come round again and again.
	cfg := gateConfig(t, dir, mqttAddr, strings.TrimSpace(string(out)), "0s", `batch = 10
window = 2
keepalive = "1s"`)
	srv := server()
	gw := startGatedArgs(t, "-simulate", "-config", cfg, "-metrics-addr", "")
	var addr atomic.Pointer[string]
	addr.Store(&gw.addr)

	// People keep coming, whether the gate is up or not; what it answers is
	// what it promised to have recorded.
	var (
		mu       sync.Mutex
		answered = map[uint64]int{} // seq of an admission → times answered
		attempts atomic.Int64
	)
	ctx, stop := context.WithCancel(context.Background())
	presenting := make(chan struct{})
	go func() {
		defer close(presenting)
		codes := []string{"C0101", "C0102", "C0215", "C9042"}
		for i := 0; ctx.Err() == nil; i++ {
			code := codes[i%len(codes)]
			attempts.Add(1)
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			r, err := present(pctx, *addr.Load(), code, 36.5)
			cancel()
			if err != nil {
				time.Sleep(20 * time.Millisecond) // gated is down or restarting
				continue
			}
			if r.Decision == "admit" {
				mu.Lock()
				answered[r.Seq]++
				mu.Unlock()
			}
		}
	}()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	pause := func() { time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond) }
	for i := range kills {
		pause()
		gw.cmd.Process.Signal(syscall.SIGKILL)
		_ = gw.cmd.Wait()
		gw = startGatedArgs(t, "-simulate", "-config", cfg, "-metrics-addr", "")
		addr.Store(&gw.addr)
		pause()
		srv.Kill9()
		srv = server()
		t.Logf("kill %d of each done", i+1)
	}
	pause()
	stop()
	<-presenting

	// Let the gate drain, then stop both cleanly and read what they hold. The
	// last person may still be going through (a scan outlives the request
	// that typed it): quiet means waiting and drained twice, 200 ms apart.
	deadline := time.Now().Add(30 * time.Second)
	for quiet := 0; quiet < 2; time.Sleep(200 * time.Millisecond) {
		st, err := gateStatus(gw.addr)
		if err == nil && st.Backlog == 0 && st.Current.State == "ready" {
			quiet++
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog %d, state %s (%v) after 30 s\n%s\n%s", st.Backlog, st.Current.State, err, gw.out, srv.Out)
		}
	}
	for _, c := range []*exec.Cmd{gw.cmd, srv.Cmd} {
		_ = c.Process.Signal(syscall.SIGTERM)
		if err := c.Wait(); err != nil {
			t.Errorf("%s: %v", filepath.Base(c.Path), err)
		}
	}

	j, err := journal.Open(filepath.Join(dir, "j.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Check(); err != nil {
		t.Fatalf("journal after %d SIGKILLs: %v", kills, err)
	}
	if b, err := j.Backlog(); err != nil || b != 0 {
		t.Fatalf("outbox holds %d entries (%v), want 0", b, err)
	}
	inJournal, err := j.Last(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[uint64]journal.Entry{}
	for _, e := range inJournal {
		bySeq[e.Seq] = e
	}
	for seq, n := range answered {
		if e, ok := bySeq[seq]; !ok || e.Decision != "admit" {
			t.Errorf("admission seq %d answered but not in the journal (%+v)", seq, e)
		}
		if n != 1 {
			t.Errorf("seq %d answered %d times", seq, n)
		}
	}

	db, err := store.Open(context.Background(), filepath.Join(state, "campusd.db"), &store.Opts{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Check(context.Background()); err != nil {
		t.Fatalf("campusd's database after %d SIGKILLs: %v", kills, err)
	}
	var onServer []journal.Entry
	if err := db.EachEntry(context.Background(), store.Query{Gate: "north-1", OldestFirst: true}, func(e journal.Entry) error {
		onServer = append(onServer, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	type key struct {
		epoch string
		seq   uint64
	}
	seen := map[key]bool{}
	for _, e := range onServer {
		k := key{e.Epoch, e.Seq}
		if seen[k] {
			t.Errorf("%s/%d stored twice", e.Epoch, e.Seq)
		}
		seen[k] = true
	}
	for _, e := range inJournal {
		if !seen[key{e.Epoch, e.Seq}] {
			t.Errorf("journal entry %s/%d (%s %s) not on the server", e.Epoch, e.Seq, e.PersonID, e.Decision)
		}
	}
	if len(onServer) != len(inJournal) {
		t.Errorf("server holds %d entries, the journal %d", len(onServer), len(inJournal))
	}
	if gaps, err := db.Gaps(context.Background(), "north-1"); err != nil || len(gaps) != 0 {
		t.Errorf("gaps %v %v", gaps, err)
	}
	if len(answered) == 0 {
		t.Fatal("no admission was answered: the test proved nothing")
	}
	t.Logf("gated and campusd killed %d times each; %d presentations, %d admissions answered, %d journal entries, each on the server once",
		kills, attempts.Load(), len(answered), len(inJournal))
}

// statusView is the part of the guard console's GET /api/status the tests read.
type statusView struct {
	Current struct {
		State, Reason, Decision string
		Message                 struct{ ZH, EN string }
	}
	Backlog int
	Health  map[string]string
}

func gateStatus(addr string) (statusView, error) {
	var v statusView
	resp, err := http.Get("http://" + addr + "/api/status")
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return v, fmt.Errorf("GET /api/status: %s: %s", resp.Status, b)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}
