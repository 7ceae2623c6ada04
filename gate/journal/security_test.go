package journal

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestPurgedEntriesAreGone: an acknowledged entry past retention is no
// longer readable through any of the journal's reads (Entries, Last,
// Pending, Export), and a compacted copy (gatectl journal compact) holds
// none of its bytes. The live file may keep them in freed pages until bbolt
// reuses the pages: only compaction overwrites them.
func TestPurgedEntriesAreGone(t *testing.T) {
	j := MustOpen(t, &Opts{Retention: 28 * 24 * time.Hour})
	now := t0.Add(60 * 24 * time.Hour)
	const secret = "PURGED-PUPIL-4711"
	for i := range 20 {
		e := sampleEntry(now.Add(-40*24*time.Hour + time.Duration(i)*time.Second))
		e.PersonID = secret
		mustAppend(t, j, e)
	}
	mustAppend(t, j, sampleEntry(now.Add(-time.Hour))) // recent, kept
	var ack []uint64
	for s := uint64(1); s <= 21; s++ {
		ack = append(ack, s)
	}
	if _, err := j.Ack(j.Epoch(), ack...); err != nil {
		t.Fatal(err)
	}
	if n, err := j.Purge(now); err != nil || n != 20 {
		t.Fatalf("purge: %d %v", n, err)
	}
	found := 0
	if err := j.Entries(time.Time{}, now.Add(time.Hour), func(e Entry) error {
		if e.PersonID == secret {
			found++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	last, _ := j.Last(100)
	for _, e := range last {
		if e.PersonID == secret {
			found++
		}
	}
	if p, _ := j.Pending(0, 100); len(p) != 0 {
		t.Errorf("%d pending after acking all", len(p))
	}
	if found != 0 || len(last) != 1 {
		t.Errorf("purged entries still read: %d (last %d)", found, len(last))
	}
	for _, format := range []string{"csv", "jsonl"} {
		var b bytes.Buffer
		if err := j.Export(&b, format, time.Time{}, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), secret) {
			t.Errorf("export %s holds a purged entry", format)
		}
	}
	dst := filepath.Join(t.TempDir(), "compact.db")
	if err := j.Compact(dst); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Error("the compacted file holds a purged entry's bytes")
	}
	if !bytes.Contains(raw, []byte("p1024")) {
		t.Error("the compacted file lost the entry it keeps")
	}
}

// TestNoncesSurviveReopen: a command's nonce, once used, is refused after
// the journal is closed and opened again (gated restarted), until it
// expires; expired ones are dropped.
func TestNoncesSurviveReopen(t *testing.T) {
	j := MustOpen(t, nil)
	n1, n2 := []byte("nonce-0000000001"), []byte("nonce-0000000002")
	if fresh, err := j.UseNonce(n1, t0.Add(2*time.Minute), t0); err != nil || !fresh {
		t.Fatalf("first use: %v %v", fresh, err)
	}
	if fresh, _ := j.UseNonce(n1, t0.Add(2*time.Minute), t0.Add(time.Second)); fresh {
		t.Fatal("second use before a restart: fresh")
	}
	j = Reopen(t, j)
	if fresh, err := j.UseNonce(n1, t0.Add(2*time.Minute), t0.Add(30*time.Second)); err != nil || fresh {
		t.Fatalf("after a restart: fresh %v %v", fresh, err)
	}
	// Past its until, a later command's commit drops it.
	if fresh, _ := j.UseNonce(n2, t0.Add(5*time.Minute), t0.Add(3*time.Minute)); !fresh {
		t.Fatal("a new nonce: not fresh")
	}
	var left int
	_ = j.view(func(tx *bolt.Tx) error { left = tx.Bucket(bNonces).Stats().KeyN; return nil })
	if left != 1 {
		t.Errorf("%d nonces kept, want the one still valid", left)
	}
	if _, err := j.UseNonce(nil, t0, t0); err == nil {
		t.Error("an empty nonce accepted")
	}
}
