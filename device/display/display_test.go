package display

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"campusgate/device/display/displaysim"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

func degC(c float64) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(c*1000)*physic.MilliKelvin
}

// TestLines: the two lines of text both displays show.
func TestLines(t *testing.T) {
	for _, c := range []struct {
		s             Screen
		first, second string
	}{
		{Screen{Kind: Ready}, "SCAN YOUR PASS", "Scan your pass"},
		{Screen{Kind: Measuring}, "MEASURING", "Hold still"},
		{Screen{Kind: Pass, Temp: degC(36.6)}, "PASS 36.6C", "Please go in"},
		{Screen{Kind: Stop, Temp: degC(38.2), Reason: " fever "}, "STOP 38.2C", "fever"},
		{Screen{Kind: Again, Temp: degC(37.9)}, "AGAIN 37.9C", "Measure again"},
		{Screen{Kind: Again}, "MEASURE AGAIN", "Measure again"},
		{Screen{Kind: Fault, Reason: "sensor error"}, "OUT OF ORDER", "sensor error"},
		{Screen{Kind: 99}, "OUT OF ORDER", "See the guard"}, // never blank
		{Screen{Kind: Measuring, Temp: degC(36.6)}, "MEASURING 36.6C", "Hold still"},
		{Screen{Kind: Wait, Reason: "No health status"}, "PLEASE WAIT", "No health status"},
		{Screen{Kind: Wait}, "PLEASE WAIT", "See the guard"},
	} {
		if f, s := c.s.lines(16); f != c.first || s != c.second {
			t.Errorf("%+v: %q %q, want %q %q", c.s, f, s, c.first, c.second)
		}
	}
	if f, _ := (Screen{Kind: Measuring, Temp: degC(36.6)}).lines(13); f != "MEASURING" {
		t.Errorf("too long for 13: %q", f)
	}
}

// TestCheck: what a profile may say, and the key named when it may not.
func TestCheck(t *testing.T) {
	for _, c := range []Config{{Chip: ChipSSD1306}, {Chip: ChipSSD1306, Addr: 0x3D, Height: 32}, {Chip: ChipHD44780, Addr: 0x3F}, {Chip: ChipSSD1306, BlankAfter: time.Minute}} {
		if err := c.Check(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for key, c := range map[string]Config{
		"chip":        {Chip: "st7735"},
		"height":      {Chip: ChipSSD1306, Height: 48},
		"addr":        {Chip: ChipHD44780, Addr: 0x80},
		"blank_after": {Chip: ChipHD44780, BlankAfter: time.Second},
	} {
		if err := c.Check(); err == nil || !strings.HasPrefix(err.Error(), key) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := (Config{Chip: ChipHD44780, Height: 64}).Check(); err == nil || !strings.HasPrefix(err.Error(), "height") {
		t.Errorf("an LCD with a height: %v", err)
	}
	if err := (Config{Chip: ChipSSD1306, BlankAfter: 48 * time.Hour}).Check(); err == nil || !strings.HasPrefix(err.Error(), "blank_after") {
		t.Errorf("blank after two days: %v", err)
	}
	if b := (Config{}).Blank(); b != DefaultBlankAfter {
		t.Errorf("default blank %v", b)
	}
	if _, err := Open(&i2ctest.Record{}, Config{Chip: "lcd"}); err == nil {
		t.Error("Open with an unknown chip")
	}
}

// TestLCD: a Show is two writes to the backpack, a row each, which the
// emulated LCD shows as "PASS 36.6C" over the reason, cut at 16; Close turns
// off the display and its backlight, and the next Show both back on.
func TestLCD(t *testing.T) {
	lcd := displaysim.NewLCD()
	bus := &i2ctest.Record{Bus: lcd}
	d, err := Open(bus, Config{Chip: ChipHD44780})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s             Screen
		first, second string
	}{
		{Screen{Kind: Pass, Temp: degC(36.6)}, "PASS 36.6C      ", "Please go in    "},
		{Screen{Kind: Stop, Temp: degC(38.2), Reason: "fever: see the nurse"}, "STOP 38.2C      ", "fever: see the n"},
	} {
		n := len(bus.Ops)
		if err := d.Show(c.s); err != nil {
			t.Fatal(err)
		}
		if ops := bus.Ops[n:]; len(ops) != 2 || ops[0].Addr != 0x27 || ops[1].Addr != 0x27 {
			t.Errorf("%v: %d writes (%+v), want a row each to 0x27", c.s.Kind, len(ops), ops)
		}
		if f, s := lcd.Row(0), lcd.Row(1); f != c.first || s != c.second || !lcd.Lit() {
			t.Errorf("%v: %q %q lit %v, want %q %q lit", c.s.Kind, f, s, lcd.Lit(), c.first, c.second)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if lcd.Lit() || lcd.Backlight() {
		t.Error("closed, still lit")
	}
	if err := d.Show(Screen{Kind: Ready}); err != nil {
		t.Fatal(err)
	}
	if r := lcd.Row(0); !lcd.Lit() || r != "SCAN YOUR PASS  " {
		t.Errorf("after close: %q lit %v", r, lcd.Lit())
	}
	if err := lcd.Err(); err != nil {
		t.Error(err)
	}
}

// pages checks that ops are the SSD1306's page writes after init (each a
// command (0x00) of page address 0xB0|p and column 0x0L 0x1H, then the data
// (0x40) from that column on) and returns the pages written. A panel lit
// again after Close gets 0xAF before the first.
func pages(t *testing.T, ops []i2ctest.IO, addr uint16) []int {
	t.Helper()
	if len(ops)%2 != 0 {
		t.Fatalf("%d writes: not command, data pairs", len(ops))
	}
	var ps []int
	for i := 0; i < len(ops); i += 2 {
		c, d := ops[i], ops[i+1]
		if c.Addr != addr || d.Addr != addr {
			t.Fatalf("write to 0x%x, 0x%x; want 0x%x", c.Addr, d.Addr, addr)
		}
		w := c.W
		if len(w) == 5 && w[1] == 0xAF {
			w = append([]byte{w[0]}, w[2:]...)
		}
		if len(w) != 4 || w[0] != 0x00 || w[1]&0xF0 != 0xB0 || w[2]&0xF0 != 0x00 || w[3]&0xF0 != 0x10 || d.W[0] != 0x40 {
			t.Fatalf("% x then % x: not a page write", c.W, d.W[:1])
		}
		ps = append(ps, int(w[1]&0x0F))
	}
	return ps
}

// TestScreenLogValue: a screen in a log line reads as the display shows it,
// with no temperature for none (not physic's zero, -273.150°C).
func TestScreenLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("display", "screen", Screen{Kind: Ready})
	log.Info("display", "screen", Screen{Kind: Stop, Temp: physic.ZeroCelsius + 38600*physic.MilliKelvin, Reason: "High temperature"})
	out := buf.String()
	for _, want := range []string{"screen.kind=SCAN screen.temp=\"\"", "screen.kind=STOP screen.temp=38.6C screen.reason=\"High temperature\""} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "-273") {
		t.Errorf("no temperature logged as absolute zero:\n%s", out)
	}
}
