package store

import (
	"errors"

	"campusgate/gate/journal"
	"testing"
	"time"
)

func TestRosterReplace(t *testing.T) {
	db, path := open(t)
	people := []Person{
		{ID: "P1", Name: "王小明", Role: "pupil", Grade: "1", Class: "1-2", CardID: "C1", GuardianPhone: "13800000001"},
		{ID: "P2", Name: "李华", Role: "pupil", Grade: "1", Class: "1-2"},
		{ID: "T1", Name: "陈老师", Role: "staff"},
	}
	ch, err := db.ReplaceRoster(ctx, people)
	v1 := ch.Version
	if err != nil || v1 < uint64(time.Now().Unix()-60) || ch.Added != 3 {
		t.Fatalf("first roster: %+v %v", ch, err)
	}
	if ch, _ := db.ReplaceRoster(ctx, people); ch.Version != v1 || ch.Unchanged != 3 {
		t.Fatalf("the same roster again moved the version: %+v", ch)
	}
	people[1].Name = "李华华"
	ch, err = db.ReplaceRoster(ctx, append(people[:2:2], Person{ID: "P3", Name: "张三", Role: "pupil", Grade: "2", Class: "2-1"}))
	if err != nil || ch.Version <= v1 || ch.Added != 1 || ch.Changed != 1 || ch.Removed != 1 || ch.Unchanged != 1 {
		t.Fatalf("second roster: %+v %v", ch, err)
	}
	db.Close()
	db, err = Open(ctx, path, &Opts{Location: time.UTC, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, all, err := db.Roster(ctx)
	if err != nil || v <= v1 || len(all) != 3 {
		t.Fatalf("roster after reopen: v%d %+v %v", v, all, err)
	}
	if p, _ := db.PersonByID(ctx, "P1"); p.GuardianPhone != "13800000001" || p.Gate().Name != "王小明" {
		t.Fatalf("P1 %+v", p)
	}
	if _, err := db.PersonByID(ctx, "T1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed person: %v", err)
	}
	if cls, _ := db.People(ctx, PeopleQuery{Grade: "1", Class: "1-2"}); len(cls) != 2 {
		t.Fatalf("class 1-2: %+v", cls)
	}
	if cs, _ := db.Classes(ctx); len(cs) != 2 || cs[0] != [2]string{"1", "1-2"} {
		t.Fatalf("classes %v", cs)
	}
}

func TestAccountsAndSessions(t *testing.T) {
	now := t0
	db, err := Open(ctx, location(t), &Opts{Location: time.UTC, Logger: quiet, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u := User{Username: "nurse-1", DisplayName: "刘护士", Role: "nurse"}
	if err := db.CreateUser(ctx, u, "$2a$hash"); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, u, "$2a$hash"); !errors.Is(err, ErrExists) {
		t.Fatalf("a second nurse-1: %v", err)
	}
	got, hash, err := db.UserForLogin(ctx, "nurse-1")
	if err != nil || hash != "$2a$hash" || got.DisplayName != "刘护士" {
		t.Fatalf("login lookup %+v %q %v", got, hash, err)
	}
	if err := db.CreateSession(ctx, "tok1", "nurse-1", now.Add(12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s, err := db.SessionByToken(ctx, "tok1", 2*time.Hour); err != nil || s.User.Role != "nurse" {
		t.Fatalf("session %+v %v", s, err)
	}
	now = now.Add(3 * time.Hour) // idle too long
	if _, err := db.SessionByToken(ctx, "tok1", 2*time.Hour); !errors.Is(err, ErrNotFound) {
		t.Fatalf("idle session still good: %v", err)
	}
	_ = db.CreateSession(ctx, "tok2", "nurse-1", now.Add(12*time.Hour))
	u.Role, u.Disabled = "guard", false
	if err := db.UpdateUser(ctx, u, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByToken(ctx, "tok2", 2*time.Hour); !errors.Is(err, ErrNotFound) {
		t.Fatal("a role change left the session alive")
	}
	_, hash, _ = db.UserForLogin(ctx, "nurse-1")
	if hash != "$2a$hash" {
		t.Fatal("UpdateUser without a hash changed the password")
	}
	_ = db.CreateSession(ctx, "tok3", "nurse-1", now.Add(time.Hour))
	now = now.Add(61 * time.Minute)
	if _, err := db.SessionByToken(ctx, "tok3", 2*time.Hour); !errors.Is(err, ErrNotFound) {
		t.Fatal("an expired session still good")
	}
	if n, _ := db.CountUsers(ctx); n != 1 {
		t.Fatalf("%d users", n)
	}
}

func TestAuditAbsencesPassesConfigs(t *testing.T) {
	db, _ := open(t)
	for _, a := range []string{"login", "view_entries", "login"} {
		if err := db.Audit(ctx, AuditRecord{Username: "admin", Role: "admin", Action: a, Target: "x", Remote: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	if log, _ := db.AuditLog(ctx, AuditQuery{Action: "login"}); len(log) != 2 || log[0].ID < log[1].ID {
		t.Fatalf("audit %+v", log)
	}
	if err := db.RecordAbsence(ctx, Absence{Day: "2026-09-01", PersonID: "P1", Reason: "sick", Username: "ht-1"}); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordAbsence(ctx, Absence{Day: "2026-09-01", PersonID: "P1", Reason: "leave", Note: "家中有事", Username: "ht-1"}); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordAbsence(ctx, Absence{Day: "2026-09-01", PersonID: "P2", Reason: "skiving"}); err == nil {
		t.Fatal("an unknown reason accepted")
	}
	if abs, _ := db.Absences(ctx, "2026-09-01"); len(abs) != 1 || abs["P1"].Reason != "leave" {
		t.Fatalf("absences %+v", abs)
	}
	p := PassRecord{PassID: "pass-1", PersonID: "P1", Role: "pupil", KID: "k1", Code: "CG1:X", IssuedAt: t0, ExpiresAt: time.Now().Add(time.Hour), IssuedBy: "admin"}
	if err := db.AddPass(ctx, p); err != nil {
		t.Fatal(err)
	}
	// A class's passes go in together or not at all: a duplicate id refuses the lot.
	p2 := p
	p2.PassID, p2.PersonID = "pass-2", "P2"
	if err := db.AddPass(ctx, p2, p); err == nil {
		t.Fatal("a duplicate pass id accepted")
	}
	if by, err := db.PassesOf(ctx, []string{"P1", "P2", "nobody"}); err != nil || len(by["P1"]) != 1 || len(by["P2"]) != 0 {
		t.Fatalf("passes of P1, P2: %+v %v (P2's pass must have been rolled back)", by, err)
	}
	if r, err := db.RevokePass(ctx, "pass-1", "admin", "lost"); err != nil || r.RevokedBy != "admin" {
		t.Fatalf("revoke %+v %v", r, err)
	}
	if r, _ := db.RevokePass(ctx, "pass-1", "other", "again"); r.RevokedBy != "admin" {
		t.Fatal("a second revocation overwrote the first")
	}
	if _, err := db.RevokePass(ctx, "nope", "admin", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke missing: %v", err)
	}
	if rv, _ := db.Revoked(ctx); len(rv) != 1 {
		t.Fatalf("revoked %+v", rv)
	}
	c1, err := db.SetGateConfig(ctx, GateConfig{Gate: "north-1", TOML: "[temperature]\nthreshold_c = 37.5\n", UpdatedBy: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := db.SetGateConfig(ctx, GateConfig{Gate: "north-1", TOML: "[temperature]\nthreshold_c = 37.6\n", UpdatedBy: "admin"})
	if c2.Version <= c1.Version {
		t.Fatalf("versions %d then %d", c1.Version, c2.Version)
	}
	if cs, _ := db.GateConfigs(ctx); cs["north-1"].TOML != c2.TOML {
		t.Fatalf("configs %+v", cs)
	}
}

func TestEntriesByClassAndName(t *testing.T) {
	db, _ := open(t)
	if _, err := db.ReplaceRoster(ctx, []Person{{ID: "P1", Name: "王小明", Role: "pupil", Grade: "1", Class: "1-2"},
		{ID: "P2", Name: "100%_李", Role: "pupil", Grade: "1", Class: "1-3"}}); err != nil {
		t.Fatal(err)
	}
	es := []struct {
		seq    uint64
		person string
	}{{1, "P1"}, {2, "P2"}, {3, "P1"}}
	for _, x := range es {
		e := entry("north-1", "e1", x.seq, "ok")
		e.PersonID = x.person
		if _, _, err := db.InsertEntries(ctx, "hz", []journal.Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := db.Entries(ctx, Query{Class: "1-2"}); len(got) != 2 {
		t.Fatalf("class 1-2: %d entries", len(got))
	}
	if got, _ := db.Entries(ctx, Query{Name: "小明"}); len(got) != 2 {
		t.Fatalf("name 小明: %d entries", len(got))
	}
	if got, _ := db.Entries(ctx, Query{Name: "%"}); len(got) != 1 { // only 100%_李 has a %: LIKE wildcards are escaped
		t.Fatalf("name %%: %d entries", len(got))
	}
	if got, _ := db.Entries(ctx, Query{Name: "'; DROP TABLE entries; --"}); len(got) != 0 {
		t.Fatalf("injection: %d entries", len(got))
	}
	n := 0
	if err := db.EachEntry(ctx, Query{Day: t0.Format(time.DateOnly), OldestFirst: true}, func(journal.Entry) error { n++; return nil }); err != nil || n != 3 {
		t.Fatalf("each: %d %v", n, err)
	}
	sum, err := db.DaySummary(ctx, t0.Format(time.DateOnly))
	if err != nil || len(sum) != 2 || sum["P1"].FirstAdmit.IsZero() {
		t.Fatalf("summary %+v %v", sum, err)
	}
}
