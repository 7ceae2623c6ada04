package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"campusgate/sync/console"
	"campusgate/sync/store"
)

// TestFleet runs gatectl sim fleet against the real campusd of sim up: every
// entry the fleet appended is acked and stored exactly once, the latencies
// are printed, and each fever reaches the nurse's live stream.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole system")
	}
	sys := startSim(t, 1)
	cmd := exec.Command(filepath.Join(sys.bin, "gatectl"), "sim", "fleet", "-state", sys.state, "-broker", "mqtt://"+sys.mqtt,
		"-console", "http://"+sys.http, "--gates", "5", "--rate", "5", "-duration", "3s", "-fever-rate", "0.2", "-every", "1s", "-grace", "20s")
	cmd.Env = append(os.Environ(), "CAMPUSGATE_PASSWORD=") // the nurse's password from sim up's accounts file
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("sim fleet: %v\n%s\n%s", err, out, sys.logs.String())
	}
	t.Log(out)
	figure := func(re string) []string { t.Helper(); return fleetFigure(t, out, re) }
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	appended := num(figure(`entries appended\s+(\d+)`)[0])
	if acked := num(figure(`entries acked\s+(\d+)`)[0]); appended < 20 || acked != appended {
		t.Fatalf("appended %d, acked %d", appended, acked)
	}
	if loss := figure(`loss\s+(\d+)`)[0]; loss != "0" {
		t.Fatalf("loss %s", loss)
	}
	for _, p := range figure(`stored-and-acked latency\s+p50 (\S+)\s+p95 (\S+)\s+p99 (\S+)\s+max (\S+)`) {
		if p == "-" {
			t.Fatalf("latency not measured:\n%s", out)
		}
	}
	fev := figure(`fever alerts\s+(\d+) raised, (\d+) seen on the console's live stream, (\d+) missing`)
	raised := num(fev[0])
	if raised == 0 || fev[2] != "0" {
		t.Fatalf("fever alerts: %v", fev)
	}
	if p := figure(`fever alert latency\s+p50 (\S+)`)[0]; p == "-" {
		t.Fatalf("alert latency not measured")
	}
	if up := figure(`gates\s+5 \((\d+) MQTT connections up`)[0]; up != "5" {
		t.Fatalf("%s connections up", up)
	}
	if !strings.Contains(out, "fleet memory") {
		t.Fatal("no memory figures")
	}

	// The server stored exactly what was appended: today's count in its database.
	admin := console.NewClient("http://" + sys.http)
	ctx := context.Background()
	if err := admin.Login(ctx, "admin", sys.accounts["admin"]); err != nil {
		t.Fatal(err)
	}
	var st struct{ Today store.DayCount }
	if err := admin.Get(ctx, "/api/stats", &st); err != nil {
		t.Fatal(err)
	}
	if st.Today.Entries != appended || st.Today.Fevers != raised {
		t.Fatalf("the server stored %d entries (%d fevers), the fleet appended %d (%d fevers)", st.Today.Entries, st.Today.Fevers, appended, raised)
	}

	// The fleet's logins are gone from the broker's accounts with their
	// password (runFleet's -keep-accounts keeps them for the next run).
	if !strings.Contains(out, "removed the fleet's 5 gate accounts") {
		t.Errorf("no word of the accounts removed:\n%s", out)
	}
	accts, err := os.ReadFile(filepath.Join(sys.state, "mqtt-accounts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(accts), "fleet-0001") {
		t.Errorf("the fleet's accounts are still in mqtt-accounts.json")
	}
	if _, err := os.Stat(filepath.Join(sys.state, "fleet-mqtt.secret")); err == nil {
		t.Errorf("the fleet's password is still in the state directory")
	}

	// Usage: one of -state and -password-file.
	bad := exec.Command(filepath.Join(sys.bin, "gatectl"), "sim", "fleet", "-gates", "2")
	if b, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(b), "-password-file") {
		t.Fatalf("sim fleet without accounts: %v\n%s", err, b)
	}
}

// fleetFigure is the submatches of re (anchored at a line's start) in sim
// fleet's table.
func fleetFigure(t testing.TB, out, re string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in:\n%s", re, out)
	}
	return m[1:]
}

// runFleet runs gatectl sim fleet with args against sys's campusd, fever
// alerts timed on its console, and returns its output; it fails on an error
// or a lost entry.
func runFleet(t testing.TB, sys *simSystem, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(sys.bin, "gatectl"), append([]string{"sim", "fleet", "-state", sys.state, "-broker", "mqtt://" + sys.mqtt,
		"-console", "http://" + sys.http, "-every", "1h", "-keep-accounts"}, args...)...)
	cmd.Env = append(os.Environ(), "CAMPUSGATE_PASSWORD=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sim fleet: %v\n%s", err, out)
	}
	if loss := fleetFigure(t, string(out), `loss\s+(\d+)`)[0]; loss != "0" {
		t.Fatalf("sim fleet lost %s entries:\n%s", loss, out)
	}
	return string(out)
}

// BenchmarkFleet: gatectl sim fleet, 500 gates at one entry a second each at
// the peak for 20 s (3% fevers), against sim up's campusd (its embedded
// broker, SQLite) on this machine, every gate its own MQTT connection and
// journal: the stored-and-acked and the fever-alert-to-nurse p50 and p99, and
// the loss (0). deploy/scripts/load-test.sh is the 2,000-gate run with
// mosquitto and PostgreSQL (README: Load test).
func BenchmarkFleet(b *testing.B) {
	if testing.Short() {
		b.Skip("runs the whole system")
	}
	sys := startSim(b, 1)
	ms := func(s string) float64 {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("duration %q: %v", s, err)
		}
		return float64(d) / 1e6
	}
	for b.Loop() {
		out := runFleet(b, sys, "-gates", "500", "-rate", "1", "-duration", "20s", "-fever-rate", "0.03")
		acked := fleetFigure(b, out, `stored-and-acked latency\s+p50 (\S+)\s+p95 \S+\s+p99 (\S+)`)
		alert := fleetFigure(b, out, `fever alert latency\s+p50 (\S+)\s+p95 \S+\s+p99 (\S+)`)
		b.ReportMetric(ms(acked[0]), "acked-p50-ms")
		b.ReportMetric(ms(acked[1]), "acked-p99-ms")
		b.ReportMetric(ms(alert[0]), "alert-p50-ms")
		b.ReportMetric(ms(alert[1]), "alert-p99-ms")
	}
}
