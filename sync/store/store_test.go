package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/store/pgtest"
	"campusgate/sync/wire"
)

var (
	quiet = slog.New(slog.DiscardHandler)
	ctx   = context.Background()
	t0    = time.Date(2026, 9, 1, 7, 30, 0, 0, time.UTC)
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// postgres: CAMPUSGATE_TEST_STORE=postgres runs this package's tests against
// PostgreSQL (pgtest), as make test does after running them on SQLite.
var postgres = os.Getenv("CAMPUSGATE_TEST_STORE") == "postgres"

// location is where a test's database is: a new SQLite file, or a new
// PostgreSQL database.
func location(t testing.TB) string {
	if postgres {
		return pgtest.DSN(t)
	}
	return filepath.Join(t.TempDir(), "campusd.db")
}

func open(t testing.TB) (*DB, string) {
	t.Helper()
	path := location(t)
	db, err := Open(ctx, path, &Opts{Location: time.UTC, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func entry(gate, epoch string, seq uint64, reason string) journal.Entry {
	e := journal.Entry{V: 1, GateID: gate, Epoch: epoch, Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), ClockSynced: true,
		PersonID: fmt.Sprint("P", seq%7), Role: "pupil", Credential: "pass", Assurance: "high", Health: "green",
		Readings: []journal.Reading{{SurfaceC: 34.9, BodyC: 36.6, AmbientC: 24, Sensor: "mlx90614", At: t0}},
		BodyC:    36.6, Decision: "admit", Reason: reason, Kind: "entry"}
	if reason == "fever" {
		e.Decision, e.BodyC = "deny", 38.4
	}
	return e
}

func TestInsertOnceAndQuery(t *testing.T) {
	db, _ := open(t)
	var batch []journal.Entry
	for s := uint64(1); s <= 10; s++ {
		batch = append(batch, entry("north-1", "e1", s, "ok"))
	}
	batch[9] = entry("north-1", "e1", 10, "fever")
	batch[3].Guard = &journal.GuardAction{ID: "G07", Reason: "手持复测"}
	if ins, dup, err := db.InsertEntries(ctx, "hz", batch); err != nil || ins != 10 || dup != 0 {
		t.Fatalf("first insert: %d %d %v", ins, dup, err)
	}
	if ins, dup, err := db.InsertEntries(ctx, "hz", batch[5:]); err != nil || ins != 0 || dup != 5 {
		t.Fatalf("again: %d %d %v", ins, dup, err)
	}
	bad := []journal.Entry{entry("north-1", "e1", 11, "ok"), entry("north-1", "e1", 12, "ok")}
	bad[1].Decision = "maybe"
	if _, _, err := db.InsertEntries(ctx, "hz", bad); err == nil {
		t.Fatal("a batch with a bad entry was accepted")
	}
	got, err := db.Entries(ctx, Query{Gate: "north-1", Limit: 100, OldestFirst: true})
	if err != nil || len(got) != 10 {
		t.Fatalf("entries %d %v (the bad batch must store nothing)", len(got), err)
	}
	if got[3].Guard == nil || got[3].Guard.ID != "G07" || got[0].Readings[0].BodyC != 36.6 || !got[0].Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("round trip: %+v", got[3])
	}
	if f, _ := db.Entries(ctx, Query{Reason: "fever"}); len(f) != 1 || f[0].Seq != 10 {
		t.Fatalf("fever query: %+v", f)
	}
	if r, _ := db.Entries(ctx, Query{From: t0.Add(3 * time.Second), To: t0.Add(6 * time.Second)}); len(r) != 3 {
		t.Fatalf("range query: %d", len(r))
	}
	c, err := db.CountDay(ctx, "2026-09-01")
	if err != nil || c.Entries != 10 || c.Decision["admit"] != 9 || c.Fevers != 1 || c.People == 0 {
		t.Fatalf("count %+v %v", c, err)
	}
}

func TestGaps(t *testing.T) {
	db, _ := open(t)
	var es []journal.Entry
	for _, s := range []uint64{1, 2, 5, 6, 9} {
		es = append(es, entry("north-1", "e1", s, "ok"))
	}
	es = append(es, entry("north-1", "e2", 3, "ok"), entry("south-1", "e9", 1, "ok"))
	if _, _, err := db.InsertEntries(ctx, "hz", es); err != nil {
		t.Fatal(err)
	}
	g, err := db.Gaps(ctx, "north-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Gap{{"north-1", "e1", 3, 4}, {"north-1", "e1", 7, 8}, {"north-1", "e2", 1, 2}}
	if fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("gaps %v, want %v", g, want)
	}
	if all, _ := db.Gaps(ctx, ""); len(all) != 3 {
		t.Fatalf("all gaps %v", all)
	}
}

func TestRegistryAndAlerts(t *testing.T) {
	db, _ := open(t)
	if err := db.GateStatus(ctx, "hz", "north-1", wire.Status{V: 1, State: "online", At: t0.Add(time.Minute), Version: "1.2"}); err != nil {
		t.Fatal(err)
	}
	// The Last Will of an older connection arrives late: it must not mark the gate offline.
	if err := db.GateStatus(ctx, "hz", "north-1", wire.Status{V: 1, State: "offline", At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := db.GateTelemetry(ctx, "hz", "north-1", wire.Telemetry{V: 1, At: t0.Add(2 * time.Minute), Backlog: 7,
		Devices: map[string]string{"sensor": "ok"}, Counters: wire.Counters{Admitted: 3}, RosterVersion: 4}); err != nil {
		t.Fatal(err)
	}
	gs, err := db.Gates(ctx)
	if err != nil || len(gs) != 1 {
		t.Fatalf("%v %v", gs, err)
	}
	g := gs[0]
	if !g.Online || g.Version != "1.2" || g.Backlog != 7 || g.Devices["sensor"] != "ok" || g.Counters.Admitted != 3 || g.RosterVersion != 4 {
		t.Fatalf("gate %+v", g)
	}
	a := wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", At: t0, Epoch: "e1", Seq: 10, PersonID: "P3", BodyC: 38.4}
	if isNew, err := db.InsertAlert(ctx, "hz", a); err != nil || !isNew {
		t.Fatalf("alert: %v %v", isNew, err)
	}
	if isNew, _ := db.InsertAlert(ctx, "hz", a); isNew {
		t.Fatal("the same fever alerted twice")
	}
	open, _ := db.Alerts(ctx, true, 10)
	if len(open) != 1 || open[0].Alert.PersonID != "P3" {
		t.Fatalf("open alerts %+v", open)
	}
	if err := db.RecordOutcome(ctx, open[0].ID, "nurse-1", "isolated", 38.1, "waits for her mother"); err != nil {
		t.Fatal(err)
	}
	if o, _ := db.Alerts(ctx, true, 10); len(o) != 0 {
		t.Fatal("acknowledged alert still open")
	}
	if first, err := db.Acknowledge(ctx, open[0].ID, "nurse-2"); err != nil || first {
		t.Fatalf("a second acknowledgement: %v %v", first, err)
	}
	if _, err := db.Acknowledge(ctx, 999, "nurse-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("acked a missing alert: %v", err)
	}
	if err := db.RecordOutcome(ctx, open[0].ID, "nurse-1", "vanished", 0, ""); err == nil {
		t.Fatal("an unknown outcome accepted")
	}
	ev, _ := db.AlertEvents(ctx, open[0].ID)
	if len(ev) != 2 || ev[0].Kind != "ack" || ev[0].Username != "nurse-1" || ev[1].Outcome != "isolated" || ev[1].RetestC != 38.1 {
		t.Fatalf("events %+v", ev)
	}
	if iso, _ := db.Isolation(ctx); len(iso) != 1 || iso[0].Outcome != "isolated" {
		t.Fatalf("isolation room %+v", iso)
	}
	if err := db.RecordOutcome(ctx, open[0].ID, "nurse-1", "collected", 0, "mother came 08:10"); err != nil {
		t.Fatal(err)
	}
	if iso, _ := db.Isolation(ctx); len(iso) != 0 {
		t.Fatalf("collected yet still in the isolation room: %+v", iso)
	}
}

func TestConcurrentOverlappingBatches(t *testing.T) {
	db, _ := open(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 10 {
				var es []journal.Entry
				for s := uint64(1); s <= 20; s++ {
					es = append(es, entry("north-1", "e1", uint64(b*10)+s, "ok"))
				}
				ins, _, err := db.InsertEntries(ctx, "hz", es)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				mu.Lock()
				total += ins
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if total != 110 {
		t.Fatalf("inserted %d in all, want 110 (seqs 1..110, each once)", total)
	}
}

func TestSchemaFromTheFuture(t *testing.T) {
	db, path := open(t)
	if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (99, 'x')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, path, &Opts{Logger: quiet}); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open: %v", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	db, path := open(t)
	if _, _, err := db.InsertEntries(ctx, "hz", []journal.Entry{entry("north-1", "e1", 1, "ok")}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2, err := Open(ctx, path, &Opts{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if es, _ := db2.Entries(ctx, Query{}); len(es) != 1 {
		t.Fatal("entry lost across reopen")
	}
}

// TestMigrationBacksUp: a database of an older campusd is copied whole before
// it is migrated, so going back to that campusd is putting the copy back.
func TestMigrationBacksUp(t *testing.T) {
	if postgres {
		t.Skip("PostgreSQL is backed up by its operator (pg_dump); this is SQLite's copy before a migration")
	}
	db, path := open(t)
	if _, _, err := db.InsertEntries(ctx, "hz", []journal.Entry{entry("g1", "e", 1, "ok")}); err != nil {
		t.Fatal(err)
	}
	// Make it a version-3 database, as campusd 0.3 left it.
	for _, q := range []string{`DROP TABLE gate_boots`, `DROP INDEX entries_uncorrected`, `ALTER TABLE entries DROP COLUMN boot`,
		`ALTER TABLE entries DROP COLUMN time_gate`, `DELETE FROM schema_migrations WHERE version = 4`} {
		if _, err := db.w.ExecContext(ctx, q); err != nil {
			t.Fatal(q, err)
		}
	}
	db.Close()
	db2, err := Open(ctx, path, &Opts{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if es, err := db2.Entries(ctx, Query{}); err != nil || len(es) != 1 {
		t.Fatalf("after the migration: %v %v", es, err)
	}
	bak, err := sql.Open("sqlite", "file:"+path+".v3.bak")
	if err != nil {
		t.Fatal(err)
	}
	defer bak.Close()
	var n, v int
	if err := bak.QueryRow(`SELECT COUNT(*), (SELECT MAX(version) FROM schema_migrations) FROM entries`).Scan(&n, &v); err != nil || n != 1 || v != 3 {
		t.Fatalf("backup holds %d entries at version %d (%v), want 1 at 3", n, v, err)
	}
}

// TestAlertsAcrossInstances: with PostgreSQL, a new alert one campusd stores
// reaches the others' consoles (ListenAlerts), once, and not its own twice.
func TestAlertsAcrossInstances(t *testing.T) {
	if !postgres {
		t.Skip("one campusd instance on SQLite: its console hears its own alerts")
	}
	dsn := pgtest.DSN(t)
	one, err := Open(ctx, dsn, &Opts{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	two, err := Open(ctx, dsn, &Opts{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	var mu sync.Mutex
	heard := map[string][]uint64{}
	held := map[string][]uint64{}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for name, db := range map[string]*DB{"one": one, "two": two} {
		go db.ListenAlerts(lctx, func(school string, a wire.Alert, isHeld bool) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case school != "hz":
			case isHeld:
				held[name] = append(held[name], a.Seq)
			default:
				heard[name] = append(heard[name], a.Seq)
			}
		})
	}
	fever := func(seq uint64) wire.Alert {
		return wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", At: t0, Epoch: "e1", Seq: seq, PersonID: "P1", BodyC: 38.4}
	}
	// The listeners start in their own time: alerts until one is heard.
	var seq uint64
	for deadline := time.Now().Add(10 * time.Second); ; {
		seq++
		if _, err := two.InsertAlert(ctx, "hz", fever(seq)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		n := len(heard["one"])
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other instance never heard of the alert")
		}
	}
	if isNew, err := two.InsertAlert(ctx, "hz", fever(seq)); isNew || err != nil { // the same alert again: not new, not announced
		t.Fatalf("again: new=%v %v", isNew, err)
	}
	if _, err := one.InsertAlert(ctx, "hz", fever(seq+1)); err != nil {
		t.Fatal(err)
	}
	// A fever found in an entry batch is announced too, once committed.
	e := entry("north-1", "e1", seq+2, "fever")
	if _, _, fevers, err := two.InsertBatch(ctx, "hz", []journal.Entry{e}); err != nil || len(fevers) != 1 {
		t.Fatalf("the batch's fever: %v %v", fevers, err)
	}
	// And one an instance could not store, as held.
	two.AnnounceHeld(ctx, "hz", fever(seq+3))
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(held["one"], []uint64{seq + 3}) || len(held["two"]) != 0 {
		t.Fatalf("held: one heard %v, two %v; want one %d", held["one"], held["two"], seq+3)
	}
	if got := heard["one"]; len(got) < 2 || got[len(got)-1] != seq+2 || got[len(got)-2] != seq || len(got) > int(seq)+1 {
		t.Fatalf("one heard %v (of 1..%d and %d from two)", got, seq, seq+2)
	}
	if got := heard["two"]; len(got) != 1 || got[0] != seq+1 {
		t.Fatalf("two heard %v, want only one's alert %d", got, seq+1)
	}
}

// TestFeverStoredWithItsEntry: a batch's fever alert is stored in the
// batch's own transaction, once whichever comes first (the gate's alert
// message or the batch); when the alert cannot be stored, neither are the
// entries, so the gate sends them again and nothing is acknowledged without
// its alert.
func TestFeverStoredWithItsEntry(t *testing.T) {
	db, _ := open(t)
	var batch []journal.Entry
	for seq := uint64(1); seq <= 5; seq++ {
		reason := "ok"
		if seq == 3 {
			reason = "fever"
		}
		batch = append(batch, entry("north-1", "e1", seq, reason))
	}
	ins, dup, fevers, err := db.InsertBatch(ctx, "hz", batch)
	if err != nil || ins != 5 || dup != 0 || len(fevers) != 1 || fevers[0].Seq != 3 || fevers[0].Kind != wire.AlertFever || fevers[0].BodyC != 38.4 {
		t.Fatalf("first: %d new, %d duplicates, fevers %+v, %v", ins, dup, fevers, err)
	}
	if ins, dup, fevers, err := db.InsertBatch(ctx, "hz", batch); err != nil || ins != 0 || dup != 5 || len(fevers) != 0 {
		t.Fatalf("again: %d new, %d duplicates, fevers %+v, %v", ins, dup, fevers, err)
	}
	if isNew, err := db.InsertAlert(ctx, "hz", wire.FeverAlert(&batch[2])); err != nil || isNew {
		t.Fatalf("the gate's own alert after its entry: new=%v %v", isNew, err)
	}
	late := entry("north-1", "e1", 6, "fever")
	if isNew, err := db.InsertAlert(ctx, "hz", wire.FeverAlert(&late)); err != nil || !isNew {
		t.Fatalf("the gate's own alert first: new=%v %v", isNew, err)
	}
	if _, _, fevers, err := db.InsertBatch(ctx, "hz", []journal.Entry{late}); err != nil || len(fevers) != 0 {
		t.Fatalf("the entry after its alert: fevers %+v, %v", fevers, err)
	}
	if open, err := db.Alerts(ctx, true, 10); err != nil || len(open) != 2 || open[0].Alert.PersonID == "" {
		t.Fatalf("open alerts %+v, %v", open, err)
	}

	// The alert refused: the entries with it are not stored.
	refuse, allow := `CREATE TRIGGER refuse_alerts BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'alerts refused (test)'); END`, `DROP TRIGGER refuse_alerts`
	if postgres {
		refuse = `CREATE FUNCTION refuse_alerts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'alerts refused (test)'; END $$;
			CREATE TRIGGER refuse_alerts BEFORE INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION refuse_alerts()`
		allow = `DROP TRIGGER refuse_alerts ON alerts; DROP FUNCTION refuse_alerts()`
	}
	if _, err := db.w.ExecContext(ctx, refuse); err != nil {
		t.Fatal(err)
	}
	more := []journal.Entry{entry("north-1", "e1", 7, "ok"), entry("north-1", "e1", 8, "fever")}
	if _, _, _, err := db.InsertBatch(ctx, "hz", more); err == nil || !strings.Contains(err.Error(), "fever of north-1/8") {
		t.Fatalf("stored with its alert refused: %v", err)
	}
	if n := entriesOf(t, db); n != 6 {
		t.Fatalf("%d entries stored, want the 6 before", n)
	}
	if _, err := db.w.ExecContext(ctx, allow); err != nil {
		t.Fatal(err)
	}
	if ins, _, fevers, err := db.InsertBatch(ctx, "hz", more); err != nil || ins != 2 || len(fevers) != 1 || fevers[0].Seq != 8 {
		t.Fatalf("sent again: %d new, fevers %+v, %v", ins, fevers, err)
	}

	// A fever too long to announce (PostgreSQL's notices are under 8000
	// bytes) is stored all the same.
	long := entry("north-1", "e1", 9, "fever")
	long.PersonID = strings.Repeat("P", 8100)
	if ins, _, fevers, err := db.InsertBatch(ctx, "hz", []journal.Entry{long}); err != nil || ins != 1 || len(fevers) != 1 {
		t.Fatalf("a long fever: %d new, fevers %d, %v", ins, len(fevers), err)
	}
}

// TestHeldSince: an alert the console held unstored keeps, once stored, when
// it came and its escalation, once; an acknowledged one is not escalated,
// and one not stored is left alone.
func TestHeldSince(t *testing.T) {
	db, _ := open(t)
	a := wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", At: t0, Epoch: "e1", Seq: 10, PersonID: "P3", BodyC: 38.4}
	if ok, err := db.AlertStored(ctx, a); err != nil || ok {
		t.Fatalf("stored before storing: %v %v", ok, err)
	}
	if ok, err := db.HeldSince(ctx, a, t0, t0); err != nil || ok {
		t.Fatalf("HeldSince of one not stored: %v %v", ok, err)
	}
	if _, err := db.InsertAlert(ctx, "hz", a); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.AlertStored(ctx, a); err != nil || !ok {
		t.Fatalf("not stored after storing: %v %v", ok, err)
	}
	held, escalated := time.Now().Add(-time.Hour).Truncate(time.Millisecond), time.Now().Add(-50*time.Minute).Truncate(time.Millisecond)
	for range 2 {
		if ok, err := db.HeldSince(ctx, a, held, escalated); err != nil || !ok {
			t.Fatalf("HeldSince: %v %v", ok, err)
		}
		held, escalated = held.Add(time.Minute), escalated.Add(time.Minute) // later: changes nothing
	}
	open, _ := db.Alerts(ctx, true, 10)
	if len(open) != 1 || !open[0].ReceivedAt.Equal(held.Add(-2*time.Minute)) || !open[0].EscalatedAt.Equal(escalated.Add(-2*time.Minute)) {
		t.Fatalf("open alerts %+v", open)
	}
	if ev, _ := db.AlertEvents(ctx, open[0].ID); len(ev) != 1 || ev[0].Kind != "escalated" {
		t.Fatalf("events %+v, want one escalation", ev)
	}
	if ids, _ := db.Escalate(ctx, time.Now()); len(ids) != 0 {
		t.Fatalf("escalated again: %v", ids)
	}

	b := a
	b.Seq = 11
	if _, err := db.InsertAlert(ctx, "hz", b); err != nil {
		t.Fatal(err)
	}
	var id int64
	open, _ = db.Alerts(ctx, true, 10)
	for _, o := range open {
		if o.Alert.Seq == 11 {
			id = o.ID
		}
	}
	if id == 0 {
		t.Fatal("b not open")
	}
	if _, err := db.Acknowledge(ctx, id, "nurse-1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.HeldSince(ctx, b, held, escalated); err != nil || !ok {
		t.Fatalf("HeldSince of an acknowledged one: %v %v", ok, err)
	}
	if ev, _ := db.AlertEvents(ctx, id); len(ev) != 1 || ev[0].Kind != "ack" {
		t.Fatalf("an acknowledged alert escalated: %+v", ev)
	}
}

// TestEscalatedOnce: instances escalating the same alert at once (their
// ticks, HeldSince after another stored a held alert) record it once.
func TestEscalatedOnce(t *testing.T) {
	db, path := open(t)
	other := db
	if postgres { // a second instance: its own pools
		o, err := Open(ctx, path, &Opts{Location: time.UTC, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		other = o
	}
	for seq := uint64(1); seq <= 20; seq++ {
		a := wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", At: t0, Epoch: "e1", Seq: seq, PersonID: "P3", BodyC: 38.4}
		if _, err := db.InsertAlert(ctx, "hz", a); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		told := 0
		for i, d := range []*DB{db, other, db, other} {
			wg.Go(func() {
				if i%2 == 0 {
					if _, err := d.HeldSince(ctx, a, t0, t0.Add(time.Duration(i)*time.Second)); err != nil {
						t.Error(err)
					}
					return
				}
				ids, err := d.Escalate(ctx, time.Now().Add(time.Hour))
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				told += len(ids)
				mu.Unlock()
			})
		}
		wg.Wait()
		open, _ := db.Alerts(ctx, true, 100)
		for _, o := range open {
			if o.Alert.Seq != seq {
				continue
			}
			ev, _ := db.AlertEvents(ctx, o.ID)
			if len(ev) != 1 || ev[0].Kind != "escalated" || !ev[0].At.Equal(o.EscalatedAt) || told > 1 {
				t.Fatalf("alert %d: events %+v, escalated %v, %d told by Escalate", seq, ev, o.EscalatedAt, told)
			}
		}
	}
}
