package store

import (
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"
)

// TestPurgeRemovesOldPersonalData: after the retention period every table
// that holds personal data has lost its old rows (counted with SELECT, not
// through the store's own queries) and kept the recent ones; the audit log
// is kept for its own, longer period.
func TestPurgeRemovesOldPersonalData(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	db, err := Open(ctx, location(t), &Opts{Location: time.UTC, Logger: quiet, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ReplaceRoster(ctx, []Person{
		{ID: "OLD", Name: "旧学生", Role: "pupil", Grade: "1", Class: "1-1", GuardianPhone: "13800000001"},
		{ID: "NEW", Name: "新学生", Role: "pupil", Grade: "1", Class: "1-1", GuardianPhone: "13800000002"},
	}); err != nil {
		t.Fatal(err)
	}
	// One of each, for the person "OLD" 200 days ago and "NEW" today.
	add := func(person, tag string) {
		t.Helper()
		e := entry("north-1", "e-"+tag, 1, "fever")
		e.PersonID, e.Time = person, now
		if _, _, err := db.InsertEntries(ctx, "hz", []journal.Entry{e}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.InsertAlert(ctx, "hz", wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", At: now, Epoch: "e-" + tag, Seq: 1, PersonID: person, BodyC: 38.4}); err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := db.r.QueryRowContext(ctx, `SELECT id FROM alerts WHERE person_id = ?`, person).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Acknowledge(ctx, id, "nurse"); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordOutcome(ctx, id, "nurse", "isolated", 38.2, "隔离"); err != nil {
			t.Fatal(err)
		}
		day := now.Format(time.DateOnly)
		if _, err := db.SaveHealthReport(ctx, HealthReport{Day: day, PersonID: person, TempC: 36.5, Status: "green", LinkID: "L-" + tag}); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordAbsence(ctx, Absence{Day: day, PersonID: person, Reason: "sick", Username: "ht", At: now}); err != nil {
			t.Fatal(err)
		}
		p := PassRecord{PassID: "pass-" + tag, PersonID: "V-" + tag, Role: "visitor", KID: "k", Code: "CG1:x", IssuedAt: now, ExpiresAt: now.Add(4 * time.Hour), IssuedBy: "guard"}
		if err := db.AddVisitor(ctx, Visitor{ID: "V-" + tag, Name: "访客" + tag, Phone: "13900000000", Reason: "送教材", Host: "陈老师",
			ValidFrom: now, ValidTo: now.Add(4 * time.Hour), CreatedBy: "guard", PassID: p.PassID}, p); err != nil {
			t.Fatal(err)
		}
		// Two links for one phone: the first is revoked by the second.
		phone := map[string]string{"old": "13800000001", "new": "13800000002"}[tag]
		for _, id := range []string{"fl1-" + tag, "fl2-" + tag} {
			if err := db.AddFamilyLinks(ctx, "ht", NewFamilyLink{ID: id, TokenHash: id + "-hash", Phone: phone}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Audit(ctx, AuditRecord{Username: "admin", Role: "admin", Action: "view", Target: person}); err != nil {
			t.Fatal(err)
		}
	}
	add("OLD", "old")
	now = now.Add(200 * 24 * time.Hour)
	add("NEW", "new")

	got, err := db.Purge(ctx, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := db.r.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	for _, c := range []struct {
		table, query string
		old, new     int // rows left of the old and of the new
	}{
		{"entries", `SELECT COUNT(*) FROM entries WHERE person_id = ?`, 0, 1},
		{"alerts", `SELECT COUNT(*) FROM alerts WHERE person_id = ?`, 0, 1},
		{"alert_events", `SELECT COUNT(*) FROM alert_events e JOIN alerts a ON a.id = e.alert_id WHERE a.person_id = ?`, 0, 2},
		{"health_reports", `SELECT COUNT(*) FROM health_reports WHERE person_id = ?`, 0, 1},
		{"absences", `SELECT COUNT(*) FROM absences WHERE person_id = ?`, 0, 1},
		{"audit", `SELECT COUNT(*) FROM audit WHERE target = ?`, 1, 1}, // 200 days < the audit's 365
	} {
		if n := count(c.query, "OLD"); n != c.old {
			t.Errorf("%s: %d rows of the old person left, want %d", c.table, n, c.old)
		}
		if n := count(c.query, "NEW"); n != c.new {
			t.Errorf("%s: %d rows of the new person left, want %d", c.table, n, c.new)
		}
	}
	if n := count(`SELECT COUNT(*) FROM alert_events`); n != 2 {
		t.Errorf("alert_events: %d rows, want the new alert's 2", n)
	}
	for _, c := range []struct {
		query string
		want  int
	}{
		{`SELECT COUNT(*) FROM visitors WHERE visitor_id = 'V-old'`, 0},
		{`SELECT COUNT(*) FROM visitors WHERE visitor_id = 'V-new'`, 1},
		{`SELECT COUNT(*) FROM passes WHERE pass_id = 'pass-old'`, 0},
		{`SELECT COUNT(*) FROM passes WHERE pass_id = 'pass-new'`, 1},
		{`SELECT COUNT(*) FROM family_links WHERE id = 'fl1-old'`, 0}, // revoked 200 days ago
		{`SELECT COUNT(*) FROM family_links WHERE id = 'fl2-old'`, 1}, // still the family's live link
		{`SELECT COUNT(*) FROM family_links WHERE id = 'fl1-new'`, 1}, // revoked today
	} {
		if n := count(c.query); n != c.want {
			t.Errorf("%s: %d, want %d", c.query, n, c.want)
		}
	}
	// The roster is the school's current list, not history: it stays.
	if n := count(`SELECT COUNT(*) FROM people`); n != 2 {
		t.Errorf("people: %d", n)
	}
	if got["entries"] != 1 || got["alerts"] != 1 || got["alert_events"] != 2 || got.Total() != 9 {
		t.Errorf("purged %v", got)
	}
	// A year and a half later the audit log goes too; a second purge of
	// nothing deletes nothing.
	now = now.Add(400 * 24 * time.Hour)
	if _, err := db.Purge(ctx, Retention{}); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT COUNT(*) FROM audit WHERE target = 'OLD'`); n != 0 {
		t.Errorf("audit: %d old rows after %v", n, DefaultRetention.Audit)
	}
	if got, err := db.Purge(ctx, Retention{}); err != nil || got.Total() != 0 {
		t.Errorf("a purge of nothing: %v %v", got, err)
	}
	// An entry taken long ago by a gate whose clock was unset, but received
	// today, is not deleted on arrival.
	e := entry("south-1", "e-clock", 1, "ok")
	e.Time, e.ClockSynced = time.Unix(0, 0), false
	if _, _, err := db.InsertEntries(ctx, "hz", []journal.Entry{e}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Purge(ctx, Retention{}); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT COUNT(*) FROM entries WHERE epoch = 'e-clock'`); n != 1 {
		t.Errorf("an entry received today with an unset clock was purged")
	}
	if r := (Retention{Data: 400 * 24 * time.Hour, Audit: time.Hour}).WithDefaults(); r.Audit != r.Data {
		t.Errorf("audit kept shorter than the data: %+v", r)
	}
}

// TestPurgeEntriesInBatches: entries past retention go in batches, all of
// them, the recent ones kept.
func TestPurgeEntriesInBatches(t *testing.T) {
	defer func(b int) { purgeBatch = b }(purgeBatch)
	purgeBatch = 7
	now := t0
	db, err := Open(ctx, location(t), &Opts{Location: time.UTC, Logger: quiet, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var es []journal.Entry
	for seq := uint64(1); seq <= 40; seq++ {
		es = append(es, entry("north-1", "e1", seq, "ok"))
	}
	if _, _, err := db.InsertEntries(ctx, "hz", es); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(200 * 24 * time.Hour)
	if _, _, err := db.InsertEntries(ctx, "hz", []journal.Entry{entry("north-1", "e2", 1, "ok")}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Purge(ctx, Retention{})
	if err != nil || got["entries"] != 40 {
		t.Fatalf("purged %v, %v; want the 40 old entries", got, err)
	}
	// The one received today stays, though the gate said t0 (a clock never
	// set): it goes when its receipt is past retention too.
	if left, _ := db.Entries(ctx, Query{}); len(left) != 1 || left[0].Epoch != "e2" {
		t.Fatalf("left %+v, want the one received today", left)
	}
}
