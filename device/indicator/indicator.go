// Package indicator drives the gate's green and red lights and its buzzer over
// GPIO, showing one Signal at a time: ready, pass, stop, measure again, or a fault
// that needs the guard.
//
// Each Signal has a Look: a Pattern per output. A pattern is a steady level or a
// sequence of on/off durations, played once or looped. Showing a new Signal
// cancels the previous one at once, so a person never hears the end of the
// previous person's beeps over their own result.
//
// # Caveats
//
// Patterns are timed by Go timers, not hardware PWM: a loaded Pi may stretch a
// 100 ms beep by a few milliseconds, which nobody hears. A passive piezo needs a
// tone and is not supported: use an active buzzer (it beeps on DC).
package indicator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// Signal is what the lights and buzzer say to the person at the gate.
type Signal int

// The signals, in the order a person usually meets them.
const (
	Idle  Signal = iota // nobody at the gate
	Ready               // scan your code / hold your forehead to the sensor
	Pass                // admitted
	Stop                // denied
	Retry               // measure again
	Fault               // the box needs the guard (sensor missing, disk full...)
	numSignals
)

var signalNames = [numSignals]string{"idle", "ready", "pass", "stop", "retry", "fault"}

func (s Signal) String() string {
	if s < 0 || s >= numSignals {
		return fmt.Sprintf("signal(%d)", int(s))
	}
	return signalNames[s]
}

// Pattern is how one output behaves while a Signal is shown.
type Pattern struct {
	// On is the steady level when Steps is empty.
	On bool
	// Steps alternate on, off, on, ... durations. The output is off after the last
	// step unless Loop starts the steps again.
	Steps []time.Duration
	Loop  bool
}

// Look is the pattern of every output for one Signal.
type Look struct{ Green, Red, Buzzer Pattern }

func ms(d ...int) []time.Duration {
	s := make([]time.Duration, len(d))
	for i, v := range d {
		s[i] = time.Duration(v) * time.Millisecond
	}
	return s
}

// DefaultLooks are distinct enough to tell apart without looking: one short beep
// for pass, three long for stop, two short for measure again.
var DefaultLooks = map[Signal]Look{
	Idle:  {},
	Ready: {Green: Pattern{Steps: ms(500, 1500), Loop: true}},
	Pass:  {Green: Pattern{On: true}, Buzzer: Pattern{Steps: ms(120)}},
	Stop:  {Red: Pattern{On: true}, Buzzer: Pattern{Steps: ms(400, 200, 400, 200, 400)}},
	Retry: {Red: Pattern{Steps: ms(250, 250), Loop: true}, Buzzer: Pattern{Steps: ms(100, 100, 100)}},
	Fault: {Red: Pattern{Steps: ms(100, 100), Loop: true}, Buzzer: Pattern{Steps: ms(1000)}},
}

// Output is one indicator pin; a nil Pin means the box has no such output.
type Output struct {
	Pin       gpio.PinOut
	ActiveLow bool
}

// Pins are the indicator outputs of a gate box.
type Pins struct{ Green, Red, Buzzer Output }

// Opts configures the indicators.
type Opts struct {
	Looks  map[Signal]Look // nil = DefaultLooks; a Signal missing here shows as Idle
	Quiet  bool            // buzzer off (a school at night, a midday check desk)
	Clock  clockwork.Clock // nil = real clock
	Logger *slog.Logger    // nil = slog.Default()
}

// DefaultOpts uses DefaultLooks with the buzzer on.
var DefaultOpts = Opts{}

// Dev shows Signals on the outputs. It is safe for concurrent use.
type Dev struct {
	outs  [3]Output // green, red, buzzer
	looks map[Signal]Look
	opts  Opts
	log   *slog.Logger

	mu     sync.Mutex
	cur    Signal
	cancel context.CancelFunc
	wg     sync.WaitGroup
	halted bool
}

func (o *Opts) validate() error {
	for s, l := range o.Looks {
		if s < 0 || s >= numSignals {
			return fmt.Errorf("indicator: look for unknown %v", s)
		}
		for _, p := range []Pattern{l.Green, l.Red, l.Buzzer} {
			total := time.Duration(0)
			for _, d := range p.Steps {
				if d <= 0 {
					return fmt.Errorf("indicator: %v: step %v must be positive", s, d)
				}
				total += d
			}
			if p.Loop && total < 10*time.Millisecond {
				return fmt.Errorf("indicator: %v: a looped pattern of %v would spin", s, total)
			}
		}
	}
	return nil
}

// New switches every output off and returns the indicators showing Idle.
func New(pins Pins, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Looks == nil {
		o.Looks = DefaultLooks
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Dev{outs: [3]Output{pins.Green, pins.Red, pins.Buzzer}, looks: o.Looks, opts: o, log: o.Logger}
	if err := d.allOff(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Dev) set(i int, on bool) error {
	o := d.outs[i]
	if o.Pin == nil {
		return nil
	}
	if err := o.Pin.Out(gpio.Level(on != o.ActiveLow)); err != nil {
		return fmt.Errorf("indicator: %s: %w", o.Pin, err)
	}
	return nil
}

func (d *Dev) allOff() error {
	var errs []error
	for i := range d.outs {
		errs = append(errs, d.set(i, false))
	}
	return errors.Join(errs...)
}

// Show switches to s, cancelling whatever was shown before. Steady levels are
// set before Show returns; timed patterns run in the background.
func (d *Dev) Show(s Signal) error {
	if s < 0 || s >= numSignals {
		return fmt.Errorf("indicator: unknown %v", s)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted {
		return errors.New("indicator: halted")
	}
	d.stopLocked()
	d.cur = s
	look := d.looks[s]
	pats := [3]Pattern{look.Green, look.Red, look.Buzzer}
	if d.opts.Quiet {
		pats[2] = Pattern{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	var errs []error
	for i, p := range pats {
		if len(p.Steps) == 0 {
			errs = append(errs, d.set(i, p.On))
			continue
		}
		d.wg.Add(1)
		go d.play(ctx, i, p)
	}
	return errors.Join(errs...)
}

func (d *Dev) stopLocked() {
	if d.cancel != nil {
		d.cancel()
		d.cancel = nil
	}
	// Players never take d.mu, so waiting under it cannot deadlock, and it makes
	// sure the old pattern writes nothing after the new one has started.
	d.wg.Wait()
}

func (d *Dev) play(ctx context.Context, i int, p Pattern) {
	defer d.wg.Done()
	for {
		for k, dur := range p.Steps {
			if err := d.set(i, k%2 == 0); err != nil {
				d.log.Warn("indicator output failed", "err", err)
			}
			t := d.opts.Clock.NewTimer(dur)
			select {
			case <-ctx.Done():
				t.Stop()
				_ = d.set(i, false) // best effort: the next Show or Halt sets it again
				return
			case <-t.Chan():
			}
		}
		if !p.Loop {
			if err := d.set(i, false); err != nil {
				d.log.Warn("indicator output failed", "err", err)
			}
			return
		}
	}
}

// Current returns the Signal shown now.
func (d *Dev) Current() Signal {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

// String implements conn.Resource.
func (d *Dev) String() string {
	name := func(o Output) string {
		if o.Pin == nil {
			return "-"
		}
		return o.Pin.String()
	}
	return fmt.Sprintf("indicator{green=%s red=%s buzzer=%s}", name(d.outs[0]), name(d.outs[1]), name(d.outs[2]))
}

// Halt stops every pattern and switches all outputs off; it implements
// conn.Resource. Show fails after Halt.
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
	d.halted = true
	d.cur = Idle
	return d.allOff()
}
