package console

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/sync/store"
	"campusgate/sync/wire"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestStoreDownBanner: while the ingest's writes are refused, every page
// says so in the users' words, admins also see the engine's error, and
// /healthz fails; once writes are taken again it is gone.
func TestStoreDownBanner(t *testing.T) {
	r := newRig(t)
	var mu sync.Mutex
	var since time.Time
	var why error
	r.s.o.StoreFailing = func() (time.Time, error) { mu.Lock(); defer mu.Unlock(); return since, why }
	set := func(at time.Time, err error) { mu.Lock(); since, why = at, err; mu.Unlock() }
	nurse, admin := r.client("nurse"), r.client("admin")
	anon := r.client("")
	events := r.stream(nurse)
	// The open pages are told only when it changes.
	flips := func(want bool) {
		t.Helper()
		r.s.StoreStateChanged()
		r.s.StoreStateChanged()
		got := r.sent(events)
		if want != (len(got) == 1 && got[0] == "store") {
			t.Fatalf("events %v, want a store event: %v", got, want)
		}
	}
	flips(false)

	if _, body := r.get(nurse, "/alerts"); strings.Contains(body, `id="store-down"`) {
		t.Fatal("banner while the database takes writes")
	}
	if code, _ := r.get(anon, "/healthz"); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}

	full := fmt.Errorf("store: insert entry north-1/176: %w", &pgconn.PgError{Code: "53100", Message: "could not extend file"})
	set(r.clock.Now().Add(-10*time.Minute), full) // 08:50 at the school
	flips(true)
	_, body := r.get(nurse, "/alerts")
	if !strings.Contains(body, `id="store-down"`) || !strings.Contains(body, "服务器磁盘已满（自 09-01 08:50 起）") || !strings.Contains(body, "不会丢失") {
		t.Fatalf("nurse's page while the disk is full: %s", body)
	}
	if strings.Contains(body, "could not extend file") {
		t.Fatal("the engine's error shown to a nurse")
	}
	if _, body := r.get(admin, "/gates"); !strings.Contains(body, "服务器磁盘已满") || !strings.Contains(body, "could not extend file") {
		t.Fatalf("admin's page: %s", body)
	}
	if _, body := r.get(anon, "/login"); strings.Contains(body, `id="store-down"`) {
		t.Fatal("banner on the login page, to someone not signed in")
	}
	if code, body := r.get(anon, "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "disk is full") || strings.Contains(body, "extend file") {
		t.Fatalf("healthz while the disk is full (no engine error: it needs no login): %d %s", code, body)
	}
	if code, _ := r.get(admin, "/lang?to=en&next=/"); code != http.StatusSeeOther {
		t.Fatal("lang")
	}
	if _, body := r.get(admin, "/"); !strings.Contains(body, "The server&#39;s disk is full (since 09-01 08:50)") {
		t.Fatalf("English banner: %s", body)
	}

	set(r.clock.Now().Add(-time.Minute), errors.New("store: insert entries: disk I/O error"))
	if _, body := r.get(nurse, "/alerts"); !strings.Contains(body, "服务器数据库无法写入（自 09-01 08:59 起）") {
		t.Fatalf("another refusal: %s", body)
	}

	flips(false) // still down, for another reason
	set(time.Time{}, nil)
	flips(true)
	if _, body := r.get(nurse, "/alerts"); strings.Contains(body, `id="store-down"`) {
		t.Fatal("banner after the database took writes again")
	}
	if code, _ := r.get(anon, "/healthz"); code != http.StatusOK {
		t.Fatalf("healthz after: %d", code)
	}
}

// TestDiskFullSaidPlainly: a console write the database refuses for want of
// space answers 507 with what the user can do, page or API.
func TestDiskFullSaidPlainly(t *testing.T) {
	r := newRig(t)
	full := fmt.Errorf("store: acknowledge alert 1: %w", &pgconn.PgError{Code: "53100"})
	for _, path := range []string{"/alerts/1/ack", "/api/alerts/1/ack"} {
		w := httptest.NewRecorder()
		r.s.oops(w, httptest.NewRequest("POST", path, nil), nil, full)
		if w.Code != http.StatusInsufficientStorage || !strings.Contains(w.Body.String(), "服务器磁盘已满，未能保存") {
			t.Errorf("%s: %d %s", path, w.Code, w.Body.String())
		}
	}
	w := httptest.NewRecorder()
	r.s.oops(w, httptest.NewRequest("POST", "/alerts/1/ack", nil), nil, errors.New("store: something else"))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("another failure: %d", w.Code)
	}
}

// TestUnsavedFeverAlerts: a fever alert the database did not store (a full
// disk) is on the nurse's page all the same, with the person, until the
// database holds it; then it is an open alert like any other.
func TestUnsavedFeverAlerts(t *testing.T) {
	r := newRig(t)
	nurse := r.client("nurse")
	events := r.stream(nurse)
	a := wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", Epoch: "e9", Seq: 7, At: r.clock.Now(), PersonID: "P1", BodyC: 38.7}
	if !r.s.AlertNotStored("hz-001", a) { // ingest raises it though InsertAlert failed
		t.Fatal("not held")
	}
	if e := <-events; e != "alert" {
		t.Fatalf("nurse event %q", e)
	}
	// The same again (another campusd instance holds it too, and says so):
	// no second alarm, as the next event shows.
	if r.s.AlertNotStored("hz-001", a) {
		t.Fatal("held twice")
	}
	_, body := r.get(nurse, "/alerts")
	if !strings.Contains(body, `data-unsaved="north-1/7"`) || !strings.Contains(body, "未能保存的发热预警 (1)") || !strings.Contains(body, "王小明") || !strings.Contains(body, "38.7") {
		t.Fatalf("the nurse's page with an alert not stored: %s", body)
	}
	var d alertsData
	if _, body := r.get(nurse, "/api/alerts"); json.Unmarshal([]byte(body), &d) != nil || len(d.Unsaved) != 1 || d.Unsaved[0].Person.Name != "王小明" || len(d.Open) != 1 {
		t.Fatalf("the API: %s", body)
	}

	// The gate's entry is stored once the disk has room: the alert with it.
	if _, err := r.db.InsertAlert(context.Background(), "hz-001", a); err != nil {
		t.Fatal(err)
	}
	r.s.Alert("hz-001", a)
	if e := <-events; e != "changed" { // shown already: no second alarm
		t.Fatalf("nurse event %q, want changed", e)
	}
	d = alertsData{}
	if _, body := r.get(nurse, "/api/alerts"); json.Unmarshal([]byte(body), &d) != nil || len(d.Unsaved) != 0 || len(d.Open) != 2 {
		t.Fatalf("once stored: %s", body)
	}
	if _, body := r.get(nurse, "/alerts"); strings.Contains(body, "data-unsaved") {
		t.Fatal("still shown as not saved")
	}

	// One stored meanwhile another way (another campusd instance), and one
	// whose entry's batch was stored first, which its gate never sends
	// again: Run stores them, and the pages look again.
	b, c := a, a
	b.Seq, c.Seq = 8, 9
	r.s.AlertNotStored("hz-001", b)
	r.s.AlertNotStored("hz-001", c)
	<-events
	<-events
	if _, err := r.db.InsertAlert(context.Background(), "hz-001", b); err != nil {
		t.Fatal(err)
	}
	r.s.storeUnsaved(context.Background())
	if n := len(r.s.unsaved.list()); n != 0 {
		t.Fatalf("%d held after storing them again", n)
	}
	if e := <-events; e != "changed" {
		t.Fatalf("nurse event %q, want changed", e)
	}
	d = alertsData{}
	if _, body := r.get(nurse, "/api/alerts"); json.Unmarshal([]byte(body), &d) != nil || len(d.Unsaved) != 0 || len(d.Open) != 4 {
		t.Fatalf("after storing them again: %s", body)
	}

	// Bounded, the oldest let go first.
	r.s.hub = newHub() // no stream to fill
	for i := range maxUnsaved + 1 {
		c := a
		c.Seq = uint64(100 + i)
		r.s.AlertNotStored("hz-001", c)
		r.clock.Advance(time.Second)
	}
	held := r.s.unsaved.list()
	if len(held) != maxUnsaved || held[len(held)-1].Alert.Seq != 101 {
		t.Fatalf("%d held, the oldest seq %d", len(held), held[len(held)-1].Alert.Seq)
	}
}

// TestUnsavedFeverEscalated: a fever alert held unstored, which nobody can
// acknowledge, goes to the admins after EscalateAfter as a stored one does,
// once, and the pages say so.
func TestUnsavedFeverEscalated(t *testing.T) {
	r := newRig(t)
	admin, nurse := r.client("admin"), r.client("nurse")
	adminEvents, nurseEvents := r.stream(admin), r.stream(nurse)
	a := wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", Epoch: "e9", Seq: 7, At: r.clock.Now(), PersonID: "P1", BodyC: 38.7}
	r.s.AlertNotStored("hz-001", a)
	<-adminEvents
	<-nurseEvents
	r.clock.Advance(r.s.o.EscalateAfter - time.Second)
	r.s.escalate(context.Background())
	if _, body := r.get(admin, "/alerts"); strings.Contains(body, "已上报管理员") {
		t.Fatal("escalated before its time")
	}
	// escalated counts the admins' escalation events since the last look.
	escalated := func() int {
		n := 0
		for _, e := range r.sent(adminEvents) {
			if e == "escalated" {
				n++
			}
		}
		return n
	}
	if n := escalated(); n != 0 {
		t.Fatalf("%d escalations before their time", n)
	}
	r.clock.Advance(2 * time.Second)
	r.s.escalate(context.Background())
	if n := escalated(); n == 0 { // the rig's stored open alert goes too
		t.Fatal("no escalation for the admins")
	}
	for e := range nurseEvents { // the nurse's page is told to look again
		if e == "changed" {
			break
		}
		if e != "marker" {
			t.Fatalf("nurse event %q, want changed", e)
		}
	}
	for _, c := range []*http.Client{admin, nurse} {
		if _, body := r.get(c, "/alerts"); !strings.Contains(body, `class="alert fever unsaved escalated" data-unsaved="north-1/7"`) || !strings.Contains(body, "超时未确认，已上报管理员") {
			t.Fatalf("the page of a held alert escalated: %s", body)
		}
	}
	var d alertsData
	if _, body := r.get(admin, "/api/alerts"); json.Unmarshal([]byte(body), &d) != nil || len(d.Unsaved) != 1 || d.Unsaved[0].EscalatedAt.IsZero() {
		t.Fatalf("the API: %s", body)
	}
	r.s.escalate(context.Background())
	if n := escalated(); n != 0 {
		t.Fatalf("escalated again: %d events", n)
	}

	// Stored at last, it keeps when it came and its escalation: it is not
	// escalated a second time, and its page says it was.
	heldAt := r.clock.Now().Add(-r.s.o.EscalateAfter - time.Second)
	escalatedAt := r.clock.Now()
	r.clock.Advance(time.Minute)
	r.s.storeUnsaved(context.Background())
	if n := len(r.s.unsaved.all()); n != 0 {
		t.Fatalf("%d still held once stored", n)
	}
	stored := openAlert(t, r, a)
	if !stored.ReceivedAt.Equal(heldAt) || !stored.EscalatedAt.Equal(escalatedAt) {
		t.Fatalf("stored: received %v (held at %v), escalated %v (at %v)", stored.ReceivedAt, heldAt, stored.EscalatedAt, escalatedAt)
	}
	if ev, err := r.db.AlertEvents(context.Background(), stored.ID); err != nil || len(ev) != 1 || ev[0].Kind != "escalated" || !ev[0].At.Equal(escalatedAt) {
		t.Fatalf("events %+v, %v", ev, err)
	}
	r.clock.Advance(r.s.o.EscalateAfter)
	r.s.escalate(context.Background())
	if n := escalated(); n != 0 {
		t.Fatalf("escalated again once stored: %d events", n)
	}
	if _, body := r.get(admin, "/alerts"); !strings.Contains(body, fmt.Sprintf(`class="alert fever escalated" data-alert="%d"`, stored.ID)) {
		t.Fatalf("the stored alert not shown escalated: %s", body)
	}

	// One stored by the ingest (the gate's entry) while held: escalated by
	// when it came, not by when it was stored.
	b := a
	b.Seq = 8
	r.s.AlertNotStored("hz-001", b)
	heldAt = r.clock.Now()
	r.clock.Advance(2 * time.Minute)
	if _, err := r.db.InsertAlert(context.Background(), "hz-001", b); err != nil {
		t.Fatal(err)
	}
	r.s.Alert("hz-001", b)
	select {
	case <-r.s.unsaved.kick: // what Run waits for
	default:
		t.Fatal("Run not told")
	}
	r.s.storeUnsaved(context.Background())
	if got := openAlert(t, r, b); !got.ReceivedAt.Equal(heldAt) || !got.EscalatedAt.IsZero() {
		t.Fatalf("stored by the ingest: received %v (held at %v), escalated %v", got.ReceivedAt, heldAt, got.EscalatedAt)
	}
	r.clock.Advance(r.s.o.EscalateAfter - 2*time.Minute + time.Second)
	r.s.escalate(context.Background())
	if n := escalated(); n != 1 {
		t.Fatalf("%d escalations of it, want 1 (by when it came)", n)
	}
}

// openAlert is a's stored row, among the open alerts.
func openAlert(t *testing.T, r *rig, a wire.Alert) store.Alert {
	t.Helper()
	open, err := r.db.Alerts(context.Background(), true, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range open {
		if store.AlertKey(o.Alert) == store.AlertKey(a) {
			return o
		}
	}
	t.Fatalf("%s not among the open alerts", store.AlertKey(a))
	return store.Alert{}
}

// TestHoldUnlessStored: a fever alert another campusd instance holds
// unstored, or found in an entry batch the database refused, is held and
// shown here, with its alarm, but not when the database has it already (the
// notice came after another instance stored it, the gate's alert message was
// stored before the disk filled), and not twice.
func TestHoldUnlessStored(t *testing.T) {
	r := newRig(t)
	nurse := r.client("nurse")
	events := r.stream(nurse)
	a := wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", Epoch: "e9", Seq: 7, At: r.clock.Now(), PersonID: "P1", BodyC: 38.7}
	stored := a
	stored.Seq = 8
	if _, err := r.db.InsertAlert(context.Background(), "hz-001", stored); err != nil {
		t.Fatal(err)
	}
	if r.s.HoldUnlessStored(context.Background(), "hz-001", stored) {
		t.Fatal("one the database has was held")
	}
	if !r.s.HoldUnlessStored(context.Background(), "hz-001", a) {
		t.Fatal("not held")
	}
	if r.s.HoldUnlessStored(context.Background(), "hz-001", a) { // the gate's batch again
		t.Fatal("held twice")
	}
	if e := <-events; e != "alert" {
		t.Fatalf("nurse event %q, want the held one's alert", e)
	}
	held := r.s.unsaved.list()
	if len(held) != 1 || held[0].Alert.Seq != 7 {
		t.Fatalf("held %+v, want seq 7 only", held)
	}
	if got := r.sent(events); len(got) != 0 {
		t.Fatalf("events after the alarm: %v, want none", got)
	}
}

// TestHeldAlertSettled: a held alert stored while what was known of it
// cannot be written yet (HeldSince refused) is shown once, from the
// database, and settled at the next look; one stored by the ingest is
// settled by Run at once, not at its next tick.
func TestHeldAlertSettled(t *testing.T) {
	r := newRig(t)
	nurse := r.client("nurse")
	ctx := context.Background()
	a := wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", Epoch: "e9", Seq: 7, At: r.clock.Now(), PersonID: "P1", BodyC: 38.7}
	r.s.AlertNotStored("hz-001", a)
	heldAt := r.clock.Now()
	r.clock.Advance(time.Minute)
	raw, err := sql.Open("sqlite", r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER refuse BEFORE UPDATE ON alerts BEGIN SELECT RAISE(ABORT, 'updates refused (test)'); END`); err != nil {
		t.Fatal(err)
	}
	r.s.storeUnsaved(ctx)
	var d alertsData
	if _, body := r.get(nurse, "/api/alerts"); json.Unmarshal([]byte(body), &d) != nil || len(d.Unsaved) != 0 || len(d.Open) != 2 {
		t.Fatalf("stored, its held time refused: shown %d held, %d open (want 0 and the rig's 1 + 1): %s", len(d.Unsaved), len(d.Open), body)
	}
	if len(r.s.unsaved.all()) != 1 {
		t.Fatal("let go before its held time was written")
	}
	if _, err := raw.Exec(`DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	r.s.storeUnsaved(ctx)
	if len(r.s.unsaved.all()) != 0 {
		t.Fatal("still held once settled")
	}
	if got := openAlert(t, r, a); !got.ReceivedAt.Equal(heldAt) {
		t.Fatalf("received %v, held at %v", got.ReceivedAt, heldAt)
	}

	// Run settles one the ingest stored as soon as Alert says so.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.s.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	b := a
	b.Seq = 8
	r.s.AlertNotStored("hz-001", b)
	// The clock stands still: Run's 15 s tick never comes.
	if _, err := r.db.InsertAlert(ctx, "hz-001", b); err != nil {
		t.Fatal(err)
	}
	r.s.Alert("hz-001", b)
	for end := time.Now().Add(5 * time.Second); len(r.s.unsaved.all()) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("Run did not settle the alert the ingest stored")
		}
	}
}
