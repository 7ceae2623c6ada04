// Package console is the school console campusd serves: live fever alerts
// for the nurses, entry logs, daily reports and absence follow-up for admins
// and head teachers, the roster and passes, the gates, accounts and the audit
// log, as server-rendered pages (html/template) in Chinese first with English
// available, and the JSON API behind them (see routes).
//
// Every request but the login page and /healthz needs a session; every page
// and API call checks the account's role, and a head teacher's class; every
// view of personal data and every change goes to the audit log. Cross-site
// requests are refused (net/http's CrossOriginProtection).
//
// Caveats:
//   - The console trusts campusd's store and clock; it has no state of its
//     own but the login rate limits, which live in memory.
//   - Sessions live in the store, so a restart keeps people logged in; the
//     cookie is Secure when the console is reached over HTTPS (Opts.Secure or
//     a TLS request).
package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"campusgate/gate/journal"
	"campusgate/gate/pass"
	"campusgate/sync/store"
	"campusgate/sync/wire"

	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"
)

// Gates is what the console asks of the gates (campusd's downlink over MQTT).
type Gates interface {
	// RosterChanged: a new roster version for every gate.
	RosterChanged(version uint64, people []journal.Person)
	// ConfigChanged: the school's settings for one gate.
	ConfigChanged(gate string, c wire.Config)
	// Revoked: the passes every gate must now refuse (the whole list).
	Revoked(r wire.Revocations)
	// Command sends a signed command (remote open, re-sync) to one gate.
	Command(ctx context.Context, gate string, kind wire.CmdKind, by, reason string) error
	// SchoolConfigChanged: the settings document for every gate (a gate's
	// own settings go over it).
	SchoolConfigChanged(toml string)
	// Connected tells whether campusd is connected to the broker.
	Connected() bool
}

// Opts configures New. DB, School and Gates are required.
type Opts struct {
	DB     *store.DB
	School string
	Gates  Gates
	// Issuer signs the passes the console issues; nil: passes cannot be
	// issued (the page says so).
	Issuer *pass.Issuer
	// EscalateAfter: a fever alert nobody acknowledged for this long goes to
	// the admins too. Default 3 minutes.
	EscalateAfter time.Duration
	// AbsenceCutoff is the time of day (HH:MM, the school's zone) after which
	// someone expected who has not arrived is absent. Default 08:30.
	AbsenceCutoff string
	// SessionIdle ends a session not used for this long; SessionMax ends any
	// session. Defaults 2 h and 12 h (a school day).
	SessionIdle, SessionMax time.Duration
	// Retention is how long personal data is kept on the server: Run
	// purges what is older once a day (store.DB.Purge). Zero fields take
	// store.DefaultRetention.
	Retention store.Retention
	// GateConfig is the school's base gate settings (campusd -gate-config);
	// the arrival schedule set here is added to it.
	GateConfig string
	// FeverC is the temperature at home that makes a morning report red.
	// Default 37.3 °C.
	FeverC float64
	// Base is the console's address as families reach it, for the printed
	// morning-report links (http://school.example:8090); default: the address
	// of the request that prints them.
	Base string
	// Stats, if set, adds campusd's own counters to /api/stats.
	Stats func() any
	// StoreFailing, if set, tells since when the ingest's writes to the
	// database have been refused, and why (ingest.Ingest.StoreFailing): every
	// page then says so, and /healthz answers 503.
	StoreFailing func() (since time.Time, err error)
	// Secure marks the session cookie Secure even on a plain request (a TLS
	// proxy in front); a TLS request always gets it.
	Secure bool
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// Server is the console.
type Server struct {
	o      Opts
	db     *store.DB
	log    *slog.Logger
	clock  clockwork.Clock
	hub    *hub
	limits *limiter
	pages  *pages
	cutoff time.Duration // since midnight
	// rosterDirty: a morning report changed someone's health; the roster goes
	// down to the gates a moment later, many reports in one version.
	rosterDirty  chan struct{}
	patterns     []string // what routes registered, for the tests
	unsaved      unsaved
	storeWasDown atomic.Bool // the last look at StoreFailing
	// auditLost counts audit records lost since auditWarn last ran: on a
	// full disk every page view loses one, and a line each would fill it.
	auditLost atomic.Int64
	auditWarn rate.Sometimes
}

// New checks o and returns the console.
func New(o Opts) (*Server, error) {
	if o.DB == nil || o.Gates == nil {
		return nil, errors.New("console: Opts.DB and Opts.Gates are required")
	}
	if err := wire.ValidID(o.School); err != nil {
		return nil, fmt.Errorf("console: school: %w", err)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.EscalateAfter, 3*time.Minute)
	def(&o.SessionIdle, 2*time.Hour)
	def(&o.SessionMax, 12*time.Hour)
	if o.AbsenceCutoff == "" {
		o.AbsenceCutoff = "08:30"
	}
	cut, err := time.Parse("15:04", o.AbsenceCutoff)
	if err != nil {
		return nil, fmt.Errorf("console: absence cutoff %q: want HH:MM", o.AbsenceCutoff)
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	if o.FeverC == 0 {
		o.FeverC = 37.3
	}
	return &Server{o: o, db: o.DB, log: o.Logger, clock: o.Clock, hub: newHub(), limits: newLimiter(o.Clock), pages: p,
		cutoff: time.Duration(cut.Hour())*time.Hour + time.Duration(cut.Minute())*time.Minute, rosterDirty: make(chan struct{}, 1),
		unsaved:   unsaved{kick: make(chan struct{}, 1)},
		auditWarn: rate.Sometimes{Interval: time.Minute}}, nil
}

// Alert is ingest's OnAlert for a new alert the database stored: shown
// live, with the alarm, unless it was shown already while held (unsaved). It
// never blocks.
func (s *Server) Alert(school string, a wire.Alert) {
	if s.unsaved.stored(a) {
		s.hub.publish(event{Kind: "changed"})
		return
	}
	s.hub.publish(event{Kind: "alert", Alert: &a})
}

// HoldUnlessStored holds a fever alert the database may not have, unless it
// has it, telling whether it held one not held before: another campusd
// instance's notice of one it holds unstored (which can come after that
// instance stored it, and said so), or a fever in an entry batch the
// database refused (whose alert it may have from the gate's alert message).
// It looks again once it holds it, in case the ingest here stored it
// meanwhile. It waits for the database 5 s at most; a database that does
// not answer has it held, as one that refuses writes. One held already is
// not looked up again (a gate resends its refused batch every ack timeout).
func (s *Server) HoldUnlessStored(ctx context.Context, school string, a wire.Alert) bool {
	if s.unsaved.holds(a) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if stored, err := s.db.AlertStored(ctx, a); err == nil && stored {
		return false
	}
	if !s.AlertNotStored(school, a) {
		return false
	}
	if stored, err := s.db.AlertStored(ctx, a); err == nil && stored && s.unsaved.stored(a) {
		s.hub.publish(event{Kind: "changed"})
		return false
	}
	return true
}

// AlertNotStored is ingest's OnAlert for a new alert the database refused
// (a full disk): a fever is held for the nurse's page (unsaved), which is
// read from the database and would otherwise beep and show nothing. It
// tells whether it held a fever not held before: one held already raises no
// second alarm. It never blocks.
func (s *Server) AlertNotStored(school string, a wire.Alert) bool {
	if a.Kind != wire.AlertFever {
		s.hub.publish(event{Kind: "alert", Alert: &a})
		return false
	}
	if !s.unsaved.hold(school, a, s.clock.Now(), s.log) {
		return false
	}
	s.hub.publish(event{Kind: "alert", Alert: &a})
	return true
}

// StoreStateChanged is ingest's OnStoreFailing: every open page is told when
// the database starts or stops refusing writes, for the banner. Run also
// looks every 15 s. It never blocks.
func (s *Server) StoreStateChanged() {
	down := s.storeDown() != nil
	if s.storeWasDown.Swap(down) != down {
		s.hub.publish(event{Kind: "store"})
	}
}

// Run escalates unacknowledged fever alerts, purges dead sessions hourly and
// data past its retention daily (the first time at once) until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	tick := s.clock.NewTicker(15 * time.Second)
	defer tick.Stop()
	purge := s.clock.Now()
	var retained time.Time
	var push <-chan time.Time
	s.escalate(ctx)
	for {
		if retained.IsZero() || s.clock.Since(retained) >= 24*time.Hour {
			s.purgeOld(ctx)
			retained = s.clock.Now()
		}
		if s.clock.Since(purge) > time.Hour {
			if n, err := s.db.PurgeSessions(ctx, s.o.SessionIdle); err != nil {
				s.log.Warn("sessions not purged", "err", err)
			} else if n > 0 {
				s.log.Info("sessions purged", "n", n)
			}
			purge = s.clock.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.Chan():
			// Held alerts first: one stored meanwhile must have its held
			// time and escalation before the database's are escalated.
			s.storeUnsaved(ctx)
			s.escalate(ctx)
			s.StoreStateChanged()
		case <-s.unsaved.kick:
			s.storeUnsaved(ctx)
		case <-s.rosterDirty:
			if push == nil {
				push = s.clock.After(2 * time.Second)
			}
		case <-push:
			push = nil
			if _, err := s.PushRoster(ctx); err != nil {
				s.log.Warn("roster not pushed after morning reports; the next report tries again", "err", err)
			}
		}
	}
}

// purgeOld deletes what is past its retention; the log says how many rows
// of which table, nothing of what they held.
func (s *Server) purgeOld(ctx context.Context) {
	n, err := s.db.Purge(ctx, s.o.Retention)
	if err != nil {
		s.log.Warn("retention purge failed; tried again tomorrow", "err", err)
		return
	}
	r := s.o.Retention.WithDefaults()
	args := []any{"data_days", int(r.Data.Hours() / 24), "audit_days", int(r.Audit.Hours() / 24)}
	for _, t := range slices.Sorted(maps.Keys(n)) {
		args = append(args, t, n[t])
	}
	s.log.Info("retention purge", args...)
}

// rosterChanged asks Run to send the roster down soon.
func (s *Server) rosterChanged() {
	select {
	case s.rosterDirty <- struct{}{}:
	default:
	}
}

func (s *Server) escalate(ctx context.Context) {
	before := s.clock.Now().Add(-s.o.EscalateAfter)
	// A held alert cannot be acknowledged until it is stored, so nobody
	// may be handling it: it goes to the admins as a stored one does, and
	// whether or not the database takes the escalation of the others.
	for _, a := range s.unsaved.escalate(before, s.clock.Now()) {
		s.log.Warn("fever alert neither stored nor acknowledged: escalated to the admins", "gate", a.Alert.Gate, "seq", a.Alert.Seq, "after", s.o.EscalateAfter)
		s.hub.publish(event{Kind: "escalated"})
	}
	ids, err := s.db.Escalate(ctx, before)
	if err != nil {
		s.log.Warn("escalation failed", "err", err)
		return
	}
	for _, id := range ids {
		s.log.Warn("fever alert not acknowledged: escalated to the admins", "alert", id, "after", s.o.EscalateAfter)
		s.hub.publish(event{Kind: "escalated", AlertID: id})
	}
}

// Handler is the console's HTTP handler.
func (s *Server) Handler() http.Handler {
	return http.NewCrossOriginProtection().Handler(s.routes())
}
