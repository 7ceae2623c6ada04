package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"campusgate/device/display"
	"campusgate/gate"
	"campusgate/gate/pass"

	"github.com/jonboulle/clockwork"
)

// screenOf is what the small display shows for a flow event: the same verdicts
// as the person's screen (gate/console's toScreen), in the display's kinds.
func screenOf(ev gate.Event) display.Screen {
	s := display.Screen{Reason: shortReason[ev.Reason]}
	switch ev.State {
	case gate.StateReady:
		s.Kind = display.Ready
	case gate.StatePresence:
		// Measuring, not Ready: the person has scanned, and "SCAN YOUR PASS"
		// would send them back to the scanner.
		s.Kind, s.Reason = display.Measuring, "Face the sensor"
	case gate.StateIdentify:
		s.Kind, s.Reason = display.Measuring, "Checking pass"
	case gate.StateMeasuring:
		s.Kind = display.Measuring
	case gate.StateRetest:
		s.Kind, s.Reason = display.Measuring, "Wait to retest"
	case gate.StateRetry:
		s.Kind = display.Again
	case gate.StateAdmitted:
		s.Kind = display.Pass
	case gate.StateDenied:
		s.Kind = display.Stop
	case gate.StateReferred:
		// The screen's amber WAIT: the guard decides, the gate is not refusing.
		s.Kind = display.Wait
	case gate.StateEmergency:
		// Held open: the lights show pass, and so does the display.
		s.Kind = display.Pass
	default: // StateFault, and any state a later flow adds
		s.Kind = display.Fault
	}
	if n := len(ev.Readings); n > 0 && ev.Readings[n-1].BodyC > 0 && s.Kind != display.Ready && s.Kind != display.Fault {
		s.Temp = gate.FromCelsius(ev.Readings[n-1].BodyC)
	}
	return s
}

// shortReason is each reason in the 16 ASCII characters of the LCD's second
// row; gate/text.go has the full bilingual messages, which the console and the
// person's screen show. A reason not here shows the kind's own line.
var shortReason = map[gate.Reason]string{
	gate.ReasonOutsideWindowOK:             "Outside hours",
	gate.ReasonHealthRed:                   "Health: red",
	gate.ReasonHealthYellow:                "Health: yellow",
	gate.ReasonHealthUnknown:               "No health status",
	gate.ReasonNoDailyPass:                 "No daily report",
	gate.ReasonNoReportFlagged:             "No report: noted",
	gate.ReasonSymptomsFlagged:             "Symptoms: noted",
	gate.ReasonMiddayOK:                    "Midday check OK",
	gate.ReasonOutsideWindow:               "Not your time",
	gate.ReasonAntiPassback:                "Already inside",
	gate.ReasonFever:                       "High temperature",
	gate.ReasonImplausible:                 "Reading invalid",
	gate.ReasonSensorError:                 "Sensor fault",
	gate.ReasonSensorStuck:                 "Sensor stuck",
	gate.ReasonSensorDrift:                 "Sensor drift",
	gate.ReasonTimeout:                     "Timeout: rescan",
	gate.ReasonJournalError:                "Journal error",
	gate.ReasonJournalFull:                 "Storage full",
	gate.ReasonGuardAdmit:                  "Guard admitted",
	gate.ReasonGuardDeny:                   "Guard refused",
	gate.ReasonEmergencyOpen:               "Emergency open",
	gate.ReasonEmergencyClose:              "Emergency ended",
	gate.ReasonRemoteOpen:                  "Opened by school",
	gate.Reason(pass.ReasonMalformed):      "Code unreadable",
	gate.Reason(pass.ReasonUnknownKey):     "Not this school",
	gate.Reason(pass.ReasonBadSignature):   "Pass not valid",
	gate.Reason(pass.ReasonNotYetValid):    "Not valid yet",
	gate.Reason(pass.ReasonExpired):        "Pass expired",
	gate.Reason(pass.ReasonRevoked):        "Pass revoked",
	gate.Reason(pass.ReasonNotOnRoster):    "Not on the list",
	gate.Reason(pass.ReasonRoleNotAllowed): "Not at this gate",
}

// panelRetry is how soon a screen that failed to draw is drawn again when no
// event comes first: a display whose cable was reseated shows the gate's
// state within this.
const panelRetry = 5 * time.Second

// panelLogEvery bounds the warnings of a failing display: one, then one a
// minute with how many failed since, so a dead display does not fill the
// journal of logs on a busy morning.
const panelLogEvery = time.Minute

// panel drives the small display from the flow's events, on its own
// goroutines: the flow never waits on the display, and a display that fails
// or is slow only shows the gate's state late.
//
// The display shares the I²C bus with the thermometer. periph's sysfs bus
// (the one board.OpenBus returns) takes a mutex around each Tx, and each Tx is
// one I2C_RDWR ioctl the kernel runs under the adapter's lock, so the two
// drivers' transactions never interleave within one another. Between them
// they may: that is harmless, as every transaction carries its device's
// address and neither driver keeps bus state between its transactions (the
// MLX reads are one write-then-read Tx each; an SSD1306 page is a command Tx
// then a data Tx, and the chip keeps the page address itself). What the
// thermometer may feel is a wait of one display transaction, ~12 ms for an
// OLED page at 100 kHz (~7 ms an LCD row), well inside its read interval.
type panel struct {
	open   func() (display.Display, error) // (re)initialises the display
	blank  time.Duration
	clock  clockwork.Clock
	log    *slog.Logger
	failed func() // counts a failure for the metrics

	health atomic.Pointer[string]
	drawn  func(display.Screen) // after each screen shown; tests read the display then
}

func newPanel(open func() (display.Display, error), cfg display.Config, clock clockwork.Clock, log *slog.Logger, failed func()) *panel {
	p := &panel{open: open, blank: cfg.Blank(), clock: clock, log: log, failed: failed}
	s := "not shown yet"
	p.health.Store(&s)
	return p
}

// Health is "ok", "blanked (idle)", or the last failure.
func (p *panel) Health() string { return *p.health.Load() }

// latest holds the newest event not yet drawn: a display slower than the
// events skips to the newest, and the flow's subscription never fills.
type latest struct {
	mu    sync.Mutex
	ev    gate.Event
	fresh bool
	wake  chan struct{} // a token while fresh
}

func (l *latest) put(ev gate.Event) {
	l.mu.Lock()
	l.ev, l.fresh = ev, true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *latest) take() (gate.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev, ok := l.ev, l.fresh
	l.fresh = false
	return ev, ok
}

// subscriber is the flow as the panel sees it.
type subscriber interface {
	Subscribe() (<-chan gate.Event, func())
}

// Run shows the flow's events until ctx ends, then blanks the display.
func (p *panel) Run(ctx context.Context, flow subscriber) {
	events, stop := flow.Subscribe()
	defer stop()
	l := &latest{wake: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { p.receive(ctx, events, l) })
	p.draw(ctx, l)
}

// panelHold is how long a decision stays on the display when the flow is
// ready for the next person at once: as long as the person's screen holds it
// (gate/console's hold.js), so that whoever was refused sees it and why.
const panelHold = 4 * time.Second

// receive takes the flow's events as they come, into l; a ready event within
// panelHold of a decision waits out the hold there (anything else replaces
// the decision at once: it is the next person).
func (p *panel) receive(ctx context.Context, events <-chan gate.Event, l *latest) {
	var (
		held      *gate.Event
		hold      clockwork.Timer
		holdUntil time.Time
	)
	defer func() { stopTimer(&hold) }()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			now := p.clock.Now()
			if ev.State == gate.StateReady && now.Before(holdUntil) {
				held = &ev
				if hold == nil {
					hold = p.clock.NewTimer(holdUntil.Sub(now))
				}
				continue
			}
			stopTimer(&hold)
			held = nil
			if ev.State == gate.StateAdmitted || ev.State == gate.StateDenied {
				holdUntil = now.Add(panelHold)
			}
			l.put(ev)
		case <-chanOf(hold):
			hold = nil
			if held != nil {
				l.put(*held)
				held = nil
			}
		}
	}
}

func stopTimer(t *clockwork.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// chanOf is t's channel; nil, which never fires, for no timer.
func chanOf(t clockwork.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.Chan()
}

// draw is the display's loop: show the newest event, blank after the ready
// screen has stood for p.blank, retry what failed.
func (p *panel) draw(ctx context.Context, l *latest) {
	var (
		dev     display.Display
		shown   display.Screen
		pending bool // shown has not reached the display
		blanked bool
		idle    clockwork.Timer
		retry   clockwork.Timer
		errs    errLog
	)
	defer func() {
		stopTimer(&idle)
		stopTimer(&retry)
		if dev != nil && !blanked {
			if err := dev.Close(); err != nil {
				p.log.Warn("display: blank on stop", "err", err)
			}
		}
	}()
	show := func() {
		stopTimer(&retry)
		err := p.show(&dev, shown)
		if err != nil {
			pending = true
			retry = p.clock.NewTimer(panelRetry)
			p.failed()
			errs.failed(p, err)
			return
		}
		pending, blanked = false, false
		errs.recovered(p)
		ok := "ok"
		p.health.Store(&ok)
		if p.drawn != nil {
			p.drawn(shown)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
			ev, ok := l.take()
			if !ok {
				continue
			}
			shown = screenOf(ev)
			p.log.Debug("display", "screen", shown)
			show()
			stopTimer(&idle)
			if shown.Kind == display.Ready {
				idle = p.clock.NewTimer(p.blank)
			}
		case <-chanOf(retry):
			retry = nil
			if pending {
				show()
			}
		case <-chanOf(idle):
			idle = nil
			if dev == nil || pending {
				continue
			}
			if err := dev.Close(); err != nil {
				p.failed()
				errs.failed(p, err)
				dev = nil // re-initialised on the next event
				continue
			}
			blanked = true
			s := "blanked (idle)"
			p.health.Store(&s)
		}
	}
}

// show draws s, opening the display first if it is not open; a display that
// failed is opened again, as it may have lost its power and its setup.
func (p *panel) show(dev *display.Display, s display.Screen) error {
	if *dev == nil {
		d, err := p.open()
		if err != nil {
			return err
		}
		*dev = d
	}
	if err := (*dev).Show(s); err != nil {
		*dev = nil
		return err
	}
	return nil
}

// errLog rate-limits a failing display's warnings.
type errLog struct {
	failing    bool
	loggedAt   time.Time
	suppressed int
}

func (e *errLog) failed(p *panel, err error) {
	s := err.Error()
	p.health.Store(&s)
	now := p.clock.Now()
	if e.failing && now.Sub(e.loggedAt) < panelLogEvery {
		e.suppressed++
		return
	}
	p.log.Warn("display failed: the gate runs on without it", "err", err, "failures_not_logged", e.suppressed)
	e.failing, e.loggedAt, e.suppressed = true, now, 0
}

func (e *errLog) recovered(p *panel) {
	if e.failing {
		p.log.Info("display works again", "failures_not_logged", e.suppressed)
	}
	*e = errLog{}
}
