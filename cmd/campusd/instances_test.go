package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"campusgate/cmd/internal/bintest"
	"campusgate/gate/journal"
	"campusgate/sync/broker/mosquittotest"
	"campusgate/sync/gatelink"
	"campusgate/sync/store"
	"campusgate/sync/store/pgtest"
)

// TestTwoInstancesOnePostgres runs two campusd instances on one mosquitto
// (sharing the gates' messages through the shared subscription) and one
// PostgreSQL, and kills one with SIGKILL while two gates drain into them:
// every entry is stored exactly once, every fever raises one alert, and the
// gates' outboxes empty, whichever instance stored what.
func TestTwoInstancesOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	const serverPW = "campusd-server-password-01"
	gates := map[string]string{"north-1": "north-gate-password-0123", "south-1": "south-gate-password-0123"}
	// A user each: deploy/mosquitto makes the user name the client id, so
	// two instances with one user would knock each other off.
	users := map[string]string{"campusd@hz": serverPW, "campusd-2@hz": serverPW}
	for g, pw := range gates {
		users[g] = pw
	}
	mq := mosquittotest.Start(t, mosquittotest.Opts{School: "hz", Users: users,
		ExtraACL: "user campusd-2@hz\ntopic readwrite campusgate/v1/#\n"}) // as deploy/mosquitto/acl.tmpl says
	dsn := pgtest.DSN(t)
	instance := func(name, user string) []string {
		state := t.TempDir()
		pwFile := filepath.Join(state, "broker-password")
		if err := os.WriteFile(pwFile, []byte(serverPW+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"-state", state, "-db", dsn, "-school", "hz", "-instance", name, "-http", bintest.FreeAddr(t),
			"-broker", "tcp://" + mq.Addr, "-broker-user", user, "-broker-password-file", pwFile}
	}
	argsA, argsB := instance("a", "campusd@hz"), instance("b", "campusd-2@hz")
	a := startCampusd(t, argsA...)
	defer func() { _ = a.Process.Kill(); _ = a.Wait() }()
	b := startCampusd(t, argsB...)
	defer func() { _ = b.Process.Kill(); _ = b.Wait() }()

	const perGate, feverEvery = 3000, 100
	type gate struct {
		j *journal.Journal
		l *gatelink.Link
	}
	var gs []gate
	for id, pw := range gates {
		j, err := journal.Open(filepath.Join(t.TempDir(), id+".db"), &journal.Opts{GateID: id, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		dial, _ := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + mq.Addr, ClientID: id, Username: id, Password: pw, KeepAlive: time.Second})
		l, err := gatelink.New(gatelink.Opts{School: "hz", Gate: id, Dial: dial, Store: j, Logger: slog.New(slog.DiscardHandler),
			Batch: 20, Window: 4, AckTimeout: time.Second, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = l.Run(ctx) }()
		defer func() { cancel(); <-done }()
		gs = append(gs, gate{j, l})
	}
	admit := func(from, to int) {
		for i := from; i < to; i++ {
			for k, g := range gs {
				e := journal.Entry{Time: time.Now(), PersonID: fmt.Sprintf("P%d-%d", k, i), Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
				if i%feverEvery == 0 {
					e.Decision, e.Reason, e.BodyC = "deny", "fever", 38.2
				}
				if err := g.j.Append(&e); err != nil {
					t.Fatal(err)
				}
				if e.Reason == "fever" {
					g.l.Alert(e) // as the gate does: the alert and its entry are one alert on the server
				}
				g.l.Kick()
			}
		}
	}
	backlog := func() int {
		n := 0
		for _, g := range gs {
			b, _ := g.j.Backlog()
			n += b
		}
		return n
	}
	admit(0, perGate/2)
	time.Sleep(200 * time.Millisecond) // in the middle of the drain
	_ = a.Process.Signal(syscall.SIGKILL)
	_ = a.Wait()
	admit(perGate/2, perGate)
	eventually(t, "every entry acknowledged by the instance left", func() bool { return backlog() == 0 })
	// Both restarted, logging: each says what it stored when it stops.
	_ = b.Process.Signal(syscall.SIGTERM)
	_ = b.Wait()
	pb := bintest.Start(t, campusdBin, "web console on", argsB...)
	pa := bintest.Start(t, campusdBin, "web console on", argsA...)
	a, b = pa.Cmd, pb.Cmd
	admit(perGate, perGate+100)
	eventually(t, "the last entries acknowledged with both instances up", func() bool { return backlog() == 0 })
	for _, c := range []*exec.Cmd{a, b} {
		_ = c.Process.Signal(syscall.SIGTERM)
		_ = c.Wait()
	}
	// Between them they stored the last 200 entries once, both a share.
	inserted := 0
	for name, log := range map[string]*bintest.Buffer{"a": pa.Out, "b": pb.Out} {
		m := regexp.MustCompile(`Inserted:(\d+)`).FindStringSubmatch(log.String())
		if m == nil {
			t.Fatalf("instance %s logged no stats: %s", name, log.String())
		}
		n, _ := strconv.Atoi(m[1])
		t.Logf("instance %s stored %d of the last 200", name, n)
		if n == 0 {
			t.Errorf("instance %s stored none of the last 200: the shared subscription should share them", name)
		}
		inserted += n
	}
	if inserted != 200 {
		t.Errorf("the two instances stored %d of the last 200 entries", inserted)
	}

	db, err := store.Open(context.Background(), dsn, &store.Opts{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const want = perGate + 100
	for id := range gates {
		es, err := db.Entries(context.Background(), store.Query{Gate: id, Limit: 2 * want})
		if err != nil {
			t.Fatal(err)
		}
		people := map[string]bool{}
		for _, e := range es {
			people[e.PersonID] = true
		}
		if len(es) != want || len(people) != want {
			t.Fatalf("%s: the server holds %d entries of %d people, want %d each", id, len(es), len(people), want)
		}
		if g, _ := db.Gaps(context.Background(), id); len(g) != 0 {
			t.Fatalf("%s: gaps %v", id, g)
		}
	}
	alerts, err := db.Alerts(context.Background(), false, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if wantAlerts := 2 * ((want + feverEvery - 1) / feverEvery); len(alerts) != wantAlerts {
		t.Fatalf("%d alerts, want %d: one a fever", len(alerts), wantAlerts)
	}
}
