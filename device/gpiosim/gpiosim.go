// Package gpiosim provides GPIO pins for tests and for the simulated gate: each pin
// implements gpio.PinIO and records the history of the levels it was driven to,
// so a test can check not only where a relay or light ended up but the whole
// sequence (and its timing) that got it there.
//
// Unlike periph's gpiotest.Pin it keeps a history, can be told to fail, and can
// mirror every change to an io.Writer, which lets a test watch a pin that lives
// in another process (see cmd/gatectl's relay release test).
package gpiosim

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// ErrInjected is returned by Out while a fault is injected with Fail.
var ErrInjected = errors.New("gpiosim: injected fault")

// Change is one recorded output transition.
type Change struct {
	At    time.Time
	Level gpio.Level
}

// Pin is a simulated GPIO pin. The zero value is not usable: use New.
type Pin struct {
	name  string
	num   int
	clock clockwork.Clock

	mu      sync.Mutex
	level   gpio.Level
	out     bool
	pull    gpio.Pull
	history []Change
	fail    error
	mirror  io.Writer
	changed chan struct{} // closed and replaced on every change, for Wait
}

// New returns a pin named name (e.g. "GPIO17"). A nil clock means the real clock.
func New(name string, num int, clock clockwork.Clock) *Pin {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &Pin{name: name, num: num, clock: clock, changed: make(chan struct{})}
}

// Mirror writes a line "<unix-nanos> <name> <High|Low>" to w on every Out call.
func (p *Pin) Mirror(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mirror = w
}

// Fail makes every following Out return err (wrapped with ErrInjected); nil heals the pin.
func (p *Pin) Fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = err
}

// History returns a copy of every level the pin was driven to, oldest first.
func (p *Pin) History() []Change {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Change(nil), p.history...)
}

// Levels returns just the levels of History, which is what most assertions need.
func (p *Pin) Levels() []gpio.Level {
	h := p.History()
	l := make([]gpio.Level, len(h))
	for i, c := range h {
		l[i] = c.Level
	}
	return l
}

// IsOutput reports whether the pin was set up as an output.
func (p *Pin) IsOutput() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out
}

// Changed returns a channel that is closed at the next change of the pin.
func (p *Pin) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Set drives the pin from outside, as a button or a sensor would for an input.
func (p *Pin) Set(l gpio.Level) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.level = l
	p.notifyLocked()
}

func (p *Pin) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// String implements conn.Resource.
func (p *Pin) String() string { return fmt.Sprintf("%s(%d)", p.name, p.num) }

// Halt implements conn.Resource; a simulated pin has nothing running.
func (p *Pin) Halt() error { return nil }

// Name implements pin.Pin.
func (p *Pin) Name() string { return p.name }

// Number implements pin.Pin.
func (p *Pin) Number() int { return p.num }

// Function implements pin.Pin.
func (p *Pin) Function() string { return string(p.Func()) }

// Func implements pin.PinFunc.
func (p *Pin) Func() pin.Func {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.out {
		return gpio.IN
	}
	if p.level {
		return gpio.OUT_HIGH
	}
	return gpio.OUT_LOW
}

// SupportedFuncs implements pin.PinFunc.
func (p *Pin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT} }

// SetFunc implements pin.PinFunc.
func (p *Pin) SetFunc(f pin.Func) error {
	switch f {
	case gpio.IN:
		return p.In(gpio.PullNoChange, gpio.NoEdge)
	case gpio.OUT_HIGH:
		return p.Out(gpio.High)
	case gpio.OUT, gpio.OUT_LOW:
		return p.Out(gpio.Low)
	}
	return fmt.Errorf("gpiosim: %s: unsupported function %q", p.name, f)
}

// In implements gpio.PinIn.
func (p *Pin) In(pull gpio.Pull, _ gpio.Edge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = false
	if pull != gpio.PullNoChange {
		p.pull = pull
	}
	return nil
}

// Read implements gpio.PinIn.
func (p *Pin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

// WaitForEdge implements gpio.PinIn: it returns at the next change or after timeout (-1 = forever).
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	ch := p.Changed()
	if timeout < 0 {
		<-ch
		return true
	}
	select {
	case <-ch:
		return true
	case <-p.clock.After(timeout):
		return false
	}
}

// Pull implements gpio.PinIn.
func (p *Pin) Pull() gpio.Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pull
}

// DefaultPull implements gpio.PinIn.
func (p *Pin) DefaultPull() gpio.Pull { return gpio.Float }

// Out implements gpio.PinOut and records the change.
func (p *Pin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return fmt.Errorf("gpiosim: %s: out %s: %w: %w", p.name, l, ErrInjected, p.fail)
	}
	now := p.clock.Now()
	p.out = true
	p.level = l
	p.history = append(p.history, Change{At: now, Level: l})
	if p.mirror != nil {
		// A mirror is a test's window into another process; a failed write there must
		// not turn into a failed relay, so the error is deliberately dropped.
		_, _ = fmt.Fprintf(p.mirror, "%d %s %s\n", now.UnixNano(), p.name, l)
	}
	p.notifyLocked()
	return nil
}

// PWM implements gpio.PinOut; simulated pins have no PWM.
func (p *Pin) PWM(gpio.Duty, physic.Frequency) error {
	return fmt.Errorf("gpiosim: %s: PWM not supported", p.name)
}

var _ gpio.PinIO = (*Pin)(nil)
