package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"campusgate/sync/wire"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestGatedSyncs runs a simulated gated with [sync] against an in-process
// broker whose inline client plays the school server: a person presented at
// the gate arrives on the server, is acknowledged, and a fever raises an
// alert.
func TestGatedSyncs(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: quiet})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	defer srv.Close()

	var mu sync.Mutex
	got := map[string]string{} // person → reason
	alerts := 0
	_ = srv.Subscribe(wire.Root+"/+/+/entry", 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		tp, _ := wire.ParseTopic(pk.TopicName)
		b, err := wire.DecodeEntryBatch(pk.Payload, tp.Gate)
		if err != nil {
			t.Errorf("entry batch: %v", err)
			return
		}
		var seqs []uint64
		mu.Lock()
		for _, e := range b.Entries {
			got[e.PersonID] = e.Reason
			seqs = append(seqs, e.Seq)
		}
		mu.Unlock()
		ack := wire.Encode(wire.Ack{V: 1, Epoch: b.Epoch, Ranges: wire.Ranges(seqs)})
		go func() { _ = srv.Publish(wire.GateTopic(tp.School, tp.Gate, wire.KindAck), ack, false, 1) }()
	})
	_ = srv.Subscribe(wire.Root+"/+/+/alert", 2, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		mu.Lock()
		alerts++
		mu.Unlock()
	})

	dir := t.TempDir()
	cfg := filepath.Join(dir, "gated.toml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
gate_id = "north-1"
school_id = "hz-001"
journal = %q
[identity]
allow_plain_ids = true
duplicate_window = "1s"
[temperature]
read_interval = "20ms"
retest_pause = "200ms"
[sync]
broker = "tcp://%s"
password = "not-checked-here"
ack_timeout = "2s"
`, filepath.Join(dir, "j.db"), l.Address())), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p := startGatedArgs(t, "-simulate", "-config", cfg)
	ctx := context.Background()
	if r, err := present(ctx, p.addr, "C0101", 36.6); err != nil || r.Decision != "admit" {
		t.Fatalf("present: %+v %v\n%s", r, err, p.out)
	}
	if r, err := present(ctx, p.addr, "C0215", 38.6); err != nil || r.Reason != "fever" {
		t.Fatalf("present fever: %+v %v", r, err)
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
