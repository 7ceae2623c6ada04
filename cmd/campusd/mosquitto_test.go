package main

import (
	"campusgate/cmd/internal/bintest"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/broker/mosquittotest"
	"campusgate/sync/gatelink"
	"campusgate/sync/store"
)

// TestWithMosquitto runs campusd against a real mosquitto (deploy/mosquitto's
// configuration) and takes the broker down while the gate admits 1,000
// people, then campusd: everything arrives, once.
func TestWithMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	const gatePW, serverPW = "north-gate-password-0123", "campusd-server-password-01"
	mq := mosquittotest.Start(t, mosquittotest.Opts{School: "hz", Users: map[string]string{"north-1": gatePW, "campusd@hz": serverPW}})
	state := t.TempDir()
	pwFile := filepath.Join(state, "broker-password")
	if err := os.WriteFile(pwFile, []byte(serverPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := bintest.FreeAddr(t)
	args := []string{"-state", state, "-school", "hz", "-http", httpAddr, "-broker", "tcp://" + mq.Addr,
		"-broker-user", "campusd@hz", "-broker-password-file", pwFile}
	cmd := startCampusd(t, args...)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Opts{GateID: "north-1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	dial, _ := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + mq.Addr, ClientID: "north-1", Username: "north-1", Password: gatePW, KeepAlive: time.Second})
	l, err := gatelink.New(gatelink.Opts{School: "hz", Gate: "north-1", Dial: dial, Store: j, Logger: slog.New(slog.DiscardHandler),
		AckTimeout: 2 * time.Second, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithCancel(context.Background())
	ldone := make(chan struct{})
	go func() { defer close(ldone); _ = l.Run(lctx) }()
	defer func() { lcancel(); <-ldone }()
	eventually(t, "gate connected to mosquitto", func() bool { return l.Stats().Connected })

	admit := func(n int, from int) {
		for i := range n {
			e := journal.Entry{Time: time.Now(), PersonID: fmt.Sprint("P", from+i), Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
			if err := j.Append(&e); err != nil {
				t.Fatal(err)
			}
			l.Kick()
		}
	}
	admit(200, 0)
	eventually(t, "first 200 acknowledged", func() bool { b, _ := j.Backlog(); return b == 0 })

	mq.Stop() // the broker goes down; the gate goes on admitting
	admit(1000, 200)
	mq.Restart(t)
	eventually(t, "1,000 admitted while the broker was down acknowledged", func() bool { b, _ := j.Backlog(); return b == 0 })

	// And campusd killed in the middle of a drain.
	admit(2000, 1200)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	cmd = startCampusd(t, args...)
	eventually(t, "everything acknowledged after campusd came back", func() bool { b, _ := j.Backlog(); return b == 0 })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()

	db, err := store.Open(context.Background(), filepath.Join(state, "campusd.db"), &store.Opts{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	es, _ := db.Entries(context.Background(), store.Query{Gate: "north-1", Limit: 10_000})
	people := map[string]bool{}
	for _, e := range es {
		people[e.PersonID] = true
	}
	if len(es) != 3200 || len(people) != 3200 {
		t.Fatalf("server holds %d entries of %d people, want 3200 each", len(es), len(people))
	}
	if g, _ := db.Gaps(context.Background(), "north-1"); len(g) != 0 {
		t.Fatalf("gaps %v", g)
	}
}
