package charlcd

import (
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

const addr = 0x27

// initOps is the datasheet's 4-bit initialisation as the backpack's bytes,
// written out by hand: high nibble in P4..P7, 0x08 the backlight, 0x04 EN
// (each nibble once high, then low), RS (0x01) low for instructions.
var initOps = []i2ctest.IO{
	{Addr: addr, W: []byte{0x08}},                   // everything low but the backlight
	{Addr: addr, W: []byte{0x3C, 0x38}},             // 8-bit mode, once,
	{Addr: addr, W: []byte{0x3C, 0x38}},             // twice,
	{Addr: addr, W: []byte{0x3C, 0x38}},             // three times
	{Addr: addr, W: []byte{0x2C, 0x28}},             // 4-bit mode
	{Addr: addr, W: []byte{0x2C, 0x28, 0x8C, 0x88}}, // 0x28 function set: 2 lines, 5×8
	{Addr: addr, W: []byte{0x0C, 0x08, 0x8C, 0x88}}, // 0x08 display off
	{Addr: addr, W: []byte{0x0C, 0x08, 0x1C, 0x18}}, // 0x01 clear
	{Addr: addr, W: []byte{0x0C, 0x08, 0x6C, 0x68}}, // 0x06 entry mode
	{Addr: addr, W: []byte{0x0C, 0x08, 0xCC, 0xC8}}, // 0x0C display on
}

// chars is text as character writes: RS high (0x01), backlight bl.
func chars(text string, bl byte) []byte {
	var b []byte
	for _, c := range []byte(text) {
		hi, lo := c&0xF0|bl|0x01, c<<4|bl|0x01
		b = append(b, hi|0x04, hi, lo|0x04, lo)
	}
	return b
}

func open(t *testing.T, ops ...i2ctest.IO) (*Dev, *i2ctest.Playback, *[]time.Duration) {
	t.Helper()
	bus := &i2ctest.Playback{Ops: append(append([]i2ctest.IO{}, initOps...), ops...), DontPanic: true}
	var slept []time.Duration
	d := &Dev{c: i2c.Dev{Bus: bus, Addr: addr}, backlight: bitBacklight, sleep: func(d time.Duration) { slept = append(slept, d) }}
	if err := d.init(); err != nil {
		t.Fatal(err)
	}
	return d, bus, &slept
}

// TestInit: the nibble dance, byte for byte, with the datasheet's waits
// (more than 4.1 ms after the first nibble, 100 µs after the next, 1.52 ms
// after clear).
func TestInit(t *testing.T) {
	_, bus, slept := open(t)
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	if s := *slept; len(s) != 5 || s[0] < 4100*time.Microsecond || s[1] < 100*time.Microsecond || s[4] < 1520*time.Microsecond {
		t.Errorf("waits %v", s)
	}
}

// TestPrint: a row is one write: set DDRAM address (0x80 row 0, 0xC0 row 1),
// then the text padded to 16 with spaces; the backlight bit stays set.
func TestPrint(t *testing.T) {
	d, bus, _ := open(t,
		i2ctest.IO{Addr: addr, W: append([]byte{0x8C, 0x88, 0x0C, 0x08}, chars("PASS 36.6C      ", 0x08)...)},
		i2ctest.IO{Addr: addr, W: append([]byte{0xCC, 0xC8, 0x0C, 0x08}, chars("fever: see the g", 0x08)...)},
		i2ctest.IO{Addr: addr, W: []byte{0x04, 0x00, 0x84, 0x80}},                                                                                 // halt: display off, backlight off
		i2ctest.IO{Addr: addr, W: append([]byte{0x0C, 0x08, 0xCC, 0xC8, 0x8C, 0x88, 0x0C, 0x08}, chars("?? ?"+strings.Repeat(" ", 12), 0x08)...)}, // on again
		i2ctest.IO{Addr: addr, W: []byte{0x00}},
	)
	if err := d.Print(0, "PASS 36.6C"); err != nil {
		t.Fatal(err)
	}
	if err := d.Print(1, "fever: see the guard"); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := d.Print(0, "通过 \\"); err != nil {
		t.Fatal(err)
	}
	if err := d.Backlight(false); err != nil {
		t.Fatal(err)
	}
	if err := d.Print(2, "x"); err == nil {
		t.Error("row 2 of a 2-row LCD")
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBusError: a failing bus is an error naming the row, with the cause.
func TestBusError(t *testing.T) {
	d, _, _ := open(t) // the playback has nothing more: the next Tx fails
	err := d.Print(1, "x")
	if err == nil || !strings.HasPrefix(err.Error(), "charlcd: row 1: ") {
		t.Fatalf("%v", err)
	}
	if _, err := New(&i2ctest.Playback{DontPanic: true}, addr); err == nil {
		t.Fatal("New on a dead bus")
	}
}
