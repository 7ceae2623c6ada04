package relay_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"campusgate/device/gpiosim"
	"campusgate/device/relay"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

func newRelay(t *testing.T, activeLow bool) (*relay.Dev, *gpiosim.Pin, *clockwork.FakeClock) {
	t.Helper()
	clk := clockwork.NewFakeClock()
	pin := gpiosim.New("GPIO17", 17, clk)
	o := relay.DefaultOpts
	o.ActiveLow = activeLow
	o.Clock = clk
	d, err := relay.New(pin, &o)
	if err != nil {
		t.Fatal(err)
	}
	return d, pin, clk
}

// advance moves the fake clock once the relay's timer is waiting on it.
func advance(t *testing.T, clk *clockwork.FakeClock, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := clk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("no timer armed: %v", err)
	}
	clk.Advance(d)
}

func waitLevels(t *testing.T, pin *gpiosim.Pin, want []gpio.Level) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !reflect.DeepEqual(pin.Levels(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("levels = %v, want %v", pin.Levels(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStartsReleased(t *testing.T) {
	for _, low := range []bool{false, true} {
		_, pin, _ := newRelay(t, low)
		want := gpio.Level(low) // released: Low when active-high, High when active-low
		if got := pin.Levels(); !reflect.DeepEqual(got, []gpio.Level{want}) {
			t.Errorf("activeLow=%v: levels at start = %v, want [%v]", low, got, want)
		}
	}
}

func TestPulse(t *testing.T) {
	for _, low := range []bool{false, true} {
		d, pin, clk := newRelay(t, low)
		on, off := gpio.Level(!low), gpio.Level(low)
		if err := d.Open(0); err != nil {
			t.Fatal(err)
		}
		if !d.Energised() {
			t.Fatal("not energised after Open")
		}
		advance(t, clk, relay.DefaultOpts.Pulse)
		waitLevels(t, pin, []gpio.Level{off, on, off})
		if d.Energised() {
			t.Error("still energised after the pulse")
		}
		h := pin.History()
		if got := h[2].At.Sub(h[1].At); got != relay.DefaultOpts.Pulse {
			t.Errorf("pulse length %v, want %v", got, relay.DefaultOpts.Pulse)
		}
		if d.Pulses() != 1 {
			t.Errorf("pulses = %d", d.Pulses())
		}
	}
}

func TestPulseExtends(t *testing.T) {
	d, pin, clk := newRelay(t, false)
	if err := d.Open(time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(600 * time.Millisecond)
	if err := d.Open(time.Second); err != nil { // ends at 1.6 s
		t.Fatal(err)
	}
	if err := d.Open(100 * time.Millisecond); err != nil { // shorter: must not cut the pulse
		t.Fatal(err)
	}
	clk.Advance(500 * time.Millisecond) // 1.1 s: still open
	if !d.Energised() {
		t.Fatal("released early: a later Open must extend the pulse")
	}
	advance(t, clk, 500*time.Millisecond)
	waitLevels(t, pin, []gpio.Level{gpio.Low, gpio.High, gpio.High, gpio.High, gpio.Low})
}

func TestHoldAndRelease(t *testing.T) {
	d, pin, clk := newRelay(t, false)
	if err := d.Open(0); err != nil {
		t.Fatal(err)
	}
	if err := d.Hold(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour) // the pulse timer must not end a hold
	if !d.Energised() {
		t.Fatal("hold ended by the pulse timer")
	}
	if err := d.Open(0); err != nil { // Open during a hold changes nothing
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if d.Energised() {
		t.Fatal("energised after Halt")
	}
	if l := pin.Levels(); l[len(l)-1] != gpio.Low {
		t.Fatalf("last level %v after Halt", l[len(l)-1])
	}
}

func TestBadOpts(t *testing.T) {
	pin := gpiosim.New("GPIO17", 17, nil)
	for name, o := range map[string]relay.Opts{
		"zero pulse":   {MaxPulse: time.Second},
		"max < pulse":  {Pulse: 2 * time.Second, MaxPulse: time.Second},
		"neg retries":  {Pulse: time.Second, MaxPulse: time.Second, ReleaseRetries: -1},
		"neg pulse":    {Pulse: -time.Second, MaxPulse: time.Second},
		"zero max cap": {Pulse: time.Second},
	} {
		if _, err := relay.New(pin, &o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
	if len(pin.History()) != 0 {
		t.Error("a rejected config touched the pin: opts must be validated before any I/O")
	}
	if _, err := relay.New(nil, nil); err == nil {
		t.Error("New accepted a nil pin")
	}
	d, _, _ := newRelay(t, false)
	if err := d.Open(time.Minute); err == nil {
		t.Error("Open accepted a pulse longer than MaxPulse")
	}
}

func TestPinFaults(t *testing.T) {
	cause := errors.New("line busy")
	pin := gpiosim.New("GPIO17", 17, nil)
	pin.Fail(cause)
	if _, err := relay.New(pin, nil); !errors.Is(err, cause) {
		t.Fatalf("New on a failing pin: %v, want it to wrap the cause", err)
	}

	d, pin, _ := newRelay(t, false)
	pin.Fail(cause)
	if err := d.Open(0); !errors.Is(err, cause) {
		t.Fatalf("Open on a failing pin: %v", err)
	}
	if err := d.Release(); !errors.Is(err, relay.ErrStuck) || !errors.Is(err, cause) {
		t.Fatalf("Release on a failing pin: %v, want ErrStuck wrapping the cause", err)
	}
	pin.Fail(nil)
	if err := d.Release(); err != nil {
		t.Fatalf("Release after the pin healed: %v", err)
	}
}

func TestString(t *testing.T) {
	d, _, _ := newRelay(t, true)
	if got, want := d.String(), "relay{GPIO17(17), active-low}"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
