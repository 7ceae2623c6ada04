package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/broker/mochitest"
	"campusgate/sync/broker/mosquittotest"
	"campusgate/sync/ingest"
	"campusgate/sync/store"
	"campusgate/sync/wire"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestGatedSyncs runs a simulated gated with [sync] against an in-process
// broker whose inline client plays the school server: a person presented at
// the gate arrives on the server, is acknowledged, and a fever raises an
// alert.
func TestGatedSyncs(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{} // person → reason
	alerts := 0
	srv, addr := ackingBroker(t, func(e journal.Entry) {
		mu.Lock()
		got[e.PersonID] = e.Reason
		mu.Unlock()
	})
	_ = srv.Subscribe(wire.Root+"/+/+/alert", 2, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		mu.Lock()
		alerts++
		mu.Unlock()
	})
	var cfgVersion uint64
	_ = srv.Subscribe(wire.Root+"/+/+/telemetry", 3, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		if tm, err := wire.DecodeTelemetry(pk.Payload); err == nil {
			mu.Lock()
			cfgVersion = tm.ConfigVersion
			mu.Unlock()
		}
	})

	cfg := syncConfig(t, t.TempDir(), addr)
	p := startGatedArgs(t, "-simulate", "-config", cfg)
	ctx := context.Background()
	if r, err := present(ctx, p.addr, "C0101", 36.6); err != nil || r.Decision != "admit" {
		t.Fatalf("present: %+v %v\n%s", r, err, p.out)
	}
	if r, err := present(ctx, p.addr, "C0215", 38.6); err != nil || r.Reason != "fever" {
		t.Fatalf("present fever: %+v %v", r, err)
	}
	// The school raises the threshold: from the next person on, 37.6 °C passes.
	cfgMsg := wire.Encode(wire.Config{V: 1, Version: 7, TOML: "[temperature]\nthreshold_c = 37.8\n"})
	if err := srv.Publish(wire.GateTopic("hz-001", "north-1", wire.KindConfig), cfgMsg, false, 1); err != nil {
		t.Fatal(err)
	}
	// The gate tells the server (telemetry) once it holds the new version.
	deadline0 := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		v := cfgVersion
		mu.Unlock()
		if v == 7 {
			break
		}
		if time.Now().After(deadline0) {
			t.Fatalf("config version 7 never reported\n%s", p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r, err := present(ctx, p.addr, "C0102", 37.6); err != nil || r.Decision != "admit" {
		t.Fatalf("37.6 °C under the school's 37.8 °C: %+v %v\n%s", r, err, p.out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		done := got["P20260101"] == "ok" && got["P20260215"] == "fever" && alerts >= 1
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("server saw %v and %d alerts\n%s", got, alerts, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ackingBroker starts an in-process broker whose inline client plays the
// school server: it acks every entry batch, after giving seen each entry.
func ackingBroker(t *testing.T, seen func(journal.Entry)) (*mqtt.Server, string) {
	t.Helper()
	srv, addr := mochitest.Start(t, true)
	_ = srv.Subscribe(wire.Root+"/+/+/entry", 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		tp, _ := wire.ParseTopic(pk.TopicName)
		b, err := wire.DecodeEntryBatch(pk.Payload, tp.Gate)
		if err != nil {
			t.Errorf("entry batch: %v", err)
			return
		}
		var seqs []uint64
		for _, e := range b.Entries {
			seen(e)
			seqs = append(seqs, e.Seq)
		}
		ack := wire.Encode(wire.Ack{V: 1, Epoch: b.Epoch, Ranges: wire.Ranges(seqs)})
		go func() { _ = srv.Publish(wire.GateTopic(tp.School, tp.Gate, wire.KindAck), ack, false, 1) }()
	})
	return srv, addr
}

// syncConfig writes a simulated gate's config with [sync] to broker, its
// journal in dir, and returns its path.
func syncConfig(t *testing.T, dir, broker string) string {
	t.Helper()
	return gateConfig(t, dir, broker, "not-checked-here", "1s", "")
}

// gateConfig is syncConfig with the gate's MQTT password, its duplicate scan
// window and more lines for [sync].
func gateConfig(t *testing.T, dir, broker, password, dupWindow, syncExtra string) string {
	t.Helper()
	cfg := filepath.Join(dir, "gated.toml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
gate_id = "north-1"
school_id = "hz-001"
journal = %q
[identity]
allow_plain_ids = true
duplicate_window = %q
[temperature]
read_interval = "20ms"
retest_pause = "200ms"
[sync]
broker = "tcp://%s"
password = %q
ack_timeout = "2s"
%s
`, filepath.Join(dir, "j.db"), dupWindow, broker, password, syncExtra)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestKill9DuringDrain kills gated with SIGKILL again and again while it
// drains a backlog into a real ingest and SQLite store: every entry ends up
// stored exactly once and the journal's outbox empty.
func TestKill9DuringDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	t.Run("embedded", func(t *testing.T) {
		_, addr := mochitest.Start(t, false)
		kill9DuringDrain(t, "hz-001", ingest.ClientOpts{Broker: "tcp://" + addr, ClientID: "campusd-test"}, "not-checked-here")
	})
	t.Run("mosquitto", func(t *testing.T) {
		const gatePW, serverPW = "north-gate-password-0123", "campusd-server-password-01"
		mq := mosquittotest.Start(t, mosquittotest.Opts{School: "hz", Users: map[string]string{"north-1": gatePW, "campusd@hz": serverPW}})
		kill9DuringDrain(t, "hz", ingest.ClientOpts{Broker: "tcp://" + mq.Addr, ClientID: "campusd@hz", Username: "campusd@hz", Password: serverPW}, gatePW)
	})
}

// kill9DuringDrain: the server (a real ingest into SQLite) on the broker in
// server, and gated, with gatePass, killed again and again while it drains.
func kill9DuringDrain(t *testing.T, school string, server ingest.ClientOpts, gatePass string) {
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "campusd.db"), &store.Opts{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pub := &ingest.LatePublisher{}
	in, err := ingest.New(ingest.Opts{Store: db, Publisher: pub, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = in.Run(ctx) }()
	server.Logger = quiet
	cl, err := ingest.Dial(ctx, server, in.Handle)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pub.Set(cl)

	dir := t.TempDir()
	jpath := filepath.Join(dir, "j.db")
	j, err := journal.Open(jpath, &journal.Opts{GateID: "north-1", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4000
	for i := range n {
		e := journal.Entry{Time: time.Now(), PersonID: fmt.Sprint("P", i%300), Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
		if err := j.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	cfg := filepath.Join(dir, "gated.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
gate_id = "north-1"
school_id = %q
journal = %q
[sync]
broker = %q
password = %q
batch = 10
window = 2
ack_timeout = "1s"
keepalive = "1s"
`, school, jpath, server.Broker, gatePass)), 0o600); err != nil {
		t.Fatal(err)
	}
	kills := 0
	for ; kills < 5; kills++ {
		p := startGatedArgs(t, "-simulate", "-config", cfg)
		time.Sleep(time.Duration(200+rand.IntN(300)) * time.Millisecond)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
	p := startGatedArgs(t, "-simulate", "-config", cfg)
	deadline := time.Now().Add(60 * time.Second)
	for {
		es, err := db.Entries(ctx, store.Query{Gate: "north-1", Limit: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server holds %d of %d entries\n%s", len(es), n, p.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The acks reach the journal too: stop gated cleanly and look.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	j, err = journal.Open(jpath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Check(); err != nil {
		t.Fatal(err)
	}
	st := in.Stats()
	if st.Inserted != n {
		t.Fatalf("inserted %d, want %d (duplicates %d)", st.Inserted, n, st.Duplicates)
	}
	if gaps, _ := db.Gaps(ctx, "north-1"); len(gaps) != 0 {
		t.Fatalf("gaps %v", gaps)
	}
	t.Logf("gated killed %d times during the drain; %d stored once, %d duplicates dropped by the server", kills, st.Inserted, st.Duplicates)
}
