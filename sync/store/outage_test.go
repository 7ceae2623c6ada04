package store

import (
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/sync/store/pgtest"
	"campusgate/sync/wire"
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
	fillPools(t, db)
	start := time.Now()
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
	t.Logf("the server was down for %v", time.Since(start).Round(time.Millisecond))
	// Every pooled connection the restart ended is replaced before it is
	// used, also for a statement outside a transaction: the first of each
	// after the restart works, and so does every one after it.
	for i := range 2 * pgPool {
		if _, err := db.Gates(ctx); err != nil {
			t.Fatalf("read %d after the restart: %v", i+1, err)
		}
		if err := db.GateStatus(ctx, "hz", "north-1", wire.Status{V: 1, State: "online", At: time.Now()}); err != nil {
			t.Fatalf("write %d after the restart: %v", i+1, err)
		}
	}
	// The first read and the first write in a transaction work too.
	if n := entriesOf(t, db); n != 50 {
		t.Fatalf("%d entries, want 50", n)
	}
	takenOnce(t, db, batchFrom(51))
	if n := entriesOf(t, db); n != 100 {
		t.Fatalf("%d entries, want 100", n)
	}
}

// fillPools leaves every connection of both pools open and idle, as a busy
// campusd has them, so the restart ends each.
func fillPools(t *testing.T, db *DB) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 2*pgPool)
	for range pgPool {
		wg.Go(func() {
			_, err := db.r.ExecContext(ctx, "SELECT pg_sleep(0.1)")
			errs <- err
		})
		wg.Go(func() {
			_, err := db.w.ExecContext(ctx, "SELECT pg_sleep(0.1)")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if r, w := db.r.Stats().Idle, db.w.Stats().Idle; r != pgPool || w != pgPool {
		t.Fatalf("idle connections: %d readers, %d writers, want %d each", r, w, pgPool)
	}
}
