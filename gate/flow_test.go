package gate

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"campusgate/device/indicator"
	"campusgate/device/scanner"
	"campusgate/gate/journal"
	"campusgate/gate/pass"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/physic"
)

// fakeTherm is a forehead sensor whose readings the test sets; a queue of
// scripted results is served first.
type fakeTherm struct {
	mu       sync.Mutex
	obj, amb float64
	err      error
	script   []float64     // object readings served one by one before obj
	hang     chan struct{} // non-nil: Measure blocks until it is closed, deaf to its context (a hung bus)
	n        int           // reads: obj jitters by a millikelvin, as a real sensor's word does (-1, 0, +1 mK: a window of three means obj)
}

func (t *fakeTherm) set(obj, amb float64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.obj, t.amb, t.err = obj, amb, err
}

func (t *fakeTherm) Measure(context.Context) (physic.Temperature, physic.Temperature, error) {
	t.mu.Lock()
	hang := t.hang
	t.mu.Unlock()
	if hang != nil {
		<-hang
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.script) > 0 {
		o := t.script[0]
		t.script = t.script[1:]
		return FromCelsius(o), FromCelsius(t.amb), nil
	}
	if t.err != nil {
		return 0, 0, t.err
	}
	t.n++
	return FromCelsius(t.obj) + physic.Temperature(t.n%3-1)*physic.MilliKelvin, FromCelsius(t.amb), nil
}

type fakeScanner struct{ c chan string }

func (s *fakeScanner) Next(ctx context.Context) (scanner.Code, error) {
	select {
	case <-ctx.Done():
		return scanner.Code{}, ctx.Err()
	case t := <-s.c:
		return scanner.Code{Text: t, At: time.Now()}, nil
	}
}

// fakeGate checks, at the moment it opens, that the entry is already durable.
type fakeGate struct {
	mu      sync.Mutex
	j       *journal.Journal // nil: no durability check (benchmarks)
	opens   int
	held    bool
	undurab int // opens with no committed entry behind them
}

func (g *fakeGate) Open(time.Duration) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opens++
	if g.j == nil {
		return nil
	}
	last, err := g.j.Last(1)
	if err != nil || len(last) == 0 || last[0].Decision != "admit" {
		g.undurab++
	}
	return nil
}
func (g *fakeGate) Hold() error    { g.mu.Lock(); g.held = true; g.mu.Unlock(); return nil }
func (g *fakeGate) Release() error { g.mu.Lock(); g.held = false; g.mu.Unlock(); return nil }
func (g *fakeGate) count() int     { g.mu.Lock(); defer g.mu.Unlock(); return g.opens }

type fakeLights struct{}

func (fakeLights) Show(indicator.Signal) error { return nil }

type alerts struct {
	mu sync.Mutex
	e  []journal.Entry
}

func (a *alerts) Alert(e journal.Entry) { a.mu.Lock(); a.e = append(a.e, e); a.mu.Unlock() }
func (a *alerts) n() int                { a.mu.Lock(); defer a.mu.Unlock(); return len(a.e) }

// failStore makes Append fail, as a full disk would.
type failStore struct {
	*journal.Journal
	fail error
}

func (s failStore) Append(e *journal.Entry) error {
	if s.fail != nil {
		return s.fail
	}
	return s.Journal.Append(e)
}

type rig struct {
	t      testing.TB
	flow   *Flow
	therm  *fakeTherm
	scan   *fakeScanner
	gate   *fakeGate
	j      *journal.Journal
	issuer *pass.Issuer
	alerts *alerts
	events <-chan Event
}

func testConfig() Config {
	c := DefaultConfig()
	c.GateID = "north-1"
	c.Journal = "unused"
	tc := &c.Temperature
	tc.ReadInterval = Duration{time.Millisecond}
	tc.PresenceTimeout = Duration{300 * time.Millisecond}
	tc.MeasureTimeout = Duration{300 * time.Millisecond}
	tc.RetestPause = Duration{5 * time.Millisecond}
	tc.Calibration = Calibration{OffsetC: 0.5}
	c.Guard.Timeout = Duration{2 * time.Second}
	return c
}

func newRig(t testing.TB, cfg Config, store func(*journal.Journal) Store, mods ...func(*Opts)) *rig {
	t.Helper()
	logger := slog.Default()
	if _, bench := t.(*testing.B); bench {
		logger = slog.New(slog.DiscardHandler) // log lines would split the benchmark's result lines
	}
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Opts{GateID: cfg.GateID, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	pub, priv, _ := ed25519.GenerateKey(nil)
	kid := pass.KeyID(pub)
	iss, err := pass.NewIssuer(priv, kid)
	if err != nil {
		t.Fatal(err)
	}
	ring := &pass.Keyring{}
	if err := ring.Add(kid, pub); err != nil {
		t.Fatal(err)
	}
	today := time.Now().Format(time.DateOnly)
	if err := j.ReplaceRoster(1, []journal.Person{
		{ID: "p1", Name: "王小明", Role: "pupil", Grade: "1", Class: "1-2", CardID: "CARD0001", HealthDate: today, Health: "green"},
		{ID: "p2", Name: "李华", Role: "pupil", Grade: "2", Class: "2-1"},
		{ID: "t1", Name: "陈老师", Role: "staff"},
		{ID: "m1", Name: "王妈妈", Role: "parent"},
	}); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, therm: &fakeTherm{obj: 24, amb: 24}, scan: &fakeScanner{c: make(chan string, 4)}, j: j, issuer: iss, alerts: &alerts{}}
	r.gate = &fakeGate{j: j}
	if _, bench := t.(*testing.B); bench {
		r.gate.j = nil // its check is a read transaction the gate itself does not make
	}
	var s Store = j
	if store != nil {
		s = store(j)
	}
	opts := &Opts{Verifier: &pass.Verifier{Keys: ring, Revoked: &pass.Revocations{}, Cache: pass.NewCache(4096)}, Alerter: r.alerts, Logger: logger}
	for _, m := range mods {
		m(opts)
	}
	f, err := New(cfg, Devices{Thermometer: r.therm, SensorName: "fake", Scanner: r.scan, Gate: r.gate, Lights: fakeLights{}}, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.flow = f
	ev, cancelSub := f.Subscribe()
	r.events = ev
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; cancelSub() })
	return r
}

func (r *rig) passFor(person string, role pass.Role, health pass.Health, issued time.Time) string {
	r.t.Helper()
	code, err := r.issuer.Issue(pass.Claims{Subject: person, Role: role, Health: health, IssuedAt: issued, Expiry: issued.Add(48 * time.Hour)})
	if err != nil {
		r.t.Fatal(err)
	}
	return code
}

// present scans code with the forehead at objC and waits for the decision.
func (r *rig) present(code string, objC float64) Event {
	r.t.Helper()
	r.therm.set(objC, 24, nil)
	r.scan.c <- code
	return r.waitFor(StateAdmitted, StateDenied, StateFault)
}

func (r *rig) waitFor(states ...State) Event {
	r.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-r.events:
			for _, s := range states {
				if ev.State == s {
					return ev
				}
			}
		case <-timeout:
			r.t.Fatalf("no %v event", states)
		}
	}
}

func (r *rig) lastEntry() journal.Entry {
	r.t.Helper()
	l, err := r.j.Last(1)
	if err != nil || len(l) != 1 {
		r.t.Fatalf("last entry: %v %v", l, err)
	}
	return l[0]
}

func TestAdmitPupil(t *testing.T) {
	r := newRig(t, testConfig(), nil)
	ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now()), 36.1)
	if ev.State != StateAdmitted || ev.Reason != ReasonOK || ev.Person.Name != "王小明" {
		t.Fatalf("event %+v", ev)
	}
	e := r.lastEntry()
	if e.Decision != "admit" || e.PersonID != "p1" || e.BodyC != 36.6 || len(e.Readings) != 1 || e.Readings[0].SurfaceC != 36.1 ||
		e.GateID != "north-1" || e.Seq == 0 || e.Epoch == "" || e.Credential != "pass" || e.Assurance != "high" {
		t.Fatalf("entry %+v", e)
	}
	if r.gate.count() != 1 || r.gate.undurab != 0 {
		t.Fatalf("opens %d, opens before the entry was durable %d", r.gate.count(), r.gate.undurab)
	}
}

func TestFeverConfirmedByRetest(t *testing.T) {
	r := newRig(t, testConfig(), nil)
	ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now()), 37.2) // body 37.7
	if ev.State != StateDenied || ev.Reason != ReasonFever {
		t.Fatalf("event %+v", ev)
	}
	e := r.lastEntry()
	if len(e.Readings) != 2 || e.Decision != "deny" || e.Reason != "fever" {
		t.Fatalf("entry %+v: want two readings (first and retest)", e)
	}
	if r.gate.count() != 0 || r.alerts.n() != 1 {
		t.Fatalf("opens %d alerts %d", r.gate.count(), r.alerts.n())
	}
	if ev.Message.ZH == "" || ev.Message.EN == "" {
		t.Error("no message for the person")
	}
}

func TestRetestClearsFirstHighReading(t *testing.T) {
	r := newRig(t, testConfig(), nil)
	// High readings make the first measurement; later ones are normal.
	r.therm.mu.Lock()
	r.therm.script = []float64{37.3, 37.3, 37.3, 37.3} // presence check + a window of three
	r.therm.mu.Unlock()
	ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now()), 36.2)
	if ev.State != StateAdmitted {
		t.Fatalf("event %+v", ev)
	}
	if e := r.lastEntry(); len(e.Readings) != 2 || e.Readings[0].BodyC < 37.3 || e.BodyC >= 37.3 {
		t.Fatalf("entry %+v", e)
	}
}

func TestSensorErrorReferredToGuard(t *testing.T) {
	r := newRig(t, testConfig(), nil)
	r.therm.set(0, 0, errors.New("i2c: NACK"))
	r.scan.c <- r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now())
	ev := r.waitFor(StateReferred)
	if ev.Reason != ReasonSensorError || !ev.Guard {
		t.Fatalf("event %+v", ev)
	}
	if r.gate.count() != 0 {
		t.Fatal("the gate opened without a temperature")
	}
	ctx := context.Background()
	if err := r.flow.Guard(ctx, GuardAction{Kind: GuardReading, GuardID: "g7", Reason: "手持测温", ReadingC: 31}); err == nil {
		t.Error("an implausible handheld reading was accepted")
	}
	if err := r.flow.Guard(ctx, GuardAction{Kind: GuardReading, GuardID: "", Reason: "x", ReadingC: 36.5}); err == nil {
		t.Error("a guard action without a guard id was accepted")
	}
	if err := r.flow.Guard(ctx, GuardAction{Kind: GuardReading, GuardID: "g7", Reason: "手持测温", ReadingC: 36.5}); err != nil {
		t.Fatal(err)
	}
	ev = r.waitFor(StateAdmitted, StateDenied)
	e := r.lastEntry()
	if ev.State != StateAdmitted || e.Guard == nil || e.Guard.ID != "g7" || e.Readings[len(e.Readings)-1].Sensor != "handheld" {
		t.Fatalf("event %+v entry %+v", ev, e)
	}
	if err := r.flow.Guard(ctx, GuardAction{Kind: GuardAdmit, GuardID: "g7", Reason: "x"}); !errors.Is(err, ErrNobodyReferred) {
		t.Errorf("admit with nobody referred: %v", err)
	}
}

func TestGuardDenyAndTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.Guard.Timeout = Duration{100 * time.Millisecond}
	r := newRig(t, cfg, nil)
	r.therm.set(28, 24, nil) // body 28.5: implausible
	r.scan.c <- r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now())
	if ev := r.waitFor(StateReferred); ev.Reason != ReasonImplausible {
		t.Fatalf("event %+v", ev)
	}
	ev := r.waitFor(StateDenied)
	if ev.Reason != ReasonImplausible || r.gate.count() != 0 {
		t.Fatalf("after the guard timeout: %+v", ev)
	}
}

func TestNobodyAtTheSensor(t *testing.T) {
	r := newRig(t, testConfig(), nil)
	ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now()), 24) // object = ambient
	if ev.State != StateDenied || ev.Reason != ReasonTimeout {
		t.Fatalf("event %+v", ev)
	}
}

func TestCredentialAndPolicyRefusals(t *testing.T) {
	now := time.Now()
	cfg := testConfig()
	cfg.Roles[Pupil] = RolePolicy{Admit: true, DailyPass: true, Temperature: true}
	r := newRig(t, cfg, nil)
	expired, err := r.issuer.Issue(pass.Claims{Subject: "p1", Role: pass.RolePupil, Health: pass.HealthGreen, IssuedAt: now.Add(-72 * time.Hour), Expiry: now.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := func() (string, error) {
		_, priv, _ := ed25519.GenerateKey(nil)
		iss, _ := pass.NewIssuer(priv, "ffffffffffffffff")
		return iss.Issue(pass.Claims{Subject: "p1", Role: pass.RolePupil, Health: pass.HealthGreen, Expiry: now.Add(time.Hour)})
	}()
	for _, tc := range []struct {
		name, code string
		want       Reason
	}{
		{"expired", expired, "expired"},
		{"unknown key", other, "unknown_key"},
		{"garbage", "HELLO", "malformed"},
		{"not on roster", r.passFor("nobody", pass.RolePupil, pass.HealthGreen, now), "not_on_roster"},
		{"parent", r.passFor("m1", pass.RoleParent, pass.HealthGreen, now), "role_not_allowed"},
		{"staff yellow", r.passFor("t1", pass.RoleStaff, pass.HealthYellow, now), ReasonHealthYellow},
		{"staff red", r.passFor("t1", pass.RoleStaff, pass.HealthRed, now), ReasonHealthRed},
		{"no daily pass", r.passFor("p2", pass.RolePupil, pass.HealthGreen, now.Add(-30*time.Hour)), ReasonNoDailyPass},
	} {
		ev := r.present(tc.code, 36.2)
		if ev.State != StateDenied || ev.Reason != tc.want {
			t.Errorf("%s: %+v, want denied %s", tc.name, ev, tc.want)
		}
		if e := r.lastEntry(); e.Reason != string(tc.want) || e.Decision != "deny" {
			t.Errorf("%s: entry %+v", tc.name, e)
		}
	}
	// The roster's morning report dated today counts as the daily pass.
	if ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, now.Add(-30*time.Hour)), 36.2); ev.State != StateAdmitted {
		t.Errorf("pupil with today's morning report: %+v", ev)
	}
	if r.gate.count() != 1 {
		t.Errorf("opens = %d", r.gate.count())
	}
}

func TestPlainIDs(t *testing.T) {
	r := newRig(t, testConfig(), nil)
	if ev := r.present("CARD0001", 36.2); ev.Reason != "malformed" {
		t.Fatalf("plain id accepted while not allowed: %+v", ev)
	}
	cfg := testConfig()
	cfg.Identity.AllowPlainIDs = true
	r = newRig(t, cfg, nil)
	ev := r.present("CARD0001", 36.2)
	e := r.lastEntry()
	if ev.State != StateAdmitted || e.Assurance != "low" || e.Credential != "card" || e.PersonID != "p1" {
		t.Fatalf("event %+v entry %+v", ev, e)
	}
}

func TestDuplicateScanIgnored(t *testing.T) {
	r := newRig(t, testConfig(), nil)
	code := r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now())
	r.present(code, 36.2)
	r.waitFor(StateReady)
	r.scan.c <- code
	r.scan.c <- "HELLO" // the next, different scan is handled
	if ev := r.waitFor(StateAdmitted, StateDenied); ev.Reason != "malformed" {
		t.Fatalf("the duplicate was not ignored: %+v", ev)
	}
	if n, _ := r.j.Backlog(); n != 2 {
		t.Fatalf("journal has %d entries, want 2", n)
	}
}

func TestArrivalWindowAndAntiPassback(t *testing.T) {
	now := time.Now()
	start := now.Add(time.Hour).Format("15:04")
	end := now.Add(2 * time.Hour).Format("15:04")
	if end < start { // near midnight: skip rather than be wrong
		t.Skip("window would wrap midnight")
	}
	cfg := testConfig()
	cfg.Arrival = ArrivalConfig{Policy: "deny", Windows: []Window{{Grade: "1", Start: start, End: end}}}
	r := newRig(t, cfg, nil)
	if ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, now), 36.2); ev.Reason != ReasonOutsideWindow {
		t.Fatalf("deny policy: %+v", ev)
	}
	cfg.Arrival.Policy = "warn"
	cfg.AntiPass.Enabled = true
	r = newRig(t, cfg, nil)
	if ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, now), 36.2); ev.State != StateAdmitted || ev.Reason != ReasonOutsideWindowOK {
		t.Fatalf("warn policy: %+v", ev)
	}
	// A second entry without an exit is refused; after the exit it is fine.
	if ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, now), 36.2); ev.Reason != ReasonAntiPassback {
		t.Fatalf("anti-passback: %+v", ev)
	}
	r.flow.RecordExit("p1")
	if ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, now), 36.2); ev.State != StateAdmitted {
		t.Fatalf("after exit: %+v", ev)
	}
}

func TestJournalFailureKeepsGateShut(t *testing.T) {
	for _, tc := range []struct {
		err    error
		reason Reason
	}{
		{fmt.Errorf("journal: append j.db: %w: %w", journal.ErrFull, syscall.ENOSPC), ReasonJournalFull},
		{errors.New("journal: append j.db: input/output error"), ReasonJournalError},
	} {
		r := newRig(t, testConfig(), func(j *journal.Journal) Store { return failStore{j, tc.err} })
		ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now()), 36.2)
		if ev.State != StateFault || ev.Reason != tc.reason || ev.Message.ZH == "" {
			t.Fatalf("%v: event %+v, want a fault %s", tc.err, ev, tc.reason)
		}
		if r.gate.count() != 0 {
			t.Fatal("the gate opened although the entry could not be recorded")
		}
	}
}

// fullStore is a journal whose disk is full while full is set.
type fullStore struct {
	*journal.Journal
	full *atomic.Bool
}

func (s fullStore) Append(e *journal.Entry) error {
	if s.full.Load() {
		return fmt.Errorf("journal: append j.db: %w: %w", journal.ErrFull, syscall.ENOSPC)
	}
	return s.Journal.Append(e)
}

// TestJournalFullRecovers: a full journal refuses, keeps the gate shut and
// the waiting screen says why; nothing latches, and once there is room the
// next person is admitted.
func TestJournalFullRecovers(t *testing.T) {
	var full atomic.Bool
	full.Store(true)
	r := newRig(t, testConfig(), func(j *journal.Journal) Store { return fullStore{j, &full} })
	now := time.Now()
	if ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, now), 36.2); ev.Reason != ReasonJournalFull {
		t.Fatalf("while full: %+v", ev)
	}
	if ev := r.waitFor(StateReady); ev.Reason != ReasonJournalFull || ev.Message.ZH == "" {
		t.Fatalf("waiting while full: %+v, want the reason shown", ev)
	}
	full.Store(false)
	if ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, now.Add(time.Second)), 36.2); ev.State != StateAdmitted {
		t.Fatalf("after space returned: %+v", ev)
	}
	if ev := r.waitFor(StateReady); ev.Reason != "" {
		t.Fatalf("waiting after space returned: %+v", ev)
	}
	if r.gate.count() != 1 {
		t.Fatalf("opens %d, want 1 (the admission after space returned)", r.gate.count())
	}
}

func TestEmergency(t *testing.T) {
	r := newRig(t, testConfig(), nil)
	ctx := context.Background()
	if err := r.flow.Guard(ctx, GuardAction{Kind: GuardEmergencyOpen, GuardID: "g1", Reason: "消防演练 fire drill"}); err != nil {
		t.Fatal(err)
	}
	if !r.gate.held || r.flow.Current().State != StateEmergency {
		t.Fatal("not held open")
	}
	if err := r.flow.Guard(ctx, GuardAction{Kind: GuardEmergencyClose, GuardID: "g1", Reason: "演练结束"}); err != nil {
		t.Fatal(err)
	}
	if r.gate.held {
		t.Fatal("still held")
	}
	l, _ := r.j.Last(2)
	if len(l) != 2 || l[0].Reason != string(ReasonEmergencyClose) || l[1].Kind != "emergency" || l[1].Guard.ID != "g1" {
		t.Fatalf("journal %+v", l)
	}
}

func TestRemoteOpen(t *testing.T) {
	r := newRig(t, testConfig(), nil)
	r.waitFor(StateReady)
	if err := r.flow.RemoteOpen("", "x"); err == nil {
		t.Fatal("remote opening without who accepted")
	}
	if err := r.flow.RemoteOpen("admin-1", "救护车进校 ambulance"); err != nil {
		t.Fatal(err)
	}
	e := r.lastEntry()
	if e.Kind != "remote" || e.Reason != "remote_open" || e.Guard == nil || e.Guard.ID != "admin-1" || r.gate.count() != 1 {
		t.Fatalf("entry %+v, opens %d", e, r.gate.count())
	}
}

func TestReconfigureFromTheSchool(t *testing.T) {
	r := newRig(t, testConfig(), nil)
	code := r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now())
	if ev := r.present(code, 36.9); ev.Reason != ReasonFever { // body 37.4: a fever at the default 37.3 °C
		t.Fatalf("event %+v", ev)
	}
	next, err := r.flow.Config().Overlay("[temperature]\nthreshold_c = 37.5\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.flow.Reconfigure(next); err != nil {
		t.Fatal(err)
	}
	r.waitFor(StateReady)
	time.Sleep(50 * time.Millisecond) // past the duplicate-scan window of the same code
	if ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now()), 36.9); ev.State != StateAdmitted {
		t.Fatalf("37.4 °C under a 37.5 °C threshold: %+v", ev)
	}
	for _, bad := range []string{"gate_id = \"x\"\n", "[sync]\nbroker = \"tcp://evil:1883\"\n", "[devices]\nrelay_pin = \"GPIO4\"\n",
		"[temperature]\nthreshold_c = 41\n", "[temperature]\nnonsense = 1\n"} {
		if _, err := r.flow.Config().Overlay(bad); err == nil {
			t.Errorf("overlay %q accepted", bad)
		}
	}
}

// TestMorningReportPolicy: a pupil with no report today, or whose report
// shows symptoms, is refused, or let in and flagged, as the school decides; a
// red report is refused either way.
func TestMorningReportPolicy(t *testing.T) {
	today := time.Now().Format(time.DateOnly)
	for _, policy := range []string{"deny", "flag"} {
		cfg := testConfig()
		cfg.Roles[Pupil] = RolePolicy{Admit: true, DailyPass: true, Temperature: true}
		cfg.Report.Policy = policy
		r := newRig(t, cfg, nil)
		if err := r.j.ReplaceRoster(2, []journal.Person{
			{ID: "p1", Name: "王小明", Role: "pupil", Grade: "1", Class: "1-2", Health: "green", HealthDate: today},
			{ID: "p2", Name: "李华", Role: "pupil", Grade: "2", Class: "2-1"}, // no report
			{ID: "p3", Name: "张三", Role: "pupil", Grade: "2", Class: "2-1", Health: "yellow", HealthDate: today},
			{ID: "p4", Name: "李四", Role: "pupil", Grade: "2", Class: "2-1", Health: "red", HealthDate: today},
		}); err != nil {
			t.Fatal(err)
		}
		long := func(p string) string { // a term's identity pass, issued today
			code, err := r.issuer.Issue(pass.Claims{Subject: p, Role: pass.RolePupil, Health: pass.HealthGreen, Expiry: time.Now().Add(90 * 24 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return code
		}
		want := map[string][2]string{ // person → decision, reason
			"p1": {"admit", "ok"},
			"p2": {"deny", "no_daily_pass"},
			"p3": {"deny", "health_yellow"},
			"p4": {"deny", "health_red"},
		}
		if policy == "flag" {
			want["p2"] = [2]string{"admit", "no_daily_pass_flagged"}
			want["p3"] = [2]string{"admit", "health_yellow_flagged"}
		}
		for _, p := range []string{"p1", "p2", "p3", "p4"} {
			ev := r.present(long(p), 36.2)
			e := r.lastEntry()
			if e.PersonID != p || e.Decision != want[p][0] || e.Reason != want[p][1] || string(ev.Reason) != want[p][1] {
				t.Errorf("%s, policy %s: %s %s, want %v", p, policy, e.Decision, e.Reason, want[p])
			}
			r.waitFor(StateReady)
		}
	}
}

// TestCheckpointMode: the midday check journals a reading for each person as
// kind midday, opens nothing, and a fever raises the same alert.
func TestCheckpointMode(t *testing.T) {
	cfg := testConfig()
	cfg.Mode = "checkpoint"
	cfg.Roles[Pupil] = RolePolicy{Admit: true, DailyPass: true, Temperature: true}
	cfg.Arrival = ArrivalConfig{Policy: "deny", Windows: []Window{{Grade: "2", Start: "00:00", End: "00:01"}}}
	r := newRig(t, cfg, nil)
	ev := r.present(r.passFor("p2", pass.RolePupil, pass.HealthGreen, time.Now().Add(-30*time.Hour)), 36.2) // no report, outside the window: neither matters at noon
	e := r.lastEntry()
	if ev.State != StateAdmitted || e.Kind != "midday" || e.Reason != string(ReasonMiddayOK) {
		t.Fatalf("midday check: %+v %+v", ev, e)
	}
	r.waitFor(StateReady)
	ev = r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now()), 38.4)
	e = r.lastEntry()
	if ev.Reason != ReasonFever || e.Kind != "midday" || e.Decision != "deny" {
		t.Fatalf("midday fever: %+v %+v", ev, e)
	}
	if r.gate.count() != 0 {
		t.Fatalf("a checkpoint opened a gate %d times", r.gate.count())
	}
	if n := r.alerts.n(); n != 1 {
		t.Fatalf("%d alerts for a midday fever", n)
	}
}

// TestWalkInVisitor: the guard registers a visitor who then goes to the
// sensor; a green code and a normal temperature let them in, a yellow code
// does not, and the entry carries what the guard wrote.
func TestWalkInVisitor(t *testing.T) {
	r := newRig(t, testConfig(), nil)
	r.therm.set(36.3, 24, nil)
	id, err := r.flow.WalkIn(WalkInVisitor{VisitorInfo: journal.VisitorInfo{Name: "张师傅", Phone: "13900000000", Reason: "维修水管", Host: "总务处"},
		Health: "green", GuardID: "G07"})
	if err != nil {
		t.Fatal(err)
	}
	ev := r.waitFor(StateAdmitted, StateDenied)
	e := r.lastEntry()
	if ev.State != StateAdmitted || e.Role != "visitor" || e.PersonID != id || e.Visitor == nil || e.Visitor.Host != "总务处" ||
		e.Guard == nil || e.Guard.ID != "G07" || e.Kind != "entry" || len(e.Readings) == 0 {
		t.Fatalf("walk-in: %+v %+v", ev, e)
	}
	r.waitFor(StateReady)
	if _, err := r.flow.WalkIn(WalkInVisitor{VisitorInfo: journal.VisitorInfo{Name: "李四", Phone: "13900000001", Reason: "送货"}, Health: "yellow", GuardID: "G07"}); err != nil {
		t.Fatal(err)
	}
	if ev := r.waitFor(StateAdmitted, StateDenied); ev.State != StateDenied || ev.Reason != ReasonHealthYellow {
		t.Fatalf("a yellow code: %+v", ev)
	}
	if _, err := r.flow.WalkIn(WalkInVisitor{Health: "green", GuardID: "G07"}); err == nil {
		t.Fatal("a visitor with no name accepted")
	}
}

// TestHandheldAtCheckpoint: at a checkpoint the guard types in handheld
// readings; at a gate the same is refused.
func TestHandheldAtCheckpoint(t *testing.T) {
	cfg := testConfig()
	cfg.Mode = "checkpoint"
	cfg.Identity.AllowPlainIDs = true
	r := newRig(t, cfg, nil)
	ctx := context.Background()
	e, err := r.flow.Handheld(ctx, "CARD0001", 36.4, "G07")
	if err != nil || e.Kind != "midday" || e.Reason != string(ReasonMiddayOK) || e.Credential != "manual" || e.PersonID != "p1" {
		t.Fatalf("handheld: %+v %v", e, err)
	}
	e, err = r.flow.Handheld(ctx, "CARD0001", 38.2, "G07")
	if err != nil || e.Reason != string(ReasonFever) || r.alerts.n() != 1 {
		t.Fatalf("handheld fever: %+v %v (%d alerts)", e, err, r.alerts.n())
	}
	if _, err := r.flow.Handheld(ctx, "CARD0001", 50, "G07"); err == nil {
		t.Fatal("50 °C accepted")
	}
	if e, _ := r.flow.Handheld(ctx, "NOBODY", 36.4, "G07"); e.Reason != "not_on_roster" {
		t.Fatalf("unknown card: %+v", e)
	}
	g := newRig(t, testConfig(), nil)
	if _, err := g.flow.Handheld(ctx, "CARD0001", 36.4, "G07"); err == nil {
		t.Fatal("a handheld reading at a gate accepted")
	}
}

// TestStuckFlowFailsCheck: a driver that never returns leaves one person
// "being handled" for ever; Check (gated's watchdog) says so once no
// admission could take that long, and not before.
func TestStuckFlowFailsCheck(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Now())
	r := newRig(t, testConfig(), nil, func(o *Opts) { o.Clock = clk })
	if err := r.flow.Check(); err != nil {
		t.Fatalf("idle flow: Check = %v", err)
	}
	hang := make(chan struct{})
	r.therm.mu.Lock()
	r.therm.hang = hang
	r.therm.mu.Unlock()
	defer close(hang)
	r.scan.c <- r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now())
	r.waitFor(StateIdentify)
	time.Sleep(50 * time.Millisecond) // into the thermometer's Measure, which never returns
	clk.Advance(time.Minute)
	if err := r.flow.Check(); err != nil {
		t.Fatalf("a minute into one admission: Check = %v", err)
	}
	clk.Advance(testConfig().Guard.Timeout.Duration + 2*time.Minute)
	err := r.flow.Check()
	if err == nil || !strings.Contains(err.Error(), "stuck") {
		t.Fatalf("hung driver: Check = %v, want stuck", err)
	}
}

// behindClock is the real clock set back, as a Pi's is when it boots at the
// time it saved last night and NTP has not answered yet.
type behindClock struct {
	clockwork.Clock
	by time.Duration
}

func (c behindClock) Now() time.Time                  { return c.Clock.Now().Add(-c.by) }
func (c behindClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// TestUnsynchronisedClockAdmits: a box whose clock is behind and not
// synchronised still admits a pass the school signed this morning (the
// signature proves it is at least that late), decides and stamps by that
// time, and marks the entry unsynchronised. A pass for tomorrow stays not yet
// valid; and a clock that says it is synchronised is believed.
func TestUnsynchronisedClockAdmits(t *testing.T) {
	behind := 10 * time.Hour
	r := newRig(t, testConfig(), nil, func(o *Opts) {
		o.Clock = behindClock{clockwork.NewRealClock(), behind}
		o.ClockSynced = func() bool { return false }
		o.Boot = "boot-1"
	})
	issued := time.Now().Add(-time.Minute)
	ev := r.present(r.passFor("p1", pass.RolePupil, pass.HealthGreen, issued), 36.6)
	if ev.Decision != "admit" {
		t.Fatalf("unsynchronised clock %s behind: %+v, want admitted", behind, ev)
	}
	e := r.lastEntry()
	if e.ClockSynced || e.Boot != "boot-1" || e.MonoNS == 0 {
		t.Errorf("entry clock_synced %v boot %q mono %d: want unsynchronised, with the boot's timeline", e.ClockSynced, e.Boot, e.MonoNS)
	}
	if e.Time.Before(issued.Truncate(time.Second)) || e.Time.After(time.Now()) {
		t.Errorf("entry time %v: want the pass's evidence (at least %v), not the clock's %v", e.Time, issued, time.Now().Add(-behind))
	}
	code, err := r.issuer.Issue(pass.Claims{Subject: "t1", Role: pass.RoleStaff, Health: pass.HealthGreen, IssuedAt: issued,
		NotBefore: time.Now().Add(20 * time.Hour), Expiry: time.Now().Add(30 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if ev := r.present(code, 36.6); ev.Decision == "admit" || ev.Reason != Reason(pass.ReasonNotYetValid) {
		t.Errorf("tomorrow's pass on an unsynchronised box: %+v, want not yet valid", ev)
	}

	synced := newRig(t, testConfig(), nil, func(o *Opts) {
		o.Clock = behindClock{clockwork.NewRealClock(), behind}
		o.ClockSynced = func() bool { return true }
	})
	if ev := synced.present(synced.passFor("p1", pass.RolePupil, pass.HealthGreen, issued), 36.6); ev.Reason != Reason(pass.ReasonNotYetValid) {
		t.Errorf("a synchronised clock is believed: %+v, want not yet valid", ev)
	}
}
