// Package relay drives the turnstile or door-strike relay of a gate over one GPIO
// output.
//
// A gate opens by energising the relay for a short pulse (a turnstile's "free one
// passage" input or a door strike), or holds it energised for an emergency. The
// relay is released on Halt; cmd/gated and cmd/gatectl call Halt on SIGINT/SIGTERM
// so the gate never stays open after the process ends.
//
// # Caveats
//
// A process killed with SIGKILL, or a power cut, cannot release anything in
// software: wire the relay board so that an undriven pin means "closed" (most
// opto-isolated boards have a pull-up on an active-low input; check yours), and
// let the service manager release it again (deploy/ runs `gatectl hw relay
// -release` after gated stops).
package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// Opts configures a relay. The zero value is not valid; start from DefaultOpts.
type Opts struct {
	// ActiveLow is set for boards that energise the relay when the pin is Low,
	// as most opto-isolated relay modules do.
	ActiveLow bool
	// Pulse is how long Open energises the relay when asked for 0.
	Pulse time.Duration
	// MaxPulse caps any pulse: a typo in a config must not leave a door open.
	MaxPulse time.Duration
	// ReleaseRetries is how many times a failed release is tried again before the
	// relay is reported stuck.
	ReleaseRetries int
	Clock          clockwork.Clock // nil = real clock
	Logger         *slog.Logger    // nil = slog.Default()
}

// DefaultOpts is a 500 ms pulse on an active-high input, the common turnstile
// "single passage" contact.
var DefaultOpts = Opts{
	Pulse:          500 * time.Millisecond,
	MaxPulse:       10 * time.Second,
	ReleaseRetries: 3,
}

// ErrStuck is returned (wrapped) when the relay could not be released.
var ErrStuck = errors.New("relay: could not release")

// Dev is a relay on one output pin. It is safe for concurrent use.
type Dev struct {
	pin  gpio.PinOut
	opts Opts
	log  *slog.Logger

	mu        sync.Mutex
	energised bool
	held      bool
	timer     clockwork.Timer
	until     time.Time
	gen       uint64 // bumped on every state change so a stale timer does nothing
	pulses    uint64
}

func (o *Opts) validate() error {
	switch {
	case o.Pulse <= 0:
		return fmt.Errorf("relay: pulse %v must be positive", o.Pulse)
	case o.MaxPulse < o.Pulse:
		return fmt.Errorf("relay: max pulse %v is shorter than the pulse %v", o.MaxPulse, o.Pulse)
	case o.ReleaseRetries < 0:
		return fmt.Errorf("relay: release retries %d must not be negative", o.ReleaseRetries)
	}
	return nil
}

// New takes the pin and drives it to the released level at once, so a gate that
// starts up never starts open.
func New(p gpio.PinOut, opts *Opts) (*Dev, error) {
	if p == nil {
		return nil, errors.New("relay: no pin")
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Dev{pin: p, opts: o, log: o.Logger.With("relay", p.Name())}
	if err := d.drive(false); err != nil {
		return nil, fmt.Errorf("relay: release %s at start: %w", p, err)
	}
	return d, nil
}

func (d *Dev) level(energised bool) gpio.Level {
	return gpio.Level(energised != d.opts.ActiveLow)
}

func (d *Dev) drive(energised bool) error {
	if err := d.pin.Out(d.level(energised)); err != nil {
		return err
	}
	d.energised = energised
	return nil
}

// Open energises the relay for dur (0 = Opts.Pulse) and returns at once; the
// relay is released by a timer. A second Open while open extends the pulse if it
// ends later; Open while held changes nothing.
func (d *Dev) Open(dur time.Duration) error {
	if dur == 0 {
		dur = d.opts.Pulse
	}
	if dur < 0 || dur > d.opts.MaxPulse {
		return fmt.Errorf("relay: %s: pulse %v outside 0..%v", d.pin, dur, d.opts.MaxPulse)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.held {
		return nil
	}
	if err := d.drive(true); err != nil {
		d.releaseLocked()
		return fmt.Errorf("relay: %s: energise: %w", d.pin, err)
	}
	d.pulses++
	end := d.opts.Clock.Now().Add(dur)
	if d.timer != nil && !end.After(d.until) {
		return nil
	}
	d.until = end
	d.armLocked(dur)
	return nil
}

func (d *Dev) armLocked(dur time.Duration) {
	if d.timer != nil {
		d.timer.Stop()
	}
	d.gen++
	gen := d.gen
	d.timer = d.opts.Clock.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if gen != d.gen {
			return
		}
		d.timer = nil
		if err := d.releaseLocked(); err != nil {
			d.log.Error("relay stuck energised after pulse", "err", err)
		}
	})
}

// Hold energises the relay until Release or Halt, for an emergency opening.
func (d *Dev) Hold() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopTimerLocked()
	if err := d.drive(true); err != nil {
		d.releaseLocked()
		return fmt.Errorf("relay: %s: hold: %w", d.pin, err)
	}
	d.held = true
	return nil
}

// Release de-energises the relay now, ending any pulse or hold.
func (d *Dev) Release() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.releaseLocked()
}

func (d *Dev) stopTimerLocked() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.gen++
}

func (d *Dev) releaseLocked() error {
	d.stopTimerLocked()
	d.held = false
	var err error
	for i := 0; i <= d.opts.ReleaseRetries; i++ {
		if err = d.drive(false); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w %s after %d tries: %w", ErrStuck, d.pin, d.opts.ReleaseRetries+1, err)
}

// Energised reports whether the relay is energised (the gate is open) now.
func (d *Dev) Energised() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.energised
}

// Pulses counts the Open calls that energised the relay, for telemetry.
func (d *Dev) Pulses() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pulses
}

// String implements conn.Resource.
func (d *Dev) String() string {
	pol := "active-high"
	if d.opts.ActiveLow {
		pol = "active-low"
	}
	return fmt.Sprintf("relay{%s, %s}", d.pin, pol)
}

// Halt releases the relay; it implements conn.Resource.
func (d *Dev) Halt() error { return d.Release() }
