package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"campusgate/device/indicator"
	"campusgate/device/scanner"
	"campusgate/gate/journal"
	"campusgate/gate/pass"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/physic"
)

// Thermometer is one forehead sensor: a measurement is an object and an ambient reading.
type Thermometer interface {
	Measure(ctx context.Context) (object, ambient physic.Temperature, err error)
}

// Scanner yields the codes people show at the gate.
type Scanner interface {
	Next(ctx context.Context) (scanner.Code, error)
}

// Actuator is the turnstile or door: a pulse lets one person through.
type Actuator interface {
	Open(d time.Duration) error
	Hold() error
	Release() error
}

// Lights shows the person whether to go or stop.
type Lights interface {
	Show(s indicator.Signal) error
}

// Store is the journal as the flow needs it.
type Store interface {
	Append(e *journal.Entry) error
	Person(id string) (journal.Person, bool, error)
	PersonByCard(card string) (journal.Person, bool, error)
}

// Verifier checks signed passes.
type Verifier interface {
	Verify(code string, now time.Time) (pass.Claims, error)
}

// Alerter receives fever alerts; it must not block (the sync layer queues them).
type Alerter interface {
	Alert(e journal.Entry)
}

// Devices are the gate box's hardware, behind the interfaces above.
type Devices struct {
	Thermometer Thermometer
	SensorName  string
	Scanner     Scanner
	Gate        Actuator
	Lights      Lights
}

// Opts are the flow's collaborators that are not hardware.
type Opts struct {
	Verifier    Verifier             // nil: only plain ids (if allowed) are accepted
	Alerter     Alerter              // nil: fevers are only logged and shown
	Clock       clockwork.Clock      // nil: the real clock
	Logger      *slog.Logger         // nil: slog.Default()
	ClockSynced func() bool          // nil: ask the kernel (adjtimex)
	Uptime      func() time.Duration // nil: CLOCK_BOOTTIME
	Boot        string               // "": the kernel's boot id
	Location    *time.Location       // for arrival windows and "today"; nil: time.Local
}

// Event is what observers (the guard console, the person's screen) see of the flow.
type Event struct {
	At       time.Time         `json:"at"`
	State    State             `json:"state"`
	Message  Text              `json:"message"`
	Person   *PersonView       `json:"person,omitempty"`
	Decision string            `json:"decision,omitempty"`
	Reason   Reason            `json:"reason,omitempty"`
	Readings []journal.Reading `json:"readings,omitempty"`
	Seq      uint64            `json:"seq,omitempty"` // journal sequence of the decision
	Guard    bool              `json:"guard_needed,omitempty"`
}

// PersonView is who is at the gate, as far as the flow knows.
type PersonView struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Role       Role   `json:"role"`
	Grade      string `json:"grade,omitempty"`
	Class      string `json:"class,omitempty"`
	Credential string `json:"credential"`
	Assurance  string `json:"assurance"`
	Health     string `json:"health,omitempty"`
}

// GuardKind is what the guard does.
type GuardKind string

// Guard actions.
const (
	GuardAdmit          GuardKind = "admit"           // let the referred person in
	GuardDeny           GuardKind = "deny"            // refuse the referred person
	GuardReading        GuardKind = "reading"         // a handheld thermometer's reading for the referred person
	GuardEmergencyOpen  GuardKind = "emergency_open"  // hold the gate open
	GuardEmergencyClose GuardKind = "emergency_close" // end the emergency
)

// GuardAction is one action of the guard, always with who and why.
type GuardAction struct {
	Kind     GuardKind `json:"kind"`
	GuardID  string    `json:"guard_id"`
	Reason   string    `json:"reason"`
	ReadingC float64   `json:"reading_c,omitempty"`
}

// ErrNobodyReferred is returned for admit/deny/reading when no one waits for the guard.
var ErrNobodyReferred = errors.New("gate: nobody is waiting for the guard")

type guardReq struct {
	a     GuardAction
	reply chan error
}

// Flow is the admission state machine of one gate.
type Flow struct {
	cfg    Config
	dev    Devices
	store  Store
	opts   Opts
	clock  clockwork.Clock
	log    *slog.Logger
	guardC chan guardReq
	walkC  chan walkIn
	handC  chan handheldReq

	mu                  sync.Mutex
	subs                map[chan Event]struct{}
	last                Event
	referred            bool
	emergency           bool
	storeFull           bool // the last append failed for want of space: the waiting screen says so
	lastCode            string
	lastAt              time.Time
	inside              map[string]bool // anti-passback: admitted and not seen leaving
	busyFrom, busyUntil time.Time       // real time span of the last person's handling: scans in it are stale
	nextCfg             *Config         // from Reconfigure, taken up before the next person
	handlingSince       time.Time       // zero while the gate waits for the next person
	floor               time.Time       // with the clock unsynchronised: real time was at least this ...
	floorMono           time.Duration   // ... at this Uptime

	sensor      *sensorMonitor
	sensorState SensorState // as last logged
}

// Reconfigure makes c the configuration from the next person on (the person
// at the gate finishes under the settings they started with). c must be
// valid and keep the gate's identity.
func (f *Flow) Reconfigure(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.GateID != f.cfg.GateID || c.SchoolID != f.cfg.SchoolID {
		return errors.New("gate: reconfigure: the gate and school ids cannot change")
	}
	f.nextCfg = &c
	return nil
}

// Config returns the configuration in force (or about to be).
func (f *Flow) Config() Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nextCfg != nil {
		return *f.nextCfg
	}
	return f.cfg
}

// New validates the configuration and returns a flow; it does no I/O.
func New(cfg Config, dev Devices, store Store, opts *Opts) (*Flow, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dev.Thermometer == nil || dev.Scanner == nil || dev.Gate == nil || dev.Lights == nil || store == nil {
		return nil, errors.New("gate: a thermometer, a scanner, a gate actuator, lights and a store are all required")
	}
	o := Opts{}
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ClockSynced == nil {
		o.ClockSynced = ClockSynced
	}
	if o.Boot == "" {
		o.Boot = BootID()
	}
	if o.Uptime == nil {
		o.Uptime = Uptime
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	f := &Flow{
		cfg: cfg, dev: dev, store: store, opts: o, clock: o.Clock,
		log:    o.Logger.With("gate", cfg.GateID),
		guardC: make(chan guardReq),
		walkC:  make(chan walkIn, 1),
		handC:  make(chan handheldReq),
		subs:   map[chan Event]struct{}{},
		inside: map[string]bool{},
		sensor: newSensorMonitor(cfg.Temperature.Sensor),
	}
	f.last = Event{At: f.clock.Now(), State: StateReady, Message: StateReady.Message()}
	return f, nil
}

// Subscribe returns a channel of events, starting with the current one. A slow
// reader misses events rather than slowing the gate. cancel ends the subscription.
func (f *Flow) Subscribe() (<-chan Event, func()) {
	c := make(chan Event, 32)
	f.mu.Lock()
	f.subs[c] = struct{}{}
	c <- f.last
	f.mu.Unlock()
	return c, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[c]; ok {
			delete(f.subs, c)
			close(c)
		}
	}
}

// Current returns the latest event.
func (f *Flow) Current() Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *Flow) emit(ev Event) {
	ev.At = f.clock.Now()
	if ev.Message == (Text{}) {
		ev.Message = ev.State.Message()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = ev
	for c := range f.subs {
		select {
		case c <- ev:
		default:
		}
	}
}

func (f *Flow) show(s indicator.Signal) {
	if err := f.dev.Lights.Show(s); err != nil {
		f.log.Warn("lights", "err", err)
	}
}

// Run admits people until ctx ends. Codes scanned while a person is being
// handled are dropped: the next person scans again when the screen says so.
func (f *Flow) Run(ctx context.Context) error {
	codes := make(chan scanner.Code, 1)
	scanErr := make(chan error, 1)
	go func() {
		for {
			c, err := f.dev.Scanner.Next(ctx)
			var fe *scanner.FrameError
			switch {
			case ctx.Err() != nil:
				return
			case errors.As(err, &fe):
				f.log.Info("unreadable scan", "err", err)
				f.emit(Event{State: StateReady, Message: Reason(pass.ReasonMalformed).Message(), Reason: Reason(pass.ReasonMalformed)})
				continue
			case err != nil:
				scanErr <- fmt.Errorf("gate: scanner: %w", err)
				return
			}
			// The newest scan wins: a pending older one is replaced.
			c.At = time.Now()
			for {
				select {
				case codes <- c:
				default:
					select {
					case <-codes:
					default:
					}
					continue
				}
				break
			}
		}
	}()
	f.ready()
	every := f.sensor.checks().ProbeInterval.Duration
	probe := f.clock.NewTicker(every)
	defer probe.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-probe.Chan():
			f.probe(ctx)
			if d := f.sensor.checks().ProbeInterval.Duration; d != every {
				every = d
				probe.Reset(d)
			}
		case err := <-scanErr:
			f.emit(Event{State: StateFault, Reason: ReasonSensorError})
			f.show(indicator.Fault)
			return err
		case r := <-f.guardC:
			r.reply <- ErrNobodyReferred
		case w := <-f.walkC:
			f.begin()
			f.handleWalkIn(ctx, w)
			f.ready()
		case h := <-f.handC:
			f.begin()
			e, err := f.handheld(h)
			h.reply <- handheldResult{e, err}
			f.ready()
		case c := <-codes:
			f.begin()
			f.mu.Lock()
			stale := !c.At.Before(f.busyFrom) && c.At.Before(f.busyUntil)
			f.mu.Unlock()
			if stale {
				// Scanned while the previous person was still being handled: the
				// screen did not ask for it, so it is not taken as the next person.
				f.log.Info("scan dropped: gate was busy", "len", len(c.Text))
				continue
			}
			f.handle(ctx, c.Text)
			f.ready()
		}
	}
}

// now is the time the flow decides by: the clock, or, while the clock is not
// synchronised, no earlier than the newest time the box has evidence for (the
// issue time of a pass the school signed), run on since by the box's
// monotonic clock. Entries carry it; the server corrects them exactly once the
// clock is synchronised (MonoNS, Boot).
func (f *Flow) now() time.Time {
	now := f.clock.Now()
	f.mu.Lock()
	floor, at := f.floor, f.floorMono
	f.mu.Unlock()
	if floor.IsZero() || f.opts.ClockSynced() {
		return now
	}
	if est := floor.Add(f.opts.Uptime() - at); est.After(now) {
		return est
	}
	return now
}

// raiseFloor records that real time is at least t now.
func (f *Flow) raiseFloor(t time.Time) {
	up := f.opts.Uptime()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.floor.IsZero() || t.After(f.floor.Add(up-f.floorMono)) {
		f.floor, f.floorMono = t, up
		f.log.Warn("clock not synchronised and behind: deciding by the time a signed pass shows", "at_least", t, "clock", f.clock.Now())
	}
}

// begin starts handling one person (or a guard's request).
func (f *Flow) begin() {
	f.takeConfig()
	f.mu.Lock()
	f.handlingSince = f.clock.Now()
	f.mu.Unlock()
}

// Check says whether the flow still moves: it fails when one person has been
// handled for longer than any admission can take (the guard's whole timeout
// and two minutes more), as when a driver hangs on a bus that never answers.
// gated's systemd watchdog stops on it, so the daemon is restarted.
func (f *Flow) Check() error {
	f.mu.Lock()
	since, limit := f.handlingSince, f.cfg.Guard.Timeout.Duration+2*time.Minute
	f.mu.Unlock()
	if !since.IsZero() {
		if d := f.clock.Since(since); d > limit {
			return fmt.Errorf("gate: one admission has taken %s (limit %s): the flow is stuck", d.Round(time.Second), limit)
		}
	}
	return nil
}

func (f *Flow) ready() {
	f.mu.Lock()
	f.handlingSince = time.Time{}
	emergency, full := f.emergency, f.storeFull
	f.mu.Unlock()
	if emergency {
		return
	}
	f.show(indicator.Ready)
	if full {
		// Still ready: the next person is tried, and admitted if there is room
		// by then; but the guard sees why the last one was refused.
		f.emit(Event{State: StateReady, Reason: ReasonJournalFull, Message: ReasonJournalFull.Message()})
		return
	}
	f.emit(Event{State: StateReady})
}

// takeConfig puts a configuration from Reconfigure in force before the next
// person (only Run's goroutine reads f.cfg while handling).
func (f *Flow) takeConfig() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nextCfg != nil {
		f.cfg, f.nextCfg = *f.nextCfg, nil
		f.sensor.configure(f.cfg.Temperature.Sensor)
		f.log.Info("new configuration in force", "threshold_c", f.cfg.Temperature.ThresholdC)
	}
}

// identity is what the identity step found out.
type identity struct {
	view     PersonView
	person   journal.Person
	onRoster bool
	passID   string
	daily    bool // a pass issued today, or a morning report dated today
}

// handle takes one person from scan to decision.
func (f *Flow) handle(ctx context.Context, code string) {
	now := f.now()
	f.mu.Lock()
	f.busyFrom, f.busyUntil = time.Now(), time.Now().Add(24*time.Hour)
	defer func() {
		f.mu.Lock()
		if f.busyUntil.After(time.Now()) { // no decision was shown (duplicate, fault)
			f.busyUntil = time.Now()
		}
		f.mu.Unlock()
	}()
	dup := code == f.lastCode && now.Sub(f.lastAt) < f.cfg.Identity.DuplicateWindow.Duration
	f.lastCode, f.lastAt = code, now
	f.mu.Unlock()
	if dup {
		f.log.Debug("duplicate scan ignored")
		return
	}
	f.emit(Event{State: StateIdentify})
	id, reason := f.identify(code, now)
	now = f.now() // a pass may have shown an unsynchronised clock to be behind
	e := f.newEntry(id, now)
	f.proceed(ctx, e, &id, reason, now)
}

// proceed takes an identified person through the policy and the temperature
// to the decision; reason is the identity step's refusal, if any.
func (f *Flow) proceed(ctx context.Context, e *journal.Entry, id *identity, reason Reason, now time.Time) {
	if reason == "" {
		reason = f.policy(id, now)
	}
	if reason != "" && !reason.Flagged() {
		f.decide(e, id, "deny", reason)
		return
	}
	warned := reason
	_, reason = f.temperature(ctx, id, e)
	switch {
	case ctx.Err() != nil:
		f.decide(e, id, "deny", ReasonTimeout)
	case reason == ReasonOK && warned != "":
		f.decide(e, id, "admit", warned)
	case reason == ReasonOK && f.cfg.Checkpoint():
		f.decide(e, id, "admit", ReasonMiddayOK)
	case reason == ReasonOK:
		f.decide(e, id, "admit", ReasonOK)
	case reason == ReasonFever:
		f.decide(e, id, "deny", ReasonFever)
	case reason == ReasonTimeout:
		f.decide(e, id, "deny", ReasonTimeout)
	default:
		f.refer(ctx, e, id, reason)
	}
}

func (f *Flow) newEntry(id identity, now time.Time) *journal.Entry {
	e := f.stamped(now)
	e.PersonID, e.Role, e.Credential, e.Assurance, e.Health = id.view.ID, string(id.view.Role), id.view.Credential, id.view.Assurance, id.view.Health
	e.Kind = f.entryKind()
	return e
}

// stamped is a new entry with its time as the box knows it: the wall clock,
// whether that is synchronised, and the boot and time since boot with which
// the server corrects an unsynchronised time once the box's clock is set.
func (f *Flow) stamped(now time.Time) *journal.Entry {
	return &journal.Entry{Time: now, ClockSynced: f.opts.ClockSynced(), MonoNS: int64(f.opts.Uptime()), Boot: f.opts.Boot}
}

// entryKind is what a decision of this box is: an entry at the gate, or a
// midday check.
func (f *Flow) entryKind() string {
	if f.cfg.Checkpoint() {
		return "midday"
	}
	return "entry"
}

func (f *Flow) identify(code string, now time.Time) (identity, Reason) {
	id := identity{view: PersonView{Role: "unknown", Credential: "pass", Assurance: "high"}}
	if strings.HasPrefix(code, pass.Prefix) {
		if f.opts.Verifier == nil {
			return id, Reason(pass.ReasonUnknownKey)
		}
		claims, err := f.opts.Verifier.Verify(code, now)
		if pass.ReasonOf(err) == pass.ReasonNotYetValid && claims.IssuedAt.After(now) && !f.opts.ClockSynced() {
			// Signed by the school at iat, so it is at least iat now: the box's
			// clock, not yet synchronised, is behind (a Pi boots at the time it
			// saved last).
			f.raiseFloor(claims.IssuedAt)
			claims, err = f.opts.Verifier.Verify(code, f.now())
		}
		if claims.Subject != "" {
			id.view.ID, id.view.Role, id.view.Health, id.passID = claims.Subject, Role(claims.Role), string(claims.Health), claims.PassID
		}
		if err != nil {
			r := pass.ReasonOf(err)
			if r == "" {
				r = pass.ReasonMalformed
			}
			return id, Reason(r)
		}
		// A daily pass is one issued today for a day or two; a pass the
		// school issued today for a term says who, not how they are today.
		id.daily = sameDay(claims.IssuedAt, now, f.opts.Location) && claims.Expiry.Sub(claims.IssuedAt) <= 48*time.Hour
		p, ok, err := f.store.Person(claims.Subject)
		if err != nil {
			f.log.Error("roster lookup", "err", err)
			return id, ReasonJournalError
		}
		if ok {
			f.fromRoster(&id, p, now)
		} else if id.view.Role != Visitor {
			// Visitors are registered by the pass itself; everyone else must be on the roster.
			return id, Reason(pass.ReasonNotOnRoster)
		}
		return id, ""
	}
	id.view.Credential, id.view.Assurance = "card", "low"
	if !f.cfg.Identity.AllowPlainIDs || code == "" || len(code) > 64 {
		return id, Reason(pass.ReasonMalformed)
	}
	p, ok, err := f.store.PersonByCard(code)
	if err == nil && !ok {
		p, ok, err = f.store.Person(code)
	}
	if err != nil {
		f.log.Error("roster lookup", "err", err)
		return id, ReasonJournalError
	}
	if !ok {
		id.view.ID = code
		return id, Reason(pass.ReasonNotOnRoster)
	}
	id.view.Role = Role(p.Role)
	f.fromRoster(&id, p, now)
	return id, ""
}

// fromRoster fills in what the roster knows; its health status counts when it is
// from today's morning report.
func (f *Flow) fromRoster(id *identity, p journal.Person, now time.Time) {
	id.person, id.onRoster = p, true
	id.view.ID, id.view.Name, id.view.Grade, id.view.Class = p.ID, p.Name, p.Grade, p.Class
	if id.view.Role == "unknown" || id.view.Role == "" {
		id.view.Role = Role(p.Role)
	}
	if p.HealthDate == now.In(f.opts.Location).Format(time.DateOnly) {
		id.daily = true
		if p.Health != "" {
			id.view.Health = p.Health
		}
	} else if id.view.Health == "" {
		id.view.Health = p.Health
	}
}

func sameDay(a, b time.Time, loc *time.Location) bool {
	return a.In(loc).Format(time.DateOnly) == b.In(loc).Format(time.DateOnly)
}

// policy applies the role's rules, the arrival windows and anti-passback.
func (f *Flow) policy(id *identity, now time.Time) Reason {
	rp, ok := f.cfg.Roles[id.view.Role]
	if !ok || !rp.Admit {
		return Reason(pass.ReasonRoleNotAllowed)
	}
	if f.cfg.Checkpoint() {
		return "" // the midday check: who and how warm, nothing else
	}
	flag := f.cfg.Report.Policy == "flag"
	switch {
	case id.view.Health == "red":
		return ReasonHealthRed
	case rp.DailyPass && !id.daily && flag:
		return ReasonNoReportFlagged
	case rp.DailyPass && !id.daily:
		return ReasonNoDailyPass
	case rp.DailyPass && id.view.Health == "yellow" && flag:
		return ReasonSymptomsFlagged
	case rp.DailyPass && id.view.Health == "yellow":
		return ReasonHealthYellow
	case rp.GreenHealth && id.view.Health == "yellow":
		return ReasonHealthYellow
	case rp.GreenHealth && id.view.Health != "green":
		return ReasonHealthUnknown
	}
	if f.cfg.AntiPass.Enabled && f.cfg.AntiPass.Direction == "in" {
		f.mu.Lock()
		in := f.inside[id.view.ID]
		f.mu.Unlock()
		if in {
			return ReasonAntiPassback
		}
	}
	if w, ok := f.window(id.view.Grade); ok {
		local := now.In(f.opts.Location)
		hm := local.Format("15:04")
		if hm < w.Start || hm >= w.End {
			if f.cfg.Arrival.Policy == "deny" {
				return ReasonOutsideWindow
			}
			return ReasonOutsideWindowOK
		}
	}
	return ""
}

func (f *Flow) window(grade string) (Window, bool) {
	if grade == "" {
		return Window{}, false
	}
	for _, w := range f.cfg.Arrival.Windows {
		if w.Grade == grade {
			return w, true
		}
	}
	return Window{}, false
}

// RecordExit tells an entry gate with anti-passback that a person left through
// the paired exit gate.
func (f *Flow) RecordExit(personID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.inside, personID)
}

// temperature runs the measuring step with its retries and the fever retest,
// adding every reading to e. It returns the final reading and ReasonOK, fever,
// timeout (nobody came to the sensor), or the reason to call the guard.
func (f *Flow) temperature(ctx context.Context, id *identity, e *journal.Entry) (journal.Reading, Reason) {
	tc := f.cfg.Temperature
	r, reason := f.measureWithRetries(ctx, id, e)
	if reason != ReasonOK {
		return r, reason
	}
	if r.BodyC < tc.ThresholdC {
		return r, f.driftCheck(r)
	}
	f.emit(Event{State: StateRetest, Person: &id.view, Readings: e.Readings})
	f.show(indicator.Retry)
	select {
	case <-ctx.Done():
		return r, ReasonTimeout
	case <-f.clock.After(tc.RetestPause.Duration):
	}
	r2, reason := f.measureWithRetries(ctx, id, e)
	if reason != ReasonOK {
		return r2, reason
	}
	if r2.BodyC >= tc.ThresholdC {
		return r2, ReasonFever
	}
	return r2, f.driftCheck(r2)
}

// driftCheck is the reason for a reading below the fever threshold: ok, or,
// while the sensor's readings drift low (so that a fever could read normal),
// the guard's handheld thermometer. A reading at or over the threshold is
// retested and refused as a fever whatever the drift: a sensor reading low
// that still reads a fever has found one.
func (f *Flow) driftCheck(r journal.Reading) Reason {
	if st := f.sensor.status(); st.State == SensorDriftLow {
		f.log.Warn("reading not trusted: sensor drift", "body_c", r.BodyC, "detail", st.Detail)
		return st.Reason
	}
	return ReasonOK
}

// read takes one reading from the thermometer and tells the sensor monitor
// (a read cut short by the stop is nobody's business).
func (f *Flow) read(ctx context.Context) (obj, amb physic.Temperature, err error) {
	obj, amb, err = f.dev.Thermometer.Measure(ctx)
	if ctx.Err() != nil {
		return obj, amb, err
	}
	err = f.sensor.read(obj, amb, err, f.clock.Now())
	f.noteSensor()
	return obj, amb, err
}

// sensorBlocks is the reason to stop measuring after a read: the sensor is
// not responding (and this read failed too), or its reading is stuck.
func (f *Flow) sensorBlocks(err error) Reason {
	switch st := f.sensor.status(); {
	case st.State == SensorNotResponding && err != nil:
		return st.Reason
	case st.State == SensorStuck:
		return st.Reason
	}
	return ""
}

// noteSensor logs the sensor's state when it changes, once (a flapping
// sensor writes a line a change, not a line a read).
func (f *Flow) noteSensor() SensorStatus {
	st := f.sensor.status()
	f.mu.Lock()
	prev := f.sensorState
	f.sensorState = st.State
	f.mu.Unlock()
	switch {
	case prev == st.State || (prev == "" && st.State == SensorOK):
	case st.State == SensorOK:
		f.log.Info("sensor ok again", "was", prev)
	default:
		f.log.Warn("sensor fault", "state", st.State, "detail", st.Detail, "blocks_admission", st.Blocks)
	}
	return st
}

// probe reads the sensor while the gate is idle, so a sensor that
// disappears, sticks or comes back is known before the next person: the
// screen shows the fault, or the gate is ready again.
func (f *Flow) probe(ctx context.Context) {
	f.mu.Lock()
	emergency, before := f.emergency, f.sensorState
	f.handlingSince = f.clock.Now() // a probe that hangs on the bus stalls the flow too: Check sees it
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.handlingSince = time.Time{}
		f.mu.Unlock()
	}()
	if _, _, err := f.read(ctx); err != nil {
		f.log.Debug("sensor probe", "err", err)
	}
	st := f.sensor.status()
	if emergency || st.State == before {
		return
	}
	wasBlocked := before == SensorNotResponding || before == SensorStuck
	switch {
	case st.State == SensorNotResponding || st.State == SensorStuck:
		f.show(indicator.Fault)
		f.emit(Event{State: StateFault, Reason: st.Reason, Message: st.Text, Guard: true})
	case wasBlocked:
		f.ready()
	}
}

// SensorStatus is the thermometer's health as the gate judges it, for the
// guard console and the telemetry.
func (f *Flow) SensorStatus() SensorStatus { return f.sensor.status() }

func (f *Flow) measureWithRetries(ctx context.Context, id *identity, e *journal.Entry) (journal.Reading, Reason) {
	var (
		r      journal.Reading
		reason Reason
	)
	for attempt := 0; attempt <= f.cfg.Temperature.Retries; attempt++ {
		if attempt > 0 {
			f.emit(Event{State: StateRetry, Person: &id.view, Reason: reason, Readings: e.Readings})
			f.show(indicator.Retry)
		}
		r, reason = f.measureOnce(ctx, id, e)
		if reason == ReasonOK || reason == ReasonTimeout || ctx.Err() != nil {
			return r, reason
		}
		if st := f.sensor.status(); st.State == SensorNotResponding || st.State == SensorStuck {
			// Measuring again would only keep the person waiting.
			return r, st.Reason
		}
	}
	return r, reason
}

// measureOnce waits for a forehead, then for a stable window of readings.
func (f *Flow) measureOnce(ctx context.Context, id *identity, e *journal.Entry) (journal.Reading, Reason) {
	tc := f.cfg.Temperature
	var lastErr error
	deadline := f.clock.Now().Add(tc.PresenceTimeout.Duration)
	for first := true; ; first = false {
		obj, amb, err := f.read(ctx)
		if reason := f.sensorBlocks(err); reason != "" {
			return journal.Reading{}, reason
		}
		if err == nil && Celsius(obj)-Celsius(amb) >= tc.PresenceDeltaC {
			break
		}
		if first {
			// Only someone not yet at the sensor is asked to step up to it.
			f.emit(Event{State: StatePresence, Person: &id.view, Readings: e.Readings})
			f.show(indicator.Ready)
		}
		lastErr = err
		if f.clock.Now().After(deadline) || !f.sleep(ctx, tc.ReadInterval.Duration) {
			if lastErr != nil {
				f.log.Warn("thermometer", "err", lastErr)
				return journal.Reading{}, ReasonSensorError
			}
			return journal.Reading{}, ReasonTimeout
		}
	}
	f.emit(Event{State: StateMeasuring, Person: &id.view, Readings: e.Readings})
	var (
		surf, ambs []float64
		objs       []physic.Temperature
	)
	lastErr = nil
	deadline = f.clock.Now().Add(tc.MeasureTimeout.Duration)
	for {
		obj, amb, err := f.read(ctx)
		if reason := f.sensorBlocks(err); reason != "" {
			return journal.Reading{}, reason
		}
		if err != nil {
			lastErr = err
		} else {
			surf, ambs, objs = append(surf, Celsius(obj)), append(ambs, Celsius(amb)), append(objs, obj)
			if n := tc.StableReadings; len(surf) >= n && spread(surf[len(surf)-n:]) <= tc.StableSpreadC {
				s, a := mean(surf[len(surf)-n:]), mean(ambs[len(ambs)-n:])
				body := Celsius(tc.Calibration.Body(FromCelsius(s)))
				r := journal.Reading{SurfaceC: round2(s), BodyC: round2(body), AmbientC: round2(a), Sensor: f.dev.SensorName, At: f.clock.Now()}
				e.Readings = append(e.Readings, r)
				plausible := body >= tc.MinValidC && body <= tc.MaxValidC
				f.sensor.person(objs[len(objs)-n:], body, plausible, f.clock.Now())
				f.noteSensor()
				// A window the monitor now finds stuck (or still not
				// responding) is no reading to admit anyone on.
				if st := f.sensor.status(); st.State == SensorNotResponding || st.State == SensorStuck {
					f.log.Warn("reading refused: sensor "+string(st.State), "body_c", r.BodyC, "detail", st.Detail)
					return r, st.Reason
				}
				if !plausible {
					return r, ReasonImplausible
				}
				return r, ReasonOK
			}
		}
		if f.clock.Now().After(deadline) || !f.sleep(ctx, tc.ReadInterval.Duration) {
			if lastErr != nil && len(surf) == 0 {
				f.log.Warn("thermometer", "err", lastErr)
				return journal.Reading{}, ReasonSensorError
			}
			return journal.Reading{}, ReasonImplausible
		}
	}
}

func (f *Flow) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-f.clock.After(d):
		return true
	}
}

func spread(v []float64) float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return hi - lo
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func round2(c float64) float64 { return math.Round(c*100) / 100 }

// refer calls the guard and waits for an action or the guard timeout.
func (f *Flow) refer(ctx context.Context, e *journal.Entry, id *identity, why Reason) {
	f.mu.Lock()
	f.referred = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.referred = false
		f.mu.Unlock()
	}()
	f.emit(Event{State: StateReferred, Person: &id.view, Reason: why, Readings: e.Readings, Guard: true})
	f.show(indicator.Fault)
	timeout := f.clock.After(f.cfg.Guard.Timeout.Duration)
	for {
		select {
		case <-ctx.Done():
			f.decide(e, id, "deny", why)
			return
		case <-timeout:
			f.decide(e, id, "deny", why)
			return
		case req := <-f.guardC:
			a := req.a
			e.Guard = &journal.GuardAction{ID: a.GuardID, Reason: a.Reason}
			switch a.Kind {
			case GuardAdmit:
				req.reply <- nil
				f.decide(e, id, "admit", ReasonGuardAdmit)
				return
			case GuardDeny:
				req.reply <- nil
				f.decide(e, id, "deny", ReasonGuardDeny)
				return
			case GuardReading:
				if err := f.plausibleHandheld(a.ReadingC); err != nil {
					e.Guard = nil
					req.reply <- err
					continue
				}
				req.reply <- nil
				f.decideHandheld(e, id, a.ReadingC, f.clock.Now(), ReasonOK)
				return
			default:
				req.reply <- fmt.Errorf("gate: unknown guard action %q", a.Kind)
			}
		}
	}
}

// decide records the entry durably, then, and only then, moves the gate.
func (f *Flow) decide(e *journal.Entry, id *identity, decision string, reason Reason) {
	e.Decision, e.Reason = decision, string(reason)
	e.PersonID, e.Role, e.Health = id.view.ID, string(id.view.Role), id.view.Health
	if n := len(e.Readings); n > 0 {
		e.BodyC = e.Readings[n-1].BodyC
	}
	if decision == "admit" && reason == ReasonGuardAdmit {
		e.Kind = "override"
	}
	err := f.store.Append(e)
	f.mu.Lock()
	f.storeFull = errors.Is(err, journal.ErrFull)
	f.mu.Unlock()
	if err != nil {
		// No person id in the log (the box's system log is read by whoever
		// maintains it): the guard's console shows who it was.
		f.log.Error("journal append failed: the gate stays shut", "err", err, "role", e.Role)
		ev := Event{State: StateFault, Person: &id.view, Decision: "deny", Reason: ReasonJournalError,
			Message: Text{ZH: "设备故障（记录失败），请联系门卫", EN: "Out of order (cannot record): please see the guard"}}
		if errors.Is(err, journal.ErrFull) {
			// The guard can do something about this one (free space, call the
			// school's IT): say so. Nothing latches: the next person is tried
			// again, and is admitted once there is room.
			ev.Reason, ev.Message = ReasonJournalFull, ReasonJournalFull.Message()
		}
		f.emit(ev)
		f.show(indicator.Fault)
		return
	}
	f.mu.Lock()
	f.busyUntil = time.Now() // the person is told the result: the next may scan
	f.mu.Unlock()
	ev := Event{Person: &id.view, Decision: decision, Reason: reason, Readings: e.Readings, Seq: e.Seq, Message: reason.Message()}
	if decision == "admit" {
		if !f.cfg.Checkpoint() { // a checkpoint has nothing to open
			if err := f.dev.Gate.Open(0); err != nil {
				f.log.Error("gate did not open", "err", err)
			}
		}
		if f.cfg.AntiPass.Enabled && f.cfg.AntiPass.Direction == "in" {
			f.mu.Lock()
			f.inside[id.view.ID] = true
			f.mu.Unlock()
		}
		ev.State = StateAdmitted
		f.show(indicator.Pass)
	} else {
		ev.State = StateDenied
		f.show(indicator.Stop)
	}
	// The alert goes before the event: the nurse's page must never lag the gate's.
	if reason == ReasonFever && f.opts.Alerter != nil {
		f.opts.Alerter.Alert(*e)
	}
	f.emit(ev)
	if reason == ReasonFever {
		// A temperature beside a person id would be health data in the
		// system log: the seq finds the entry in the journal, for those
		// allowed to see it.
		f.log.Warn("fever", "body_c", e.BodyC, "seq", e.Seq)
	}
}

// Guard carries out a guard action. Admit, deny and reading apply to the person
// referred to the guard; emergency open and close apply at any time.
func (f *Flow) Guard(ctx context.Context, a GuardAction) error {
	if strings.TrimSpace(a.GuardID) == "" || strings.TrimSpace(a.Reason) == "" {
		return errors.New("gate: a guard action needs the guard's id and a reason")
	}
	switch a.Kind {
	case GuardEmergencyOpen, GuardEmergencyClose:
		return f.emergencyAction(a)
	}
	f.mu.Lock()
	referred := f.referred
	f.mu.Unlock()
	if !referred {
		return ErrNobodyReferred
	}
	req := guardReq{a: a, reply: make(chan error, 1)}
	select {
	case f.guardC <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-f.clock.After(time.Second):
		return ErrNobodyReferred
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RemoteOpen lets one person through on the school's order (a signed command
// the caller has checked): recorded first, with who ordered it and why, then
// one pulse of the gate. Not while someone waits for the guard at the gate.
func (f *Flow) RemoteOpen(by, reason string) error {
	if strings.TrimSpace(by) == "" || strings.TrimSpace(reason) == "" {
		return errors.New("gate: a remote opening needs who ordered it and why")
	}
	f.mu.Lock()
	busy := f.referred
	f.mu.Unlock()
	if busy {
		return errors.New("gate: someone is waiting for the guard; the guard decides")
	}
	e := f.stamped(f.now())
	e.Kind, e.Decision, e.Reason, e.Guard = "remote", "admit", string(ReasonRemoteOpen), &journal.GuardAction{ID: by, Reason: reason}
	if err := f.store.Append(e); err != nil {
		return fmt.Errorf("gate: record remote opening: %w", err)
	}
	if err := f.dev.Gate.Open(0); err != nil {
		return fmt.Errorf("gate: remote opening: %w", err)
	}
	f.show(indicator.Pass)
	f.emit(Event{State: StateAdmitted, Decision: "admit", Reason: ReasonRemoteOpen, Seq: e.Seq, Message: ReasonRemoteOpen.Message()})
	f.log.Warn("opened by the school", "by", by, "reason", reason, "seq", e.Seq)
	return nil
}

func (f *Flow) emergencyAction(a GuardAction) error {
	now := f.now()
	e := f.stamped(now)
	e.Kind, e.Decision, e.Reason, e.Guard = "emergency", "admit", string(ReasonEmergencyOpen), &journal.GuardAction{ID: a.GuardID, Reason: a.Reason}
	if a.Kind == GuardEmergencyClose {
		e.Decision, e.Reason = "deny", string(ReasonEmergencyClose)
	}
	// The record comes first here too: an emergency opening nobody can account
	// for later is what the journal exists to prevent. If it cannot be written the
	// guard is told, and can still open the gate by hand.
	if err := f.store.Append(e); err != nil {
		return fmt.Errorf("gate: record %s: %w", a.Kind, err)
	}
	f.mu.Lock()
	f.emergency = a.Kind == GuardEmergencyOpen
	f.mu.Unlock()
	if a.Kind == GuardEmergencyOpen {
		if err := f.dev.Gate.Hold(); err != nil {
			return fmt.Errorf("gate: emergency open: %w", err)
		}
		f.show(indicator.Pass)
		f.emit(Event{State: StateEmergency, Reason: ReasonEmergencyOpen, Seq: e.Seq, Decision: "admit"})
		return nil
	}
	if err := f.dev.Gate.Release(); err != nil {
		return fmt.Errorf("gate: emergency close: %w", err)
	}
	f.ready()
	return nil
}

// WalkInVisitor is a visitor the guard registers at the gate: who they said
// they were, and the health code the guard saw on their phone.
type WalkInVisitor struct {
	journal.VisitorInfo
	Health  string // the health code's colour the guard saw: green, yellow or red
	GuardID string
}

type walkIn struct {
	v  WalkInVisitor
	id string
}

// WalkIn registers a walk-in visitor, who then goes to the sensor like
// anyone else: the visitor policy (a green health code, a temperature)
// decides, and the entry carries what the guard wrote. It returns the
// visitor's id at once; the decision follows as events. ErrBusy if someone is
// already being registered or handled.
func (f *Flow) WalkIn(v WalkInVisitor) (string, error) {
	if strings.TrimSpace(v.Name) == "" || strings.TrimSpace(v.Phone) == "" || strings.TrimSpace(v.Reason) == "" || strings.TrimSpace(v.GuardID) == "" {
		return "", errors.New("gate: a walk-in visitor needs a name, a phone number, a reason and the guard's id")
	}
	if v.Health != "green" && v.Health != "yellow" && v.Health != "red" {
		return "", fmt.Errorf("gate: health code %q: green, yellow or red", v.Health)
	}
	id := "W" + strings.ToUpper(pass.NewPassID()[:10])
	select {
	case f.walkC <- walkIn{v: v, id: id}:
		return id, nil
	default:
		return "", ErrBusy
	}
}

// ErrBusy: the gate is already taking someone in.
var ErrBusy = errors.New("gate: busy with another person")

func (f *Flow) handleWalkIn(ctx context.Context, w walkIn) {
	now := f.now()
	f.emit(Event{State: StateIdentify})
	id := identity{view: PersonView{ID: w.id, Name: w.v.Name, Role: Visitor, Credential: "walk_in", Assurance: "guard", Health: w.v.Health}}
	e := f.newEntry(id, now)
	info := w.v.VisitorInfo
	e.Visitor = &info
	e.Guard = &journal.GuardAction{ID: w.v.GuardID, Reason: "walk-in visitor registered at the gate"}
	f.proceed(ctx, e, &id, "", now)
}

type handheldReq struct {
	code    string
	c       float64
	guardID string
	reply   chan handheldResult
}

type handheldResult struct {
	e   journal.Entry
	err error
}

// Handheld records a reading taken with a handheld thermometer for the
// person the code names, at a checkpoint (the midday check at a desk or
// with a tablet): journalled as a midday entry; a fever raises the alert.
func (f *Flow) Handheld(ctx context.Context, code string, readingC float64, guardID string) (journal.Entry, error) {
	if strings.TrimSpace(guardID) == "" {
		return journal.Entry{}, errors.New("gate: a handheld reading needs the guard's id")
	}
	req := handheldReq{code: code, c: readingC, guardID: guardID, reply: make(chan handheldResult, 1)}
	select {
	case f.handC <- req:
	case <-ctx.Done():
		return journal.Entry{}, ctx.Err()
	case <-f.clock.After(5 * time.Second):
		return journal.Entry{}, ErrBusy
	}
	select {
	case r := <-req.reply:
		return r.e, r.err
	case <-ctx.Done():
		return journal.Entry{}, ctx.Err()
	}
}

func (f *Flow) handheld(h handheldReq) (journal.Entry, error) {
	if !f.cfg.Checkpoint() {
		return journal.Entry{}, errors.New("gate: handheld readings are for a checkpoint (mode = \"checkpoint\"); at a gate the guard enters one for the person referred")
	}
	if err := f.plausibleHandheld(h.c); err != nil {
		return journal.Entry{}, err
	}
	now := f.now()
	id, reason := f.identify(h.code, now)
	now = f.now()
	e := f.newEntry(id, now)
	e.Credential = "manual"
	e.Guard = &journal.GuardAction{ID: h.guardID, Reason: "handheld reading"}
	if reason != "" {
		f.decide(e, &id, "deny", reason)
		return *e, nil
	}
	f.decideHandheld(e, &id, h.c, now, ReasonMiddayOK)
	return *e, nil
}

// plausibleHandheld refuses a handheld reading no body could give.
func (f *Flow) plausibleHandheld(c float64) error {
	if tc := f.cfg.Temperature; c < tc.MinValidC || c > tc.MaxValidC {
		return fmt.Errorf("gate: handheld reading %.2f °C is not plausible (%.0f–%.0f)", c, tc.MinValidC, tc.MaxValidC)
	}
	return nil
}

// decideHandheld records a handheld reading (a body temperature) on e and
// decides by it: a fever is denied, anything else admitted for ok.
func (f *Flow) decideHandheld(e *journal.Entry, id *identity, c float64, at time.Time, ok Reason) {
	e.Readings = append(e.Readings, journal.Reading{SurfaceC: round2(c), BodyC: round2(c), Sensor: "handheld", At: at})
	if c >= f.cfg.Temperature.ThresholdC {
		f.decide(e, id, "deny", ReasonFever)
	} else {
		f.decide(e, id, "admit", ok)
	}
}
