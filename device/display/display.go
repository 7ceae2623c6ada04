// Package display shows the gate's state on the small displays of boxes that
// have no screen: an SSD1306 OLED (128×64 or 128×32) or an HD44780 16×2
// character LCD on a PCF8574 I²C backpack, both on the box's I²C bus. Which
// one a box has is in its board profile (firmware-config, [display]).
//
// A Screen is what the person at the gate needs at a glance: pass, stop,
// measure again, a fault, or that the gate is ready or measuring; a
// temperature; a short reason. Both displays show it as short English/ASCII
// text; the OLED adds a large symbol (a tick, a cross…) drawn as shapes, so
// that a pupil who reads no English still tells pass from stop.
//
// # Caveats
//
// No Chinese. The HD44780's ROM has none. For the OLED it would take a CJK
// bitmap font: the boxes have none installed, the build must not need the
// network, and pre-rendering the few fixed phrases (通过, 停止, 请扫码…) from
// whatever font a developer's machine has would make the build depend on that
// machine. The full bilingual messages stay on the guard console and the
// screen of boxes that have one; here the symbol carries the meaning.
package display

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Display shows one Screen at a time, until the next.
type Display interface {
	// Show draws s; after Close it lights the display again, even when s is
	// the screen it showed before.
	Show(s Screen) error
	// Close blanks the display (the OLED's panel off, the LCD's backlight
	// off); it does not close the bus.
	Close() error
}

// Kind is what the gate is telling the person.
type Kind int

// The kinds of screen.
const (
	Ready     Kind = iota // waiting for a scan
	Measuring             // taking the temperature
	Pass                  // go in
	Stop                  // the gate stays shut
	Again                 // measure again
	Fault                 // out of order: see the guard
	Wait                  // wait for the guard, who decides
)

// words: the kind's word on its own (title), the short one that leaves
// room for a temperature, and the line shown when a Screen has no reason.
var words = [...]struct{ title, short, line string }{
	Ready:     {"SCAN YOUR PASS", "SCAN", "Scan your pass"},
	Measuring: {"MEASURING", "MEASURING", "Hold still"},
	Pass:      {"PASS", "PASS", "Please go in"},
	Stop:      {"STOP", "STOP", "Entry refused"},
	Again:     {"MEASURE AGAIN", "AGAIN", "Measure again"},
	Fault:     {"OUT OF ORDER", "FAULT", "See the guard"},
	Wait:      {"PLEASE WAIT", "WAIT", "See the guard"},
}

// Kinds are every kind of screen, in order.
func Kinds() []Kind {
	ks := make([]Kind, len(words))
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(words) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return words[k].short
}

// Screen is one state of the gate as the small display shows it.
type Screen struct {
	Kind Kind
	// Temp is the temperature taken; zero when there is none to show.
	Temp physic.Temperature
	// Reason is a short English (ASCII) text, e.g. "fever"; what does not fit
	// is cut. Empty: a default line for the kind.
	Reason string
}

// lines are the screen as two lines of text, the first at most width
// characters: the kind's word and the temperature, then the reason.
func (s Screen) lines(width int) (string, string) {
	k := s.Kind
	if k < 0 || int(k) >= len(words) {
		k = Fault // nothing is ever shown blank
	}
	w := words[k]
	first := w.title
	if t := s.temp(); t != "" {
		first = w.short + " " + t
	}
	if len(first) > width {
		first = w.short
	}
	second := strings.TrimSpace(s.Reason)
	if second == "" {
		second = w.line
	}
	return first, second
}

// LogValue is the screen as a log line shows it: the temperature as the
// display writes it ("" for none, not physic's zero, -273.150°C).
func (s Screen) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", s.Kind.String()), slog.String("temp", s.temp()), slog.String("reason", s.Reason))
}

// temp is the temperature as "36.6C", or "" for none.
func (s Screen) temp() string {
	if s.Temp == 0 {
		return ""
	}
	return fmt.Sprintf("%.1fC", float64(s.Temp-physic.ZeroCelsius)/float64(physic.Kelvin))
}

// The chips a profile may name.
const (
	ChipSSD1306 = "ssd1306"
	ChipHD44780 = "hd44780-pcf8574"
)

// Config is a box's display, as its board profile gives it.
type Config struct {
	Chip string `toml:"chip"` // ChipSSD1306 or ChipHD44780
	// Addr is the I²C address; 0: 0x3C for the OLED, 0x27 for the LCD.
	Addr uint16 `toml:"addr"`
	// Height of the OLED in pixels, 64 or 32; 0: 64. Not for the LCD.
	Height int `toml:"height"`
	// BlankAfter is how long the ready screen stays lit with nobody at the
	// gate before the display is blanked (an OLED wears where it stays lit;
	// an LCD's backlight is what draws its power); 0: DefaultBlankAfter.
	BlankAfter time.Duration `toml:"blank_after"`
}

// DefaultBlankAfter is Config.BlankAfter's default: long enough that the
// gaps between classes arriving in the morning do not blank it.
const DefaultBlankAfter = 10 * time.Minute

// The range Check allows for BlankAfter.
const (
	MinBlankAfter = 10 * time.Second
	MaxBlankAfter = 24 * time.Hour
)

// Blank is BlankAfter or its default.
func (c Config) Blank() time.Duration {
	if c.BlankAfter == 0 {
		return DefaultBlankAfter
	}
	return c.BlankAfter
}

// Check refuses a configuration Open would; the error starts with the key.
func (c Config) Check() error {
	switch c.Chip {
	case ChipSSD1306:
		if c.Height != 0 && c.Height != 32 && c.Height != 64 {
			return fmt.Errorf("height %d: the SSD1306 boards are 64 or 32 pixels high", c.Height)
		}
	case ChipHD44780:
		if c.Height != 0 {
			return fmt.Errorf("height: only for an %s", ChipSSD1306)
		}
	default:
		return fmt.Errorf("chip %q: want %s or %s", c.Chip, ChipSSD1306, ChipHD44780)
	}
	if c.Addr != 0 && (c.Addr < 0x03 || c.Addr > 0x77) {
		return fmt.Errorf("addr 0x%x is not a 7-bit I²C address", c.Addr)
	}
	if c.BlankAfter != 0 && (c.BlankAfter < MinBlankAfter || c.BlankAfter > MaxBlankAfter) {
		return fmt.Errorf("blank_after %v outside %v..%v", c.BlankAfter, MinBlankAfter, MaxBlankAfter)
	}
	return nil
}

// Address is the display's I²C address, Addr or the chip's usual one.
func (c Config) Address() uint16 {
	switch {
	case c.Addr != 0:
		return c.Addr
	case c.Chip == ChipHD44780:
		return 0x27
	}
	return 0x3C
}

// PanelHeight is the OLED's height, Height or 64.
func (c Config) PanelHeight() int {
	if c.Height == 0 {
		return 64
	}
	return c.Height
}

// Open initialises the display c describes on bus.
func Open(bus i2c.Bus, c Config) (Display, error) {
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("display: %w", err)
	}
	if c.Chip == ChipHD44780 {
		return NewLCD(bus, c.Address())
	}
	return NewOLED(bus, c.Address(), c.PanelHeight())
}
