package indicator_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"campusgate/device/gpiosim"
	"campusgate/device/indicator"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

const (
	L = gpio.Low
	H = gpio.High
)

type rig struct {
	dev                *indicator.Dev
	green, red, buzzer *gpiosim.Pin
	clk                *clockwork.FakeClock
}

func newRig(t *testing.T, o indicator.Opts) *rig {
	t.Helper()
	clk := clockwork.NewFakeClock()
	r := &rig{
		green:  gpiosim.New("GPIO5", 5, clk),
		red:    gpiosim.New("GPIO6", 6, clk),
		buzzer: gpiosim.New("GPIO13", 13, clk),
		clk:    clk,
	}
	o.Clock = clk
	d, err := indicator.New(indicator.Pins{
		Green:  indicator.Output{Pin: r.green},
		Red:    indicator.Output{Pin: r.red, ActiveLow: true},
		Buzzer: indicator.Output{Pin: r.buzzer},
	}, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Halt() })
	r.dev = d
	return r
}

// step waits until n pattern timers are armed, then moves time on by d.
func (r *rig) step(t *testing.T, n int, d time.Duration) {
	t.Helper()
	r.armed(t, n)
	r.clk.Advance(d)
}

// armed waits until n pattern timers are armed.
func (r *rig) armed(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.clk.BlockUntilContext(ctx, n); err != nil {
		t.Fatalf("waiting for %d timers: %v", n, err)
	}
}

func eventually(t *testing.T, p *gpiosim.Pin, want []gpio.Level) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !reflect.DeepEqual(p.Levels(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s levels = %v, want %v", p, p.Levels(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStartsOff(t *testing.T) {
	r := newRig(t, indicator.Opts{})
	eventually(t, r.green, []gpio.Level{L})
	eventually(t, r.red, []gpio.Level{H}) // active-low: off is High
	eventually(t, r.buzzer, []gpio.Level{L})
}

func TestPassBeepsOnce(t *testing.T) {
	r := newRig(t, indicator.Opts{})
	if err := r.dev.Show(indicator.Pass); err != nil {
		t.Fatal(err)
	}
	eventually(t, r.green, []gpio.Level{L, H})
	eventually(t, r.red, []gpio.Level{H, H})
	r.step(t, 1, 120*time.Millisecond)
	eventually(t, r.buzzer, []gpio.Level{L, H, L})
	h := r.buzzer.History()
	if got := h[2].At.Sub(h[1].At); got != 120*time.Millisecond {
		t.Errorf("beep lasted %v", got)
	}
}

func TestStopBeepsThreeTimes(t *testing.T) {
	r := newRig(t, indicator.Opts{})
	if err := r.dev.Show(indicator.Stop); err != nil {
		t.Fatal(err)
	}
	for _, d := range []int{400, 200, 400, 200, 400} {
		r.step(t, 1, time.Duration(d)*time.Millisecond)
	}
	eventually(t, r.buzzer, []gpio.Level{L, H, L, H, L, H, L})
	eventually(t, r.red, []gpio.Level{H, L}) // on, active-low
}

func TestNewSignalCancelsPattern(t *testing.T) {
	r := newRig(t, indicator.Opts{})
	if err := r.dev.Show(indicator.Stop); err != nil {
		t.Fatal(err)
	}
	r.step(t, 1, 400*time.Millisecond) // first long beep over
	// The player has taken that in: the buzzer off, the pause's timer armed.
	// A Show racing the timer (as under qemu) cuts the pattern just before
	// or just after it, both right, but one writes "off" once fewer.
	eventually(t, r.buzzer, []gpio.Level{L, H, L})
	r.armed(t, 1)
	if err := r.dev.Show(indicator.Pass); err != nil {
		t.Fatal(err)
	}
	// The stop pattern is cut off: off, then the pass beep.
	r.step(t, 1, 120*time.Millisecond)
	eventually(t, r.buzzer, []gpio.Level{L, H, L, L, H, L})
	if r.dev.Current() != indicator.Pass {
		t.Errorf("current = %v", r.dev.Current())
	}
}

func TestLoopAndHalt(t *testing.T) {
	r := newRig(t, indicator.Opts{})
	if err := r.dev.Show(indicator.Ready); err != nil {
		t.Fatal(err)
	}
	for range 3 { // three blink cycles
		r.step(t, 1, 500*time.Millisecond)
		r.step(t, 1, 1500*time.Millisecond)
	}
	r.step(t, 1, 0) // the fourth "on" has been written
	eventually(t, r.green, []gpio.Level{L, H, L, H, L, H, L, H})
	if err := r.dev.Halt(); err != nil {
		t.Fatal(err)
	}
	g := r.green.Levels()
	if g[len(g)-1] != L {
		t.Fatalf("green on after Halt: %v", g)
	}
	n := len(g)
	r.clk.Advance(time.Hour)
	time.Sleep(10 * time.Millisecond)
	if len(r.green.Levels()) != n {
		t.Fatal("pattern still running after Halt")
	}
	if err := r.dev.Show(indicator.Pass); err == nil {
		t.Fatal("Show after Halt succeeded")
	}
}

func TestQuiet(t *testing.T) {
	r := newRig(t, indicator.Opts{Quiet: true})
	if err := r.dev.Show(indicator.Stop); err != nil {
		t.Fatal(err)
	}
	eventually(t, r.buzzer, []gpio.Level{L, L})
}

func TestMissingOutputsAndBadLooks(t *testing.T) {
	d, err := indicator.New(indicator.Pins{}, nil) // a box with no lights at all
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Show(indicator.Stop); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := d.Show(indicator.Signal(42)); err == nil {
		t.Error("unknown signal accepted")
	}
	bad := map[indicator.Signal]indicator.Look{indicator.Pass: {Buzzer: indicator.Pattern{Steps: []time.Duration{time.Millisecond}, Loop: true}}}
	if _, err := indicator.New(indicator.Pins{}, &indicator.Opts{Looks: bad}); err == nil {
		t.Error("a 1 ms looped pattern was accepted")
	}
	neg := map[indicator.Signal]indicator.Look{indicator.Pass: {Buzzer: indicator.Pattern{Steps: []time.Duration{-time.Second}}}}
	if _, err := indicator.New(indicator.Pins{}, &indicator.Opts{Looks: neg}); err == nil {
		t.Error("a negative step was accepted")
	}
}

func TestPinFault(t *testing.T) {
	r := newRig(t, indicator.Opts{})
	cause := errors.New("gpio gone")
	r.green.Fail(cause)
	if err := r.dev.Show(indicator.Pass); !errors.Is(err, cause) {
		t.Fatalf("Show with a failing pin = %v", err)
	}
	if got := indicator.Retry.String(); got != "retry" {
		t.Errorf("String = %q", got)
	}
}
