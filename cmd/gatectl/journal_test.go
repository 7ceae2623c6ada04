package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"campusgate/gate/journal"
)

func TestJournalCommands(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j.db")
	j, err := journal.Open(path, &journal.Opts{GateID: "north-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.ReplaceRoster(1, []journal.Person{{ID: "p1", Name: "王小明", Role: "pupil"}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := j.Append(&journal.Entry{Time: time.Now(), PersonID: "p1", Role: "pupil", Decision: "admit", Reason: "ok", BodyC: 36.6}); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	code, out, errs := gatectl(t, "journal", "check", "-journal", path)
	if code != 0 || !strings.Contains(out, "consistent") || !strings.Contains(out, "last seq 3") {
		t.Fatalf("check: %d %s %s", code, out, errs)
	}
	code, out, _ = gatectl(t, "journal", "export", "-journal", path)
	if code != 0 || !strings.HasPrefix(out, "\ufeff") || !strings.Contains(out, "王小明") || strings.Count(out, "\n") != 4 {
		t.Fatalf("export: %d %q", code, out)
	}
	code, out, _ = gatectl(t, "journal", "export", "-journal", path, "-format", "jsonl", "-from", time.Now().Format(time.DateOnly))
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("export jsonl: %d %q", code, out)
	}
	code, out, errs = gatectl(t, "journal", "compact", "-journal", path, "-out", filepath.Join(dir, "new.db"))
	if code != 0 || !strings.Contains(out, "compacted") {
		t.Fatalf("compact: %d %s %s", code, out, errs)
	}
	if code, _, _ := gatectl(t, "journal", "check", "-journal", filepath.Join(dir, "new.db")); code != 0 {
		t.Fatal("compacted journal does not check")
	}
	if code, _, _ := gatectl(t, "journal", "check", "-journal", filepath.Join(dir, "missing.db")); code != 1 {
		t.Fatal("a missing journal was not an error")
	}
	if code, _, _ := gatectl(t, "journal", "compact", "-journal", path); code != 2 {
		t.Fatal("compact without -out was not a usage error")
	}
}
