package store

import (
	"strings"
	"testing"
	"time"

	"campusgate/sync/store/pgtest"
)

// TestPostgresOutage: while PostgreSQL is down a batch is refused with the
// cause named, not taken for a full disk; once it is back the same store
// takes the batch, once, with no reopening.
func TestPostgresOutage(t *testing.T) {
	db, err := Open(ctx, pgtest.DSN(t), &Opts{Location: time.UTC, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.InsertEntries(ctx, "hz", batchFrom(1)); err != nil {
		t.Fatal(err)
	}
	if n := entriesOf(t, db); n != 50 { // a reader connection in the pool too
		t.Fatalf("%d entries", n)
	}
	pgtest.Outage(t, func() {
		_, _, err := db.InsertEntries(ctx, "hz", batchFrom(51))
		if err == nil || DiskFull(err) || !strings.HasPrefix(err.Error(), "store: insert entries") {
			t.Fatalf("with the server down: %v", err)
		}
		t.Logf("refused with: %v", err)
		if _, err := db.Entries(ctx, Query{Gate: "north-1", Limit: 10}); err == nil {
			t.Fatal("read with the server down")
		}
	})
	// The first read and the first write after it, on connections the
	// restart ended, work.
	if n := entriesOf(t, db); n != 50 {
		t.Fatalf("%d entries, want 50", n)
	}
	takenOnce(t, db, batchFrom(51))
	if n := entriesOf(t, db); n != 100 {
		t.Fatalf("%d entries, want 100", n)
	}
}
