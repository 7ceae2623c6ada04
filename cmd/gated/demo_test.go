package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"campusgate/gate"
	"campusgate/gate/journal"
	"campusgate/gate/pass"
)

// TestDemoRosterLeavesTheSchoolsOwn: a simulated gate seeds its demo roster
// at every start when it runs alone, but once it syncs and has the school's
// roster it keeps it, so that the school's next roster (sent at the version
// it has) is not refused as older than the seed.
func TestDemoRosterLeavesTheSchoolsOwn(t *testing.T) {
	for _, tc := range []struct {
		broker string
		want   uint64
	}{{"", 1796135010}, {"tcp://127.0.0.1:18830", 1796135009}} {
		dir := t.TempDir()
		cfg := gate.DefaultConfig()
		cfg.GateID, cfg.SchoolID, cfg.Journal, cfg.Sync.Broker = "north-1", "demo", filepath.Join(dir, "j.db"), tc.broker
		j, err := journal.Open(cfg.Journal, &journal.Opts{GateID: cfg.GateID, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := j.ReplaceRoster(1796135009, nil); err != nil { // the school's, from an earlier run
			t.Fatal(err)
		}
		verifier := &pass.Verifier{Keys: &pass.Keyring{}, Revoked: &pass.Revocations{}}
		if err := seedDemo(j, verifier, io.Discard, cfg, filepath.Join(dir, "demo.key")); err != nil {
			t.Fatal(err)
		}
		if v, _ := j.RosterVersion(); v != tc.want {
			t.Errorf("broker %q: roster version %d after the demo's seed, want %d", tc.broker, v, tc.want)
		}
		j.Close()
	}
}
