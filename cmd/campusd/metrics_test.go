package main

import (
	"testing"
	"time"

	"campusgate/cmd/internal/bintest"
)

// checkMetrics scrapes campusd's /metrics at addr once TestCampusdWithAGate's
// gate has sent its 25 entries (one a fever) and is online.
func checkMetrics(t *testing.T, addr string) {
	t.Helper()
	var m map[string]float64
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m = bintest.Metrics(t, addr)
		if m["campusd_gates_online"] == 1 && m["campusd_ingest_acks_total"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed the gate online and acked: %v", m)
		}
	}
	for name, want := range map[string]float64{
		`campusd_ingest_entries_total{result="inserted"}`: 25,
		"campusd_alerts_total":                            1,
		"campusd_broker_connected":                        1,
		"campusd_gates":                                   1,
		"campusd_ingest_malformed_total":                  0,
		"campusd_ingest_store_errors_total":               0,
		"campusd_ingest_shed_total":                       0,
		"campusd_store_refusing_writes":                   0,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	for _, name := range []string{"campusd_commit_seconds_count", "campusd_ingest_messages_total"} {
		if m[name] < 1 {
			t.Errorf("%s = %v, want at least 1", name, m[name])
		}
	}
	for _, name := range []string{`campusd_ingest_entries_total{result="duplicate"}`, `campusd_gate_backlog{gate="north-1",school="hz"}`,
		"campusd_ingest_queue", "go_goroutines", "process_open_fds"} {
		if _, ok := m[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}
