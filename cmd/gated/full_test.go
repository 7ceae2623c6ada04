package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"campusgate/cmd/internal/bintest"
	"campusgate/gate/journal"

	"golang.org/x/sys/unix"
)

// TestJournalFullFailsSafe fills the gate's disk under a running gated: the
// next person is refused with the gate shut (the relay never opens), the
// guard console says the storage is full, gated keeps running, and once there
// is room again the next person is admitted without a restart.
//
// rlimit needs no privileges: gated's RLIMIT_FSIZE is set to 0 (prlimit), so
// every write to the journal fails with EFBIG, and SIGXFSZ, which would kill a
// C program, is one the Go runtime leaves unhandled. tmpfs is the most faithful
// (ENOSPC from a small file system filled by another file) and needs root to
// mount it.
func TestJournalFullFailsSafe(t *testing.T) {
	t.Run("rlimit", func(t *testing.T) {
		journalFull(t, t.TempDir(), func(pid int) {
			if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 0, Max: unix.RLIM_INFINITY}, nil); err != nil {
				t.Fatalf("prlimit: %v", err)
			}
		}, func(pid int) {
			if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}, nil); err != nil {
				t.Fatalf("prlimit: %v", err)
			}
		})
	})
	t.Run("tmpfs", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("mounting a tmpfs needs root")
		}
		dir := t.TempDir()
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m,mode=0700"); err != nil {
			t.Skipf("mount tmpfs: %v", err)
		}
		// Registered before gated starts, so it runs after gated is stopped.
		t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
		filler := filepath.Join(dir, "filler")
		journalFull(t, dir, func(int) {
			f, err := os.Create(filler)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 64<<10)
			for {
				if _, err := f.Write(buf); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("filling the tmpfs: %v", err)
					}
					return
				}
			}
		}, func(int) {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		})
	})
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
