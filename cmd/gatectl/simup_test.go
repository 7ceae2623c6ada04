package main

import (
	"bufio"
	"campusgate/cmd/internal/bintest"
	"context"
	"fmt"
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
	bin := buildAll(t)
	state := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", bintest.FreePort(t))
	mqttAddr := fmt.Sprintf("127.0.0.1:%d", bintest.FreePort(t))
	cp := bintest.FreePort(t)
	for bintest.FreePort(t) == cp+1 { // the second gate's console takes the next port
	}
	cmd := exec.Command(filepath.Join(bin, "gatectl"), "sim", "up", "-state", state, "-gates", "2", "-http", httpAddr, "-mqtt", mqttAddr,
		"-console-port", fmt.Sprint(cp))
	cmd.Env = append(os.Environ(), "CAMPUSGATE_BIN="+bin)
	var logs bintest.Buffer
	cmd.Stderr = &logs
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := false
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if !once && strings.Contains(sc.Text(), "campusgate is running") {
				once = true
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(90 * time.Second):
		t.Fatalf("sim up did not come up:\n%s", logs.String())
	}

	present := func(gate, code string, temp float64) string {
		t.Helper()
		c := exec.Command(filepath.Join(bin, "gatectl"), "sim", "present", "-state", state, "-gate", gate, "-code", code, "-temp", fmt.Sprint(temp))
		b, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("present %s at %s: %v\n%s\n%s", code, gate, err, b, logs.String())
		}
		return string(b)
	}
	if got := present("north-1", "C0101", 36.6); !strings.Contains(got, "admit (ok)") {
		t.Fatalf("north-1: %s", got)
	}
	if got := present("south-1", "C0215", 38.4); !strings.Contains(got, "deny (fever)") {
		t.Fatalf("south-1: %s", got)
	}
	// The console, as the admin sim up made (its password in the state directory).
	accounts, err := os.ReadFile(filepath.Join(state, "console-accounts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var adminPW string
	for _, line := range strings.Split(string(accounts), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "admin" {
			adminPW = f[2]
		}
	}
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
