package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/gatelink"
	"campusgate/sync/store"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestCampusdWithAGate provisions a gate, runs campusd, connects the gate's
// real link with the provisioned password, and finds its entries, its fever
// alert and its registry record through the API.
func TestCampusdWithAGate(t *testing.T) {
	state := t.TempDir()
	var out, errb syncBuffer
	if code := run(context.Background(), []string{"gate", "add", "-state", state, "-school", "hz", "-print-password", "north-1"}, &out, &errb); code != 0 {
		t.Fatalf("gate add: %d %s", code, errb.String())
	}
	password := strings.TrimSpace(out.String())
	if code := run(context.Background(), []string{"gate", "add", "-state", state, "-school", "hz", "report"}, &out, &errb); code == 0 {
		t.Fatal("gate id 'report' accepted")
	}

	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var sout syncBuffer
	go func() {
		done <- run(ctx, []string{"-state", state, "-school", "hz", "-http", httpAddr, "-mqtt-listen", mqttAddr}, &sout, &errb)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("campusd exit %d\n%s", code, errb.String())
		}
	}()
	eventually(t, "campusd up", func() bool { return strings.Contains(sout.String(), "web console on") })

	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Opts{GateID: "north-1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := range 25 {
		e := journal.Entry{Time: time.Now(), PersonID: "P1", Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
		if i == 24 {
			e.Decision, e.Reason, e.BodyC = "deny", "fever", 38.5
		}
		if err := j.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	dial, _ := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + mqttAddr, ClientID: "north-1", Username: "north-1", Password: password})
	l, err := gatelink.New(gatelink.Opts{School: "hz", Gate: "north-1", Dial: dial, Store: j, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithCancel(context.Background())
	ldone := make(chan struct{})
	go func() { defer close(ldone); _ = l.Run(lctx) }()
	defer func() { lcancel(); <-ldone }()
	eventually(t, "entries acknowledged", func() bool { n, _ := j.Backlog(); return n == 0 })

	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var es []journal.Entry
	get("/api/entries?gate=north-1&limit=100", &es)
	if len(es) != 25 {
		t.Fatalf("%d entries on the server", len(es))
	}
	var alerts []store.Alert
	get("/api/alerts?open=1", &alerts)
	if len(alerts) != 1 || alerts[0].Alert.BodyC != 38.5 {
		t.Fatalf("alerts %+v", alerts)
	}
	eventually(t, "gate online in the registry", func() bool {
		var gs []store.Gate
		get("/api/gates", &gs)
		return len(gs) == 1 && gs[0].Online && gs[0].ID == "north-1"
	})
	resp, err := http.Get("http://" + httpAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page := new(bytes.Buffer)
	page.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(page.String(), "north-1") || !strings.Contains(page.String(), "学校服务器") {
		t.Errorf("overview page lacks the gate")
	}
	// A wrong password is refused by the broker.
	bad, _ := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + mqttAddr, ClientID: "north-1", Username: "north-1", Password: "guess-guess-guess"})
	if c, err := bad(context.Background(), gatelink.Will{}); err == nil {
		c.Close()
		t.Error("wrong gate password accepted")
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
