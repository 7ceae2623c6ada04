package gpiosim

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

func TestHistoryAndMirror(t *testing.T) {
	clk := clockwork.NewFakeClock()
	p := New("GPIO22", 22, clk)
	var buf bytes.Buffer
	p.Mirror(&buf)
	for _, l := range []gpio.Level{gpio.High, gpio.Low, gpio.High} {
		if err := p.Out(l); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	if got, want := p.Levels(), []gpio.Level{gpio.High, gpio.Low, gpio.High}; !reflect.DeepEqual(got, want) {
		t.Fatalf("levels %v, want %v", got, want)
	}
	h := p.History()
	if h[1].At.Sub(h[0].At) != time.Second {
		t.Errorf("history times %v", h)
	}
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 3 || !strings.HasSuffix(lines[2], " GPIO22 High") {
		t.Errorf("mirror = %q", buf.String())
	}
	if !p.IsOutput() || p.Func() != gpio.OUT_HIGH {
		t.Errorf("func = %v", p.Func())
	}
}

func TestFailAndInput(t *testing.T) {
	p := New("GPIO5", 5, nil)
	cause := errors.New("gone")
	p.Fail(cause)
	if err := p.Out(gpio.High); !errors.Is(err, ErrInjected) || !errors.Is(err, cause) {
		t.Fatalf("Out = %v", err)
	}
	if len(p.History()) != 0 {
		t.Fatal("a failed Out was recorded")
	}
	p.Fail(nil)
	if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(10 * time.Millisecond); p.Set(gpio.High) }()
	if !p.WaitForEdge(5 * time.Second) {
		t.Fatal("no edge seen")
	}
	if p.Read() != gpio.High || p.Pull() != gpio.PullUp {
		t.Errorf("read %v pull %v", p.Read(), p.Pull())
	}
	if p.WaitForEdge(time.Millisecond) {
		t.Error("edge without a change")
	}
}
