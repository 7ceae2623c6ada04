package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"campusgate/device/board"
	"campusgate/device/display"
	"campusgate/device/indicator"
	"campusgate/device/mlx90614"
	"campusgate/device/mlx90632"
	"campusgate/device/relay"
	"campusgate/device/scanner"
	"campusgate/device/simbox"
	"campusgate/gate"
	"campusgate/gate/journal"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// hardware is the gate's devices, real or simulated, and how to close them.
type hardware struct {
	devices gate.Devices
	therm   *watchedTherm
	sim     *simbox.Box
	closers []func() error
	conn    func() bool // scanner connected
	panel   *panel      // the small display; nil: none
	flow    atomic.Pointer[gate.Flow]
}

// Close releases the relay first: the closers run in reverse order of opening,
// and the relay is opened last.
func (h *hardware) Close() error {
	var errs []error
	for i := len(h.closers) - 1; i >= 0; i-- {
		errs = append(errs, h.closers[i]())
	}
	return errors.Join(errs...)
}

// watchedTherm remembers the sensor's last error for the console and
// telemetry, and counts its failures for the metrics.
type watchedTherm struct {
	gate.Thermometer
	last   atomic.Pointer[string]
	failed func()
}

func (w *watchedTherm) Measure(ctx context.Context) (physic.Temperature, physic.Temperature, error) {
	o, a, err := w.Thermometer.Measure(ctx)
	s := "ok"
	if err != nil {
		s = err.Error()
		if ctx.Err() == nil { // not a reading cut short by the stop
			w.failed()
		}
	}
	w.last.Store(&s)
	return o, a, err
}

func (h *hardware) health(j *journal.Journal, last *appendState) func() map[string]string {
	return func() map[string]string {
		m := map[string]string{"sensor": "no reading yet", "scanner": "ok", "journal": "ok"}
		if s := h.therm.last.Load(); s != nil {
			m["sensor"] = *s
		}
		// The gate's judgement over time (not responding, stuck, drift) wins
		// over the last read's error: it is what stops admissions.
		if f := h.flow.Load(); f != nil {
			if st := f.SensorStatus(); st.State != gate.SensorOK {
				m["sensor"] = st.String()
			}
		}
		if h.conn != nil && !h.conn() {
			m["scanner"] = "disconnected: reconnecting"
		}
		if h.panel != nil {
			m["display"] = h.panel.Health()
		}
		failed := last.get()
		switch _, err := j.Backlog(); {
		case err != nil:
			m["journal"] = err.Error()
		case errors.Is(failed, journal.ErrFull):
			m["journal"] = "存储已满 journal full: " + failed.Error()
		case failed != nil:
			m["journal"] = failed.Error()
		}
		return m
	}
}

func (d *daemon) devices() (*hardware, error) {
	if d.simulate {
		return simHardware(d)
	}
	return realHardware(d)
}

func simHardware(d *daemon) (*hardware, error) {
	box, err := simbox.New(&simbox.Opts{Sensor: d.cfg.Devices.Sensor, Quiet: true, Display: d.cfg.Devices.Display, Logger: d.log})
	if err != nil {
		return nil, err
	}
	h := &hardware{sim: box, therm: &watchedTherm{Thermometer: box.Thermometer, failed: d.metrics.sensorFailed}, closers: []func() error{box.Close}, conn: box.Scanner.Connected}
	h.panel = d.panel(box.Bus)
	h.devices = gate.Devices{Thermometer: h.therm, SensorName: box.SensorName, Scanner: box.Scanner, Gate: box.Relay, Lights: box.Lights}
	return h, nil
}

func realHardware(d *daemon) (_ *hardware, err error) {
	dc := d.cfg.Devices
	h := &hardware{}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	bus, err := board.OpenBus(dc.Bus)
	if err != nil {
		return nil, err
	}
	h.closers = append(h.closers, bus.Close)
	var therm gate.Thermometer
	switch dc.Sensor {
	case "mlx90614":
		o := mlx90614.DefaultOpts
		if dc.Addr != 0 {
			o.Addr = dc.Addr
		}
		o.Logger = d.log
		dev, err := mlx90614.New(bus, &o)
		if err != nil {
			return nil, board.Explain(err)
		}
		therm = dev
	case "mlx90632":
		o := mlx90632.DefaultOpts
		if dc.Addr != 0 {
			o.Addr = dc.Addr
		}
		o.Emissivity = dc.Emissivity
		o.Logger = d.log
		dev, err := mlx90632.New(bus, &o)
		if err != nil {
			return nil, board.Explain(err)
		}
		h.closers = append(h.closers, dev.Halt)
		therm = dev
	}
	h.therm = &watchedTherm{Thermometer: therm, failed: d.metrics.sensorFailed}
	// The display shares the sensor's bus: see panel for why that is safe.
	h.panel = d.panel(bus)

	var sc gate.Scanner
	switch {
	case dc.ScannerHID != "":
		o := scanner.DefaultHIDOpts
		o.Logger = d.log
		dev, err := scanner.OpenHID(dc.ScannerHID, &o)
		if err != nil {
			return nil, board.Explain(err)
		}
		h.closers = append(h.closers, dev.Close)
		sc = dev
	case dc.ScannerPort != "":
		o := scanner.DefaultOpts
		o.Baud = dc.ScannerBaud
		if dc.ScannerPrefix != "" {
			o.Prefix, _ = scanner.ParsePrefix(dc.ScannerPrefix) // checked with the config
		}
		if dc.ScannerSuffix != "" {
			o.Suffix, _ = scanner.ParseSuffix(dc.ScannerSuffix)
		}
		o.Logger = d.log
		dev, err := scanner.Open(dc.ScannerPort, &o)
		if err != nil {
			return nil, board.Explain(err)
		}
		h.closers = append(h.closers, dev.Close)
		h.conn = dev.Connected
		sc = dev
	default:
		return nil, errConfig{errors.New("devices: scanner_port or scanner_hid is required")}
	}

	var pins indicator.Pins
	for _, o := range []struct {
		name string
		out  *indicator.Output
	}{{dc.GreenPin, &pins.Green}, {dc.RedPin, &pins.Red}, {dc.BuzzerPin, &pins.Buzzer}} {
		if o.name == "" {
			continue
		}
		p, err := board.Pin(o.name)
		if err != nil {
			return nil, err
		}
		*o.out = indicator.Output{Pin: p}
	}
	lights, err := indicator.New(pins, &indicator.Opts{Quiet: dc.Quiet, Logger: d.log})
	if err != nil {
		return nil, err
	}
	h.closers = append(h.closers, lights.Halt)

	if d.cfg.Checkpoint() { // the midday check: a desk, nothing to open
		h.devices = gate.Devices{Thermometer: h.therm, SensorName: dc.Sensor, Scanner: sc, Gate: noGate{}, Lights: lights}
		return h, nil
	}
	rp, err := board.Pin(dc.RelayPin)
	if err != nil {
		return nil, err
	}
	ro := relay.DefaultOpts
	ro.ActiveLow, ro.Pulse, ro.Logger = dc.RelayLow, dc.Pulse.Duration, d.log
	if ro.Pulse > ro.MaxPulse {
		ro.MaxPulse = ro.Pulse
	}
	rel, err := relay.New(rp, &ro)
	if err != nil {
		return nil, board.Explain(err)
	}
	h.closers = append(h.closers, rel.Halt)
	h.devices = gate.Devices{Thermometer: h.therm, SensorName: dc.Sensor, Scanner: sc, Gate: rel, Lights: lights}
	return h, nil
}

// panel is the small display the config names, on bus; nil for none. It is
// opened when the first screen is shown, not here: a display that does not
// answer must not keep the gate from starting.
func (d *daemon) panel(bus i2c.Bus) *panel {
	c := d.cfg.Devices.Display
	if c == nil {
		return nil
	}
	cfg := *c
	d.metrics.watchDisplay()
	return newPanel(func() (display.Display, error) { return display.Open(bus, cfg) }, cfg, clockwork.NewRealClock(), d.log,
		func() { d.metrics.deviceError("display") })
}

// noGate is a checkpoint's turnstile: there is none, and the flow never asks
// it to open.
type noGate struct{}

func (noGate) Open(time.Duration) error { return errors.New("a checkpoint has no gate") }
func (noGate) Hold() error              { return errors.New("a checkpoint has no gate") }
func (noGate) Release() error           { return nil }

// simPresenter sends one simulated person through the gate for POST /api/sim/present.
type simPresenter struct {
	mu   sync.Mutex
	box  *simbox.Box
	flow *gate.Flow
	cal  gate.Calibration
}

// Present waits for the gate to be ready, shows the forehead, types the code
// into the emulated scanner and returns the decision (or the referral to the
// guard). A temperature of 0 means the person never comes to the sensor. An
// empty code is a walk-in visitor: only the forehead.
func (p *simPresenter) Present(ctx context.Context, code string, tempC float64) (gate.Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	events, stop := p.flow.Subscribe()
	defer stop()
	defer p.box.Leave()
	wait := func(ok func(gate.Event) bool) (gate.Event, error) {
		for {
			select {
			case <-ctx.Done():
				return gate.Event{}, fmt.Errorf("simulated person: %w", ctx.Err())
			case ev := <-events:
				if ok(ev) {
					return ev, nil
				}
			}
		}
	}
	if code == "" {
		// A walk-in visitor the guard has just registered: no code to scan,
		// only a forehead at the sensor.
		if tempC <= 0 {
			return gate.Event{}, errors.New("simulated walk-in: a temperature is needed")
		}
		p.box.SetForehead(p.cal.Surface(gate.FromCelsius(tempC)))
		return wait(func(ev gate.Event) bool {
			return ev.Decision != "" || ev.State == gate.StateReferred || ev.State == gate.StateFault
		})
	}
	if _, err := wait(func(ev gate.Event) bool { return ev.State == gate.StateReady || ev.State == gate.StateEmergency }); err != nil {
		return gate.Event{}, err
	}
	if tempC > 0 {
		p.box.SetForehead(p.cal.Surface(gate.FromCelsius(tempC)))
	} else {
		p.box.Leave()
	}
	if err := p.box.Scan(code); err != nil {
		return gate.Event{}, fmt.Errorf("emulated scanner: %w", err)
	}
	return wait(func(ev gate.Event) bool {
		return ev.Decision != "" || ev.State == gate.StateReferred || ev.State == gate.StateFault
	})
}
