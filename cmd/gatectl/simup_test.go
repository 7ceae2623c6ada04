package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/console"
)

// TestSimUpEndToEnd is make run as a test: the real campusd and two real
// simulated gateds started by gatectl sim up; people presented at both gates
// reach the server; a signed remote-open command from the server opens a gate;
// Ctrl-C stops everything cleanly.
func TestSimUpEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole system")
	}
	sys := startSim(t, 2)
	bin, httpAddr, logs, cmd := sys.bin, sys.http, sys.logs, sys.cmd
	if got := sys.present(t, "north-1", "C0101", 36.6); !strings.Contains(got, "admit (ok)") {
		t.Fatalf("north-1: %s", got)
	}
	if got := sys.present(t, "south-1", "C0215", 38.4); !strings.Contains(got, "deny (fever)") {
		t.Fatalf("south-1: %s", got)
	}
	// The console, as the admin sim up made (its password in the state directory).
	adminPW := sys.accounts["admin"]
	if !strings.Contains(logs.String(), adminPW) {
		t.Errorf("sim up does not print the admin's password")
	}
	cl := console.NewClient("http://" + httpAddr)
	if err := cl.Login(context.Background(), "admin", adminPW); err != nil {
		t.Fatal(err)
	}
	entries := func() []journal.Entry {
		var d struct{ Entries []journal.Entry }
		if err := cl.Get(context.Background(), "/api/entries", &d); err != nil {
			t.Fatal(err)
		}
		return d.Entries
	}
	waitFor := func(what string, ok func([]journal.Entry) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok(entries()) {
			if time.Now().After(deadline) {
				t.Fatalf("server never showed %s: %+v\n%s", what, entries(), logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("both people", func(es []journal.Entry) bool {
		n := 0
		for _, e := range es {
			if e.PersonID == "P20260101" || (e.PersonID == "P20260215" && e.Reason == "fever") {
				n++
			}
		}
		return n == 2
	})

	// A signed remote opening, from the console (gatectl school open) to north-1.
	open := exec.Command(filepath.Join(bin, "gatectl"), "school", "-server", "http://"+httpAddr, "-user", "admin", "open", "north-1", "-reason", "救护车进校 ambulance")
	open.Stdin = strings.NewReader(adminPW + "\n")
	if out, err := open.CombinedOutput(); err != nil {
		t.Fatalf("gatectl school open: %v\n%s", err, out)
	}
	waitFor("the remote opening", func(es []journal.Entry) bool {
		for _, e := range es {
			if e.GateID == "north-1" && e.Reason == "remote_open" && e.Guard != nil && e.Guard.ID == "admin" {
				return true
			}
		}
		return false
	})
	// And the CLI reads the log back.
	list := exec.Command(filepath.Join(bin, "gatectl"), "school", "-server", "http://"+httpAddr, "entries", "-gate", "south-1")
	list.Env = append(os.Environ(), "CAMPUSGATE_PASSWORD="+adminPW)
	if out, err := list.CombinedOutput(); err != nil || !strings.Contains(string(out), "张梓涵") || !strings.Contains(string(out), "fever") {
		t.Fatalf("gatectl school entries: %v\n%s", err, out)
	}

	// Ctrl-C: everything stops, cleanly.
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sim up exit: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("sim up did not stop\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "gated stopped") || !strings.Contains(logs.String(), "campusd stopped") {
		t.Errorf("not everything stopped cleanly:\n%s", logs.String())
	}
}
