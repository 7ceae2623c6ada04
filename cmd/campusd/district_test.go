package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/console"
	"campusgate/sync/store"
	"campusgate/sync/wire"
	"campusgate/sync/wire/wiretest"

	"github.com/jonboulle/clockwork"
)

// nopGates is a console's gates that are not there.
type nopGates struct{}

func (nopGates) RosterChanged(uint64, []journal.Person) {}
func (nopGates) ConfigChanged(string, wire.Config)      {}
func (nopGates) Revoked(wire.Revocations)               {}
func (nopGates) SchoolConfigChanged(string)             {}
func (nopGates) Connected() bool                        { return true }
func (nopGates) Command(context.Context, string, wire.CmdKind, string, string) error {
	return nil
}

// retained records what the feed publishes.
type retained struct {
	mu   sync.Mutex
	sent [][]byte
	fail error
}

func (p *retained) Publish(_ context.Context, topic string, qos byte, keep bool, b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	if topic != "campusgate/v1/hz-001/report/daily" || qos != 1 || !keep {
		panic("report sent on " + topic + " not retained at QoS 1")
	}
	p.sent = append(p.sent, slices.Clone(b))
	return nil
}

// take returns what was sent since the last take.
func (p *retained) take() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sent
	p.sent = nil
	return s
}

// TestDistrictFeed: nothing before the report time; a zero report at it;
// the numbers of late entries and of a nurse's outcome as corrections with
// the next revision; nothing when nothing changed; the same revision sent
// again, not a new one, after a restart; the previous day still corrected
// until the next day's report time; and only aggregates in every payload.
func TestDistrictFeed(t *testing.T) {
	ctx := context.Background()
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 9, 0, 0, 0, shanghai))
	path := filepath.Join(t.TempDir(), "campusd.db")
	quiet := slog.New(slog.DiscardHandler)
	db, err := store.Open(ctx, path, &store.Opts{Location: shanghai, Now: clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cons, err := console.New(console.Opts{DB: db, School: "hz-001", Gates: nopGates{}, Clock: clock, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	pub := &retained{}
	newFeed := func() *districtFeed {
		at, _, _ := parseReportAt("09:30")
		return &districtFeed{db: db, totals: cons, pub: pub, school: "hz-001", at: at, clock: clock, log: quiet}
	}
	feed := newFeed()
	step := func(want int) []wire.DailyReport {
		t.Helper()
		if err := feed.step(ctx); err != nil {
			t.Fatal(err)
		}
		var out []wire.DailyReport
		for _, b := range pub.take() {
			wiretest.Check(t, wiretest.Report, b)
			onlyAggregates(t, b)
			r, err := wire.DecodeReport(b, "hz-001")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		if len(out) != want {
			t.Fatalf("%s: %d reports sent, want %d: %+v", clock.Now().In(shanghai).Format(time.DateTime), len(out), want, out)
		}
		return out
	}

	step(0) // 09:00: not yet
	clock.Advance(29*time.Minute + 59*time.Second)
	step(0)
	clock.Advance(time.Second)
	r := step(1)[0] // 09:30: nothing happened, still reported
	if want := (wire.DailyReport{V: 1, School: "hz-001", Day: "2026-12-01", Revision: 1, GeneratedAt: r.GeneratedAt, Zero: true}); r != want ||
		!r.GeneratedAt.Equal(clock.Now()) {
		t.Fatalf("zero report %+v", r)
	}
	clock.Advance(time.Minute)
	step(0) // nothing changed

	// A gate that was offline syncs the morning: one pupil in, one with a fever.
	if _, err := db.ReplaceRoster(ctx, []store.Person{{ID: "P1", Name: "王小明", Role: "pupil", Grade: "1", Class: "1-1"},
		{ID: "P2", Name: "李华", Role: "pupil", Grade: "1", Class: "1-1"}, {ID: "S1", Name: "张老师", Role: "staff"}}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 7, 40, 0, 0, shanghai)
	e := func(seq uint64, person, decision, reason string) journal.Entry {
		return journal.Entry{V: 1, GateID: "north-1", Epoch: "e1", Seq: seq, Time: at.Add(time.Duration(seq) * time.Minute), ClockSynced: true,
			PersonID: person, Role: "pupil", Decision: decision, Reason: reason, Kind: "entry", BodyC: 36.5}
	}
	if _, _, err := db.InsertEntries(ctx, "hz-001", []journal.Entry{e(1, "P1", "admit", "ok"), e(2, "P2", "deny", "fever")}); err != nil {
		t.Fatal(err)
	}
	if err := db.GateStatus(ctx, "hz-001", "north-1", wire.Status{V: 1, State: "online", At: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.InsertAlert(ctx, "hz-001", wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", At: at.Add(2 * time.Minute),
		Epoch: "e1", Seq: 2, PersonID: "P2", Name: "李华", Class: "1-1", BodyC: 38.4}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	r = step(1)[0]
	if want := (wire.DailyReport{V: 1, School: "hz-001", Day: "2026-12-01", Revision: 2, GeneratedAt: r.GeneratedAt,
		Expected: 3, Arrived: 1, Absent: 2, Fevers: 1, Denied: 1, Gates: 1, GatesOnline: 1}); r != want {
		t.Fatalf("correction %+v, want %+v", r, want)
	}
	// The gate going off alone is no correction.
	if err := db.GateStatus(ctx, "hz-001", "north-1", wire.Status{V: 1, State: "offline", At: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	step(0)

	// The nurse sends the pupil to the isolation room, then a parent collects them.
	as, err := db.PendingFevers(ctx)
	if err != nil || len(as) != 1 {
		t.Fatalf("%v %v", as, err)
	}
	if err := db.RecordOutcome(ctx, as[0].ID, "nurse", "isolated", 0, ""); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if r = step(1)[0]; r.Revision != 3 || r.Isolated != 1 || r.GatesOnline != 0 {
		t.Fatalf("after the outcome: %+v", r)
	}
	if err := db.RecordOutcome(ctx, as[0].ID, "nurse", "collected", 0, ""); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	step(0) // still sent to the isolation room that day

	// A restart: the last report goes again as it was (the broker may have
	// lost it), and the revisions go on from it.
	feed = newFeed()
	clock.Advance(time.Minute)
	if again := step(1)[0]; again != r {
		t.Fatalf("after a restart %+v, want %+v again", again, r)
	}
	step(0)
	if _, _, err := db.InsertEntries(ctx, "hz-001", []journal.Entry{e(3, "P2", "admit", "ok")}); err != nil { // came back cleared... a late entry
		t.Fatal(err)
	}
	// A failed publish is tried again with the same revision.
	pub.fail = context.DeadlineExceeded
	clock.Advance(time.Minute)
	if err := feed.step(ctx); err == nil {
		t.Fatal("publish failure not reported")
	}
	pub.fail = nil
	clock.Advance(time.Minute)
	if r = step(1)[0]; r.Revision != 4 || r.Arrived != 2 || r.Absent != 1 {
		t.Fatalf("late entry: %+v", r)
	}

	// The next morning before 09:30: yesterday's report is still the one
	// held, and still corrected; at 09:30 today's replaces it.
	clock.Advance(time.Date(2026, 12, 2, 8, 0, 0, 0, shanghai).Sub(clock.Now()))
	step(0)
	if _, _, err := db.InsertEntries(ctx, "hz-001", []journal.Entry{e(4, "S1", "admit", "ok")}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if r = step(1)[0]; r.Day != "2026-12-01" || r.Revision != 5 || r.Arrived != 3 {
		t.Fatalf("yesterday's correction: %+v", r)
	}
	clock.Advance(time.Date(2026, 12, 2, 9, 30, 0, 0, shanghai).Sub(clock.Now()))
	if r = step(1)[0]; r.Day != "2026-12-02" || r.Revision != 1 || r.Expected != 3 || r.Arrived != 0 || !r.Zero {
		t.Fatalf("the next day: %+v", r)
	}
}

// onlyAggregates fails unless b has exactly the report's aggregate fields.
func onlyAggregates(t *testing.T, b []byte) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"absent", "arrived", "day", "denied", "expected", "fevers", "gates", "gates_online", "generated_at", "isolated",
		"revision", "school", "v", "zero_report"}
	if !slices.Equal(keys, want) {
		t.Fatalf("report fields %v, want only %v: %s", keys, want, b)
	}
}

func TestParseReportAt(t *testing.T) {
	if d, on, err := parseReportAt("09:30"); err != nil || !on || d != 9*time.Hour+30*time.Minute {
		t.Fatal(d, on, err)
	}
	if _, on, err := parseReportAt("off"); err != nil || on {
		t.Fatal(on, err)
	}
	for _, bad := range []string{"", "9", "25:00", "09:30:00", "nine"} {
		if _, _, err := parseReportAt(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
