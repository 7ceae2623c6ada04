package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/broker/mochitest"
	"campusgate/sync/gatelink"
	"campusgate/sync/ingest"
	"campusgate/sync/internal/logtest"
	"campusgate/sync/store/disktest"
	"campusgate/sync/store/pgtest"
	"campusgate/sync/wire"

	"github.com/jackc/pgx/v5/pgconn"
)

// limitPages caps the SQLite file at pages (PRAGMA max_page_count on the one
// writer connection): past it the engine fails a write with SQLITE_FULL,
// through the same path as a full disk.
func limitPages(t *testing.T, db *DB, pages int) {
	t.Helper()
	if _, err := db.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
}

// fillUntilRefused inserts 50-entry batches from seq from on (each ending in
// a fever) until db refuses one, up to seq limit; it returns how many entries
// it stored, and the refused batch and refusal, which must be a full disk's.
func fillUntilRefused(t *testing.T, db *DB, from, limit uint64) (stored int, refused []journal.Entry) {
	t.Helper()
	for seq := from; seq <= limit; seq += 50 {
		b := batchFrom(seq)
		_, _, err := db.InsertEntries(ctx, "hz", b)
		if err == nil {
			stored += len(b)
			continue
		}
		if !DiskFull(err) || !strings.HasPrefix(err.Error(), "store: insert entr") {
			t.Fatalf("refused with %v, not taken for a full disk", err)
		}
		t.Logf("refused with: %v", err)
		return stored, b
	}
	t.Fatalf("entries up to seq %d taken: the disk never filled", limit)
	return 0, nil
}

// batchFrom is north-1's 50 entries from seq on, the last a fever.
func batchFrom(seq uint64) []journal.Entry {
	b := make([]journal.Entry, 50)
	for i := range b {
		b[i] = entry("north-1", "e1", seq+uint64(i), "ok")
	}
	b[49] = entry("north-1", "e1", seq+49, "fever")
	return b
}

// entriesOf counts north-1's stored entries.
func entriesOf(t *testing.T, db *DB) int {
	t.Helper()
	es, err := db.Entries(ctx, Query{Gate: "north-1", Limit: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// takenOnce checks that a batch refused for want of space is taken whole
// once there is space, and only once.
func takenOnce(t *testing.T, db *DB, refused []journal.Entry) {
	t.Helper()
	n := len(refused)
	if ins, dup, err := db.InsertEntries(ctx, "hz", refused); err != nil || ins != n || dup != 0 {
		t.Fatalf("the refused batch once space is back: %d new, %d duplicates, %v", ins, dup, err)
	}
	if ins, dup, err := db.InsertEntries(ctx, "hz", refused); err != nil || ins != 0 || dup != n {
		t.Fatalf("sent again: %d new, %d duplicates, %v", ins, dup, err)
	}
}

// TestDiskFull: a database out of space refuses an entry batch whole, with
// an error DiskFull recognises, and takes the same batch once space is back,
// once.
func TestDiskFull(t *testing.T) {
	if postgres {
		t.Skip("SQLite's page limit stands in for the full disk; PostgreSQL's is TestDiskFullPostgres'")
	}
	db, _ := open(t)
	var pages int
	if err := db.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	limitPages(t, db, pages+16)
	stored, refused := fillUntilRefused(t, db, 1, 100_000)
	if n := entriesOf(t, db); n != stored {
		t.Fatalf("%d entries stored, want %d: the refused batch left some behind", n, stored)
	}
	// The server's other writes of a gate's messages are refused the same way.
	// Its device list is larger than the few pages the refused batch left.
	tel := wire.Telemetry{V: 1, At: t0, Backlog: 50, Devices: map[string]string{"thermometer": strings.Repeat("ok ", 40_000)}}
	if err := db.GateTelemetry(ctx, "hz", "north-1", tel); !DiskFull(err) {
		t.Fatalf("telemetry on a full disk: %v", err)
	}

	limitPages(t, db, 1<<30)
	takenOnce(t, db, refused)
	if n := entriesOf(t, db); n != stored+50 {
		t.Fatalf("%d entries, want %d", n, stored+50)
	}
	if err := db.GateTelemetry(ctx, "hz", "north-1", tel); err != nil {
		t.Fatalf("telemetry once space is back: %v", err)
	}
}

// TestDiskFullPostgres: PostgreSQL out of space (the entries table in a
// tablespace on a small tmpfs filled by another file, so the server's own
// write fails with ENOSPC) refuses a batch whole with its disk_full, which
// DiskFull recognises, and takes the same batch once space is back, once.
func TestDiskFullPostgres(t *testing.T) {
	// Not under t.TempDir, whose parent only root may enter: the server runs
	// as the postgres user.
	dir, err := os.MkdirTemp("", "campusgate-tablespace-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	disktest.Tmpfs(t, dir, "1m") // unmounted after the tablespace is dropped
	space := pgtest.Tablespace(t, dir)
	db, err := Open(ctx, pgtest.DSN(t), &Opts{Location: time.UTC, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // before its database is dropped
	if _, err := db.w.ExecContext(ctx, `ALTER TABLE entries SET TABLESPACE `+space); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.InsertEntries(ctx, "hz", batchFrom(1)); err != nil { // the table's first page in the tablespace
		t.Fatal(err)
	}
	free := disktest.Fill(t, dir)
	stored, refused := fillUntilRefused(t, db, 51, 10_000)
	if n := entriesOf(t, db); n != 50+stored {
		t.Fatalf("%d entries stored, want %d: the refused batch left some behind", n, 50+stored)
	}
	free()
	takenOnce(t, db, refused)
}

func TestDiskFullClassified(t *testing.T) {
	for _, c := range []struct {
		err  error
		full bool
	}{
		{fmt.Errorf("store: insert entries: %w", &pgconn.PgError{Code: "53100", Message: "could not extend file"}), true},
		{fmt.Errorf("store: insert entries: %w", &pgconn.PgError{Code: "23505"}), false},
		{errors.New("database or disk is full"), false}, // the words alone are not the engine's code
		{nil, false},
	} {
		if got := DiskFull(c.err); got != c.full {
			t.Errorf("DiskFull(%v) = %v, want %v", c.err, got, c.full)
		}
	}
}

// TestDiskFullEndToEnd: while the school server's database is out of space,
// a gate's entries are refused, not acknowledged, and stay in the gate's
// journal; the refusal is logged once, not at every resend, and StoreFailing
// says since when. Once space is back the gate's resends are stored, each
// entry once.
func TestDiskFullEndToEnd(t *testing.T) {
	if postgres {
		t.Skip("SQLite's page limit stands in for the full disk")
	}
	db, _ := open(t)
	_, addr := mochitest.Start(t, false)
	var logs logtest.Buffer
	log := logs.Logger(nil)
	pub := &ingest.LatePublisher{}
	in, err := ingest.New(ingest.Opts{Store: db, Publisher: pub, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = in.Run(c) }()
	cl, err := ingest.Dial(c, ingest.ClientOpts{Broker: "tcp://" + addr, ClientID: "campusd-test", Logger: quiet}, in.Handle)
	if err != nil {
		t.Fatal(err)
	}
	pub.Set(cl)
	t.Cleanup(func() { cancel(); cl.Close(); <-done })

	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Opts{GateID: "north-1", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	dial, err := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + addr, ClientID: "north-1"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := gatelink.New(gatelink.Opts{School: "hz", Gate: "north-1", Dial: dial, Store: j, Logger: quiet, Batch: 50,
		// Telemetry often: it updates a row in place, which a full disk
		// still allows, and must not end the run of refusals.
		AckTimeout: 200 * time.Millisecond, TelemetryEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = l.Run(c) }()
	appendN := func(n int) {
		t.Helper()
		for range n {
			e := journal.Entry{Time: time.Now(), PersonID: "P1", Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
			if err := j.Append(&e); err != nil {
				t.Fatal(err)
			}
		}
		l.Kick()
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	backlog := func() int { n, _ := j.Backlog(); return n }
	appendN(100)
	waitFor("the first entries stored", func() bool { return backlog() == 0 })

	var pages int
	if err := db.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	limitPages(t, db, pages)
	before := time.Now()
	appendN(300)
	waitFor("refusals", func() bool { return in.Stats().StoreErrors >= 10 }) // resent every 200 ms: many refusals
	since, why := in.StoreFailing()
	if since.Before(before) || !DiskFull(why) {
		t.Fatalf("StoreFailing: since %v (the disk filled after %v), %v", since, before, why)
	}
	for range 20 { // while the gate's telemetry goes on being stored
		time.Sleep(25 * time.Millisecond)
		if s, _ := in.StoreFailing(); !s.Equal(since) {
			t.Fatalf("StoreFailing since %v, then %v: the run ended while the disk was full", since, s)
		}
	}
	if n := backlog(); n != 300 {
		t.Fatalf("backlog %d while the server's disk is full, want all 300 kept", n)
	}
	lines := logs.Count("storing entries failed")
	named := strings.Contains(logs.String(), "database or disk is full")
	if lines != 1 || !named {
		t.Fatalf("%d log lines for %d refusals (want 1 within a minute), the cause named: %v\n%s", lines, in.Stats().StoreErrors, named, logs.String())
	}

	limitPages(t, db, 1<<30)
	waitFor("the refused entries stored once space is back", func() bool { return backlog() == 0 })
	if since, _ := in.StoreFailing(); !since.IsZero() {
		t.Fatalf("still failing since %v after the store took writes again", since)
	}
	es, err := db.Entries(ctx, Query{Gate: "north-1", Limit: 1000, OldestFirst: true})
	if err != nil || len(es) != 400 {
		t.Fatalf("%d entries stored, want 400: %v", len(es), err)
	}
	for i, e := range es {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d: one lost or doubled", i, e.Seq)
		}
	}
	if !strings.Contains(logs.String(), "the store takes writes again") {
		t.Fatalf("recovery not logged:\n%s", logs.String())
	}
}
