package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"campusgate/gate/journal"
)

// TestNoSecretsOrPersonalDataInLogs: gated with debug logging (-v) and a
// [sync] password, through a connection, entries, a fever alert and its
// stop, writes the password nowhere in its output, nor the feverish person's
// card, id or name (a temperature beside them would be health data in the
// box's system log).
func TestNoSecretsOrPersonalDataInLogs(t *testing.T) {
	const secret = "gate-secret-in-config-8841"
	acked := make(chan string, 16)
	_, addr := ackingBroker(t, func(e journal.Entry) { acked <- e.Reason })
	dir := t.TempDir()
	cfg := syncConfig(t, dir, addr)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "not-checked-here", secret, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startGatedArgs(t, "-simulate", "-v", "-config", cfg)
	if r, err := present(context.Background(), p.addr, "C0215", 38.6); err != nil || r.Reason != "fever" {
		t.Fatalf("present fever: %+v %v", r, err)
	}
	select {
	case <-acked:
	case <-time.After(15 * time.Second):
		t.Fatalf("no entry reached the broker\n%s", p.out)
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.cmd.Wait()
	out := p.out.String()
	if !strings.Contains(out, "link up") {
		t.Errorf("gated's output lacks its link:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("gated logged its broker password:\n%s", out)
	}
	if !strings.Contains(out, `msg=fever`) && !strings.Contains(out, `"msg":"fever"`) {
		t.Errorf("gated's output lacks the fever:\n%s", out)
	}
	for _, personal := range []string{"C0215", "P20260215", "张梓涵"} { // the demo roster's card C0215
		if strings.Contains(out, personal) {
			t.Errorf("gated logged %q:\n%s", personal, out)
		}
	}
}
