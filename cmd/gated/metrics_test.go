package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"campusgate/cmd/internal/bintest"
	"campusgate/gate/journal"
)

// TestMetrics runs a simulated gated with [sync] against a broker that acks
// everything, sends two people through (one with a fever) and reads the
// decisions, the acks and their latency, the backlog and the link's state
// from /metrics on its own listener.
func TestMetrics(t *testing.T) {
	_, broker := ackingBroker(t, func(journal.Entry) {})
	maddr := bintest.FreeAddr(t)
	p := startGatedArgs(t, "-simulate", "-config", syncConfig(t, t.TempDir(), broker), "-metrics-addr", maddr)
	ctx := context.Background()
	if r, err := present(ctx, p.addr, "C0101", 36.6); err != nil || r.Decision != "admit" {
		t.Fatalf("present: %+v %v\n%s", r, err, p.out)
	}
	if r, err := present(ctx, p.addr, "C0215", 38.6); err != nil || r.Reason != "fever" {
		t.Fatalf("present fever: %+v %v", r, err)
	}
	var m map[string]float64
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m = bintest.Metrics(t, maddr)
		if m["gated_entries_acked_total"] == 2 && m["gated_ack_latency_seconds_count"] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entries not acked: %v\n%s", m, p.out)
		}
	}
	for name, want := range map[string]float64{
		`gated_decisions_total{decision="admit",reason="ok"}`:   1,
		`gated_decisions_total{decision="deny",reason="fever"}`: 1,
		"gated_fevers_total":                         1,
		"gated_gate_opens_total":                     1,
		"gated_journal_backlog":                      0,
		"gated_mqtt_connected":                       1,
		"gated_mqtt_connects_total":                  1,
		"gated_entry_messages_resent_total":          0,
		`gated_device_errors_total{device="sensor"}`: 0,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if m["gated_mqtt_connects_total"] < 1 {
		t.Errorf("gated_mqtt_connects_total = %v", m["gated_mqtt_connects_total"])
	}
	if s := m["gated_ack_latency_seconds_sum"]; s <= 0 || s > 30 {
		t.Errorf("ack latency sum %v s for two entries", s)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "gated_entry_messages_sent_total"} {
		if _, ok := m[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	// The guard console does not serve them: it may face the school's network.
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); strings.Contains(string(b), "gated_decisions_total") {
		t.Error("the guard console serves the metrics")
	}
}
