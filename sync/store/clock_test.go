package store

import (
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"
)

// TestClockCorrection: a box without a real-time clock boots at the time it
// saved last night and admits people with it, marked unsynchronised; once NTP
// sets its clock, its telemetry gives the boot's offset and the server moves
// those entries (and the fever alert) to when they really happened, on the
// right day, keeping what the gate wrote. Entries arriving afterwards are
// corrected as they come; synchronised entries and other boots are left
// alone; nothing is counted twice.
func TestClockCorrection(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	db, err := Open(ctx, location(t), &Opts{Location: shanghai, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	saved := time.Date(2026, 11, 30, 22, 0, 0, 0, shanghai) // fake-hwclock: last night's shutdown
	bootedAt := time.Date(2026, 12, 1, 7, 20, 0, 0, shanghai)
	mono := func(at time.Time) int64 { return int64(at.Sub(bootedAt)) }
	unsynced := func(seq uint64, really time.Time, reason string) journal.Entry {
		e := entry("north-1", "ep", seq, reason)
		e.ClockSynced, e.Boot, e.MonoNS = false, "boot-1", mono(really)
		e.Time = saved.Add(really.Sub(bootedAt)) // the box's clock ran on from the saved time
		return e
	}
	a := unsynced(1, time.Date(2026, 12, 1, 7, 30, 0, 0, shanghai), "ok")
	fever := unsynced(2, time.Date(2026, 12, 1, 7, 31, 0, 0, shanghai), "fever")
	if _, err := db.InsertAlert(ctx, "hz-001", wire.Alert{Kind: wire.AlertFever, Gate: "north-1", Epoch: "ep", Seq: 2, At: fever.Time,
		PersonID: fever.PersonID, BodyC: 38.4}); err != nil {
		t.Fatal(err)
	}
	other := unsynced(3, time.Date(2026, 12, 1, 7, 32, 0, 0, shanghai), "ok")
	other.Boot = "boot-0" // an earlier boot: no offset will be known for it
	if _, _, err := db.InsertEntries(ctx, "hz-001", []journal.Entry{a, fever, other}); err != nil {
		t.Fatal(err)
	}
	if c, _ := db.CountDay(ctx, "2026-11-30"); c.Entries != 3 {
		t.Fatalf("before the sync the entries are where the gate put them: %+v", c)
	}

	// 07:40, NTP has set the clock: the telemetry says how boot-1 maps to real time.
	now := time.Date(2026, 12, 1, 7, 40, 0, 0, shanghai)
	tel := wire.Telemetry{At: now, ClockSynced: true, Boot: "boot-1", MonoNS: mono(now)}
	if err := db.GateTelemetry(ctx, "hz-001", "north-1", tel); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]journal.Entry{}
	es, err := db.Entries(ctx, Query{Gate: "north-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		got[e.Seq] = e
	}
	for _, want := range []journal.Entry{a, fever} {
		g := got[want.Seq]
		really := bootedAt.Add(time.Duration(want.MonoNS))
		if !g.Time.Equal(really) || g.TimeAsSent == nil || !g.TimeAsSent.Equal(want.Time) || g.ClockSynced {
			t.Errorf("seq %d: time %v (as sent %v, synced %v), want %v corrected from %v", want.Seq, g.Time, g.TimeAsSent, g.ClockSynced, really, want.Time)
		}
	}
	if g := got[3]; !g.Time.Equal(other.Time) || g.TimeAsSent != nil {
		t.Errorf("another boot's entry was changed: %v %v", g.Time, g.TimeAsSent)
	}
	if c, _ := db.CountDay(ctx, "2026-12-01"); c.Entries != 2 || c.Fevers != 1 {
		t.Errorf("after the sync, 1 December: %+v, want the 2 entries and the fever", c)
	}
	if c, _ := db.CountDay(ctx, "2026-11-30"); c.Entries != 1 {
		t.Errorf("after the sync, 30 November: %+v, want only the other boot's entry", c)
	}
	al, err := db.Alerts(ctx, false, 10)
	if err != nil || len(al) != 1 || !al[0].Alert.At.Equal(bootedAt.Add(time.Duration(fever.MonoNS))) {
		t.Fatalf("fever alert: %+v %v, want its time corrected", al, err)
	}

	// An entry of boot-1 stamped before the sync but arriving after it is corrected on arrival; a synchronised one
	// is stored as sent; a duplicate of a corrected one is a duplicate.
	late := unsynced(4, time.Date(2026, 12, 1, 7, 35, 0, 0, shanghai), "ok")
	synced := entry("north-1", "ep", 5, "ok")
	synced.Time, synced.Boot, synced.MonoNS = now.Add(time.Minute), "boot-1", mono(now.Add(time.Minute))
	ins, dup, err := db.InsertEntries(ctx, "hz-001", []journal.Entry{late, synced, a})
	if err != nil || ins != 2 || dup != 1 {
		t.Fatalf("insert after the sync: %d new, %d duplicates, %v", ins, dup, err)
	}
	es, _ = db.Entries(ctx, Query{Gate: "north-1", Day: "2026-12-01", OldestFirst: true})
	var seqs []uint64
	for _, e := range es {
		seqs = append(seqs, e.Seq)
	}
	if len(seqs) != 4 || seqs[0] != 1 || seqs[1] != 2 || seqs[2] != 4 || seqs[3] != 5 {
		t.Fatalf("1 December in time order: seqs %v, want [1 2 4 5]", seqs)
	}
	if es[3].TimeAsSent != nil || !es[3].Time.Equal(synced.Time) {
		t.Errorf("synchronised entry changed: %+v", es[3])
	}
	// The next telemetry finds nothing left to correct.
	tx, _ := db.w.BeginTx(ctx, nil)
	defer tx.Rollback()
	tel.At, tel.MonoNS = now.Add(time.Minute), mono(now.Add(time.Minute))
	if n, err := db.recordBoot(ctx, tx, "north-1", tel); err != nil || n != 0 {
		t.Fatalf("second telemetry corrected %d (%v), want 0", n, err)
	}
}
