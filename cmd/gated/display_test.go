package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/device/display"
	"campusgate/device/display/displaysim"
	"campusgate/gate"
	"campusgate/gate/journal"
	"campusgate/gate/pass"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"periph.io/x/conn/v3/physic"
)

func bodyC(c float64) []journal.Reading { return []journal.Reading{{BodyC: c}} }

// TestDisplayScreenOf: every state of the flow, with the reasons that change
// what the display says, as the person's screen shows them (pass green, stop
// red, wait amber).
func TestDisplayScreenOf(t *testing.T) {
	t36 := physic.ZeroCelsius + 36600*physic.MilliKelvin
	t38 := physic.ZeroCelsius + 38400*physic.MilliKelvin
	for _, c := range []struct {
		ev   gate.Event
		want display.Screen
	}{
		{gate.Event{State: gate.StateReady}, display.Screen{Kind: display.Ready}},
		{gate.Event{State: gate.StateReady, Reason: "malformed"}, display.Screen{Kind: display.Ready, Reason: "Code unreadable"}},
		{gate.Event{State: gate.StateReady, Reason: gate.ReasonJournalFull}, display.Screen{Kind: display.Ready, Reason: "Storage full"}},
		{gate.Event{State: gate.StateIdentify}, display.Screen{Kind: display.Measuring, Reason: "Checking pass"}},
		{gate.Event{State: gate.StatePresence, Readings: bodyC(30)}, display.Screen{Kind: display.Measuring, Reason: "Face the sensor", Temp: physic.ZeroCelsius + 30*physic.Celsius}},
		{gate.Event{State: gate.StateMeasuring, Readings: bodyC(36.6)}, display.Screen{Kind: display.Measuring, Temp: t36}},
		{gate.Event{State: gate.StateRetest, Readings: bodyC(38.4)}, display.Screen{Kind: display.Measuring, Reason: "Wait to retest", Temp: t38}},
		{gate.Event{State: gate.StateRetry, Reason: gate.ReasonImplausible}, display.Screen{Kind: display.Again, Reason: "Reading invalid"}},
		{gate.Event{State: gate.StateAdmitted, Reason: gate.ReasonOK, Readings: bodyC(36.6)}, display.Screen{Kind: display.Pass, Temp: t36}},
		{gate.Event{State: gate.StateAdmitted, Reason: gate.ReasonNoReportFlagged, Readings: bodyC(36.6)}, display.Screen{Kind: display.Pass, Reason: "No report: noted", Temp: t36}},
		{gate.Event{State: gate.StateAdmitted, Reason: gate.ReasonRemoteOpen}, display.Screen{Kind: display.Pass, Reason: "Opened by school"}},
		{gate.Event{State: gate.StateDenied, Reason: gate.ReasonFever, Readings: bodyC(38.4)}, display.Screen{Kind: display.Stop, Reason: "High temperature", Temp: t38}},
		{gate.Event{State: gate.StateDenied, Reason: "expired"}, display.Screen{Kind: display.Stop, Reason: "Pass expired"}},
		{gate.Event{State: gate.StateDenied, Reason: "some_new_reason"}, display.Screen{Kind: display.Stop}},
		{gate.Event{State: gate.StateReferred, Reason: gate.ReasonSensorStuck}, display.Screen{Kind: display.Wait, Reason: "Sensor stuck"}},
		{gate.Event{State: gate.StateFault, Reason: gate.ReasonSensorError, Readings: bodyC(20)}, display.Screen{Kind: display.Fault, Reason: "Sensor fault"}},
		{gate.Event{State: gate.StateFault, Reason: gate.ReasonJournalError, Decision: "deny"}, display.Screen{Kind: display.Fault, Reason: "Journal error"}},
		{gate.Event{State: gate.StateEmergency, Reason: gate.ReasonEmergencyOpen}, display.Screen{Kind: display.Pass, Reason: "Emergency open"}},
		{gate.Event{State: "later"}, display.Screen{Kind: display.Fault}},
	} {
		if got := screenOf(c.ev); got != c.want {
			t.Errorf("%s %s: %+v, want %+v", c.ev.State, c.ev.Reason, got, c.want)
		}
	}
	// Every reason a decision can carry has its short text, which fits the
	// LCD's row in the characters its ROM has: the gate's and the pass's.
	reasons := gate.Reasons()
	for _, r := range pass.Reasons {
		reasons = append(reasons, gate.Reason(r))
	}
	for _, r := range reasons {
		s, ok := shortReason[r]
		if r == gate.ReasonOK {
			continue // the kind's own line: "Please go in"
		}
		if !ok || len(s) > 16 || strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c > 0x7D || c == '\\' }) {
			t.Errorf("%s: %q", r, s)
		}
	}
}

// fakeFlow is the flow's subscription, fed by the test.
type fakeFlow struct{ c chan gate.Event }

func (f *fakeFlow) Subscribe() (<-chan gate.Event, func()) { return f.c, func() {} }

// slowDisplay takes as long as the test says to draw each screen.
type slowDisplay struct {
	mu      sync.Mutex
	shown   []display.Kind
	started chan struct{} // a token as each Show begins
	gate    chan struct{} // a token a Show
	over    chan struct{} // closed as the test ends: a Show no longer waits
}

func (d *slowDisplay) Show(s display.Screen) error {
	d.started <- struct{}{}
	select {
	case <-d.gate:
	case <-d.over:
		return errors.New("the test is over")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shown = append(d.shown, s.Kind)
	return nil
}

func (d *slowDisplay) Close() error { return nil }

// runPanel runs p on f until the test ends.
func runPanel(t *testing.T, p *panel, f subscriber) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx, f) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestDisplayCoalesces: events faster than the display draws are skipped to
// the newest, and the flow's sends never wait.
func TestDisplayCoalesces(t *testing.T) {
	d := &slowDisplay{started: make(chan struct{}, 10), gate: make(chan struct{}), over: make(chan struct{})}
	drawn := make(chan display.Screen, 10)
	p := newPanel(func() (display.Display, error) { return d, nil }, display.Config{}, clockwork.NewFakeClock(), slog.New(slog.DiscardHandler), func() {})
	p.drawn = func(s display.Screen) { drawn <- s }
	f := &fakeFlow{c: make(chan gate.Event)} // unbuffered: a send waits for the panel to take it
	runPanel(t, p, f)
	t.Cleanup(func() { close(d.over) }) // before runPanel's: a draw the test did not expect must not hang it
	f.c <- gate.Event{State: gate.StateIdentify}
	<-d.started
	// The last ready comes within the refusal's hold, so it is held, not
	// shown: its send returning means the refusal before it is the newest
	// (a send returns once the panel has the event, before it is recorded).
	for _, st := range []gate.State{gate.StatePresence, gate.StateMeasuring, gate.StateAdmitted, gate.StateReady, gate.StateIdentify, gate.StateDenied, gate.StateReady} {
		select {
		case f.c <- gate.Event{State: st}:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the panel stopped taking events while drawing", st)
		}
	}
	d.gate <- struct{}{} // the first draw ends
	d.gate <- struct{}{} // the next is the newest
	for range 2 {
		<-drawn
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if want := []display.Kind{display.Measuring, display.Stop}; fmt.Sprint(d.shown) != fmt.Sprint(want) {
		t.Errorf("shown %v, want %v", d.shown, want)
	}
}

// TestDisplayBlanks: the ready screen standing for blank_after blanks the
// OLED (0xAE) and turns the LCD's backlight off; the next event lights it,
// even when it is the ready screen again; a screen other than ready never
// blanks.
func TestDisplayBlanks(t *testing.T) {
	for _, chip := range []string{display.ChipSSD1306, display.ChipHD44780} {
		t.Run(chip, func(t *testing.T) {
			bus := displaysim.NewBus()
			cfg := display.Config{Chip: chip, BlankAfter: 3 * time.Minute}
			var lit func() bool
			if chip == display.ChipSSD1306 {
				oled := displaysim.NewSSD1306(64)
				bus.Attach(cfg.Address(), oled)
				lit = oled.Lit
			} else {
				lcd := displaysim.NewLCD()
				bus.Attach(cfg.Address(), lcd)
				lit = lcd.Lit
			}
			clock := clockwork.NewFakeClock()
			drawn := make(chan display.Screen, 10)
			p := newPanel(func() (display.Display, error) { return display.Open(bus, cfg) }, cfg, clock, slog.New(slog.DiscardHandler), func() {})
			p.drawn = func(s display.Screen) { drawn <- s }
			f := &fakeFlow{c: make(chan gate.Event, 1)}
			runPanel(t, p, f)
			step := func(st gate.State) {
				t.Helper()
				f.c <- gate.Event{State: st}
				<-drawn
				if !lit() {
					t.Fatalf("%s: dark", st)
				}
				if st == gate.StateReady { // the idle timer is set after the draw
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					if err := clock.BlockUntilContext(ctx, 1); err != nil {
						t.Fatalf("no idle timer: %v", err)
					}
				}
			}
			advance := func(d time.Duration, wantLit bool) {
				t.Helper()
				clock.Advance(d)
				deadline := time.Now().Add(5 * time.Second)
				for lit() != wantLit && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if lit() != wantLit {
					t.Fatalf("after %v: lit %v, want %v", d, lit(), wantLit)
				}
			}

			step(gate.StateReady)
			clock.Advance(cfg.BlankAfter - time.Second)
			if !lit() || p.Health() != "ok" {
				t.Fatalf("blanked early: %q", p.Health())
			}
			advance(time.Second, false)
			if p.Health() != "blanked (idle)" {
				t.Errorf("health %q", p.Health())
			}
			step(gate.StateReady) // the same frame: the driver sends no pixels, the panel lights anyway
			advance(cfg.BlankAfter, false)
			step(gate.StateIdentify)
			step(gate.StateFault)
			clock.Advance(time.Hour)
			time.Sleep(20 * time.Millisecond)
			if !lit() {
				t.Error("a fault blanked")
			}
		})
	}
}

// TestDisplayHolds: the flow is ready for the next person as soon as it
// decides; the display keeps the decision for panelHold all the same, unless
// the next person scans.
func TestDisplayHolds(t *testing.T) {
	bus := displaysim.NewBus()
	lcd := displaysim.NewLCD()
	cfg := display.Config{Chip: display.ChipHD44780}
	bus.Attach(cfg.Address(), lcd)
	clock := clockwork.NewFakeClock()
	drawn := make(chan display.Screen, 10)
	p := newPanel(func() (display.Display, error) { return display.Open(bus, cfg) }, cfg, clock, slog.New(slog.DiscardHandler), func() {})
	p.drawn = func(s display.Screen) { drawn <- s }
	f := &fakeFlow{c: make(chan gate.Event)}
	runPanel(t, p, f)
	f.c <- gate.Event{State: gate.StateDenied, Reason: gate.ReasonFever, Readings: bodyC(38.6)}
	<-drawn
	f.c <- gate.Event{State: gate.StateReady}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // the hold
		t.Fatal(err)
	}
	clock.Advance(panelHold - time.Millisecond)
	if r := lcd.Row(0); r != "STOP 38.6C      " {
		t.Fatalf("during the hold: %q", r)
	}
	clock.Advance(time.Millisecond)
	if s := <-drawn; s.Kind != display.Ready || lcd.Row(0) != "SCAN YOUR PASS  " {
		t.Errorf("after the hold: %v %q", s.Kind, lcd.Row(0))
	}
	f.c <- gate.Event{State: gate.StateAdmitted}
	<-drawn
	f.c <- gate.Event{State: gate.StateIdentify} // the next person: at once
	if s := <-drawn; s.Kind != display.Measuring {
		t.Errorf("the next person: %v", s.Kind)
	}
}

// TestDisplayFailing: a display that fails is retried, re-initialised,
// counted and reported in the health, and logged once, not for every event.
func TestDisplayFailing(t *testing.T) {
	bus := displaysim.NewBus()
	lcd := displaysim.NewLCD()
	cfg := display.Config{Chip: display.ChipHD44780}
	bus.Attach(cfg.Address(), lcd)
	bus.Fail(cfg.Address(), errors.New("cable out"))
	clock := clockwork.NewFakeClock()
	var logs strings.Builder
	var mu sync.Mutex
	failures := 0
	drawn := make(chan display.Screen, 10)
	p := newPanel(func() (display.Display, error) { return display.Open(bus, cfg) }, cfg, clock,
		slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil)), func() { mu.Lock(); failures++; mu.Unlock() })
	p.drawn = func(s display.Screen) { drawn <- s }
	f := &fakeFlow{c: make(chan gate.Event)}
	runPanel(t, p, f)
	for i, st := range []gate.State{gate.StateReady, gate.StateIdentify, gate.StateMeasuring} {
		f.c <- gate.Event{State: st}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(p.Health(), "cable out") || func() bool { mu.Lock(); defer mu.Unlock(); return failures <= i }() {
			if time.Now().After(deadline) {
				t.Fatalf("health %q, %d failures", p.Health(), failures)
			}
			time.Sleep(time.Millisecond)
		}
	}
	bus.Fail(cfg.Address(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // the retry
		t.Fatal(err)
	}
	clock.Advance(panelRetry)
	<-drawn
	if r := lcd.Row(0); r != "MEASURING       " || !lcd.Lit() || p.Health() != "ok" {
		t.Errorf("after the retry: %q lit %v health %q", r, lcd.Lit(), p.Health())
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "display failed"); n != 1 || !strings.Contains(logs.String(), "display works again") {
		t.Errorf("%d warnings:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// TestDisplaySimulated: `gated -simulate -display CHIP`: a person admitted,
// then one refused for a fever, show PASS then STOP with their temperature on
// the emulated display, decoded from what the real driver sent over the
// emulated bus it shares with the sensor. With the display's cable out the
// next person is admitted all the same, the health and the metrics say so.
func TestDisplaySimulated(t *testing.T) {
	for _, chip := range []string{display.ChipHD44780, display.ChipSSD1306} {
		t.Run(chip, func(t *testing.T) {
			dir := t.TempDir()
			cfg, err := loadConfig("", true, "", filepath.Join(dir, "j.db"), chip)
			if err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.DiscardHandler)
			j, err := journal.Open(cfg.Journal, &journal.Opts{GateID: cfg.GateID, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			d := &daemon{cfg: cfg, log: log, simulate: true, metrics: newGateMetrics(j)}
			hw, err := d.devices()
			if err != nil {
				t.Fatal(err)
			}
			defer hw.Close()
			verifier := &pass.Verifier{Keys: &pass.Keyring{}, Revoked: &pass.Revocations{}}
			if err := seedDemo(j, verifier, io.Discard, cfg, filepath.Join(dir, "demo.key")); err != nil {
				t.Fatal(err)
			}
			flow, err := gate.New(cfg, hw.devices, j, &gate.Opts{Verifier: verifier, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			hw.flow.Store(flow)
			// What the display showed for each decision, read from the
			// emulator as soon as the panel has drawn it.
			var mu sync.Mutex
			seen := map[display.Kind][2]string{}
			hw.panel.drawn = func(s display.Screen) {
				mu.Lock()
				defer mu.Unlock()
				if hw.sim.LCD != nil {
					seen[s.Kind] = [2]string{hw.sim.LCD.Row(0), hw.sim.LCD.Row(1)}
				} else {
					o := hw.sim.OLED
					seen[s.Kind] = [2]string{o.Art(image.Rect(44, 0, 44+28, 13)), o.Art(image.Rect(44, 18, 44+70, 18+26))}
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { _ = flow.Run(ctx) })
			wg.Go(func() { hw.panel.Run(ctx, flow) })
			defer func() { cancel(); wg.Wait() }()
			p := &simPresenter{box: hw.sim, flow: flow, cal: cfg.Temperature.Calibration}

			check := func(code string, tempC float64, kind display.Kind, word, reason string) {
				t.Helper()
				ev, err := p.Present(ctx, code, tempC)
				if err != nil {
					t.Fatal(err)
				}
				if len(ev.Readings) == 0 {
					t.Fatalf("%s at %.1f: %+v", code, tempC, ev)
				}
				body := ev.Readings[len(ev.Readings)-1].BodyC
				var want [2]string
				if hw.sim.LCD != nil {
					want = [2]string{fmt.Sprintf("%-16s", fmt.Sprintf("%s %.1fC", word, body)), fmt.Sprintf("%-16s", reason)}
				} else {
					want = [2]string{displaysim.TextArt(word, 1), displaysim.TextArt(fmt.Sprintf("%.1fC", body), 2)}
				}
				deadline := time.Now().Add(5 * time.Second)
				for {
					mu.Lock()
					got := seen[kind]
					mu.Unlock()
					if got == want {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s at %.1f (display %s): the display showed\n%s\n%s\nwant\n%s\n%s", code, tempC, hw.panel.Health(), got[0], got[1], want[0], want[1])
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			check("C0101", 36.6, display.Pass, "PASS", "Please go in")
			check("C0215", 38.6, display.Stop, "STOP", "High temperature")

			addr := cfg.Devices.Display.Address()
			hw.sim.Bus.Fail(addr, errors.New("cable out"))
			ev, err := p.Present(ctx, "C0102", 36.5)
			if err != nil || ev.Decision != "admit" {
				t.Fatalf("with the display failing: %+v %v", ev, err)
			}
			// The panel draws on its own goroutine: its failure shows a moment
			// after the decision, not with it.
			health := hw.health(j, &appendState{})
			for deadline := time.Now().Add(5 * time.Second); !strings.Contains(health()["display"], "cable out") && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if h := health()["display"]; !strings.Contains(h, "cable out") {
				t.Errorf("health: display %q", h)
			}
			if n := testutil.ToFloat64(d.metrics.deviceErrors.WithLabelValues("display")); n < 1 {
				t.Errorf("display errors %v", n)
			}
		})
	}
}
