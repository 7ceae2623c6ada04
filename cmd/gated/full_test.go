package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"campusgate/cmd/internal/bintest"
	"campusgate/gate/journal"
)

// TestJournalFullFailsSafe fills the gate's disk under a running gated
// (bintest.FullDisks: by rlimit, and as root on a tmpfs): the next person is
// refused with the gate shut (the relay never opens), the guard console says
// the storage is full, gated keeps running, and once there is room again the
// next person is admitted without a restart.
func TestJournalFullFailsSafe(t *testing.T) {
	bintest.FullDisks(t, "4m", func(t *testing.T, d bintest.FullDisk) { journalFull(t, d.Dir, d.Fill, d.Free) })
}

// journalFull runs gated with its journal in dir, admits one person, calls
// fill with gated's pid, checks that the next is refused with the gate shut
// and the console saying why, calls free and checks the next is admitted.
func journalFull(t *testing.T, dir string, fill, free func(pid int)) {
	jpath := filepath.Join(dir, "j.db")
	maddr := bintest.FreeAddr(t)
	p := startGatedArgs(t, "-simulate", "-journal", jpath, "-metrics-addr", maddr)
	ctx := context.Background()
	opens := func() float64 { return bintest.Metrics(t, maddr)["gated_gate_opens_total"] }
	if r, err := present(ctx, p.addr, "C0101", 36.6); err != nil || r.Decision != "admit" {
		t.Fatalf("before the disk is full: %+v %v\n%s", r, err, p.out)
	}
	if n := opens(); n != 1 {
		t.Fatalf("relay opened %v times for one admission", n)
	}

	fill(p.cmd.Process.Pid)
	for _, code := range []string{"C0102", "C0215"} { // and it stays so
		r, err := present(ctx, p.addr, code, 36.6)
		if err != nil {
			t.Fatalf("while full: %v\n%s", err, p.out)
		}
		if r.Decision == "admit" || r.Reason != "journal_full" || !strings.Contains(r.Message.ZH, "存储已满") {
			t.Fatalf("while full: %+v, want a refusal for journal_full\n%s", r, p.out)
		}
	}
	if n := opens(); n != 1 {
		t.Fatalf("the relay opened while the journal could not record (%v openings)", n)
	}
	st, err := gateStatus(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	// Between people the console waits for the next, and says why the last
	// was refused.
	if st.Current.Reason != "journal_full" || !strings.Contains(st.Current.Message.ZH, "存储已满") ||
		!strings.Contains(st.Health["journal"], "存储已满 journal full") {
		t.Fatalf("guard console while full: %+v", st)
	}
	if m := bintest.Metrics(t, maddr); m[`gated_device_errors_total{device="journal"}`] < 2 {
		t.Errorf("journal errors counted: %v", m[`gated_device_errors_total{device="journal"}`])
	}

	free(p.cmd.Process.Pid)
	if r, err := present(ctx, p.addr, "C0102", 36.6); err != nil || r.Decision != "admit" {
		t.Fatalf("after space returned: %+v %v\n%s", r, err, p.out)
	}
	if n := opens(); n != 2 {
		t.Fatalf("relay opened %v times for two admissions", n)
	}
	if st, err := gateStatus(p.addr); err != nil || st.Health["journal"] != "ok" || st.Current.Reason != "" {
		t.Fatalf("guard console after space returned: %+v %v", st, err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("gated exit: %v\n%s", err, p.out)
	}
	j, err := journal.Open(jpath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Check(); err != nil {
		t.Fatalf("journal after running full: %v", err)
	}
	es, err := j.Last(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Decision != "admit" || es[1].Decision != "admit" {
		t.Fatalf("journal holds %+v, want the two admissions only", es)
	}
}
