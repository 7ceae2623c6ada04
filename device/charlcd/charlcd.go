// Package charlcd drives an HD44780 character LCD (16×2) through the common
// PCF8574 I²C "backpack": the expander's eight outputs are wired P0=RS, P1=RW,
// P2=EN, P3=backlight, P4..P7=D4..D7, so the LCD runs in 4-bit mode and every
// nibble is two expander writes, one with EN high and one with it low (the
// LCD latches on EN's falling edge).
//
// periph.io/x/devices/v3/hd44780 drives the LCD's pins directly as GPIOs;
// over the backpack (periph's pcf857x gives its outputs as GPIOs) that would
// be one I²C transaction per pin change, it has no backlight bit, and its
// initialisation (v3.7.4) sends 0x14, a cursor shift, where the function set
// 0x28 (4-bit, two lines) belongs, so a 16×2 module stays in one-line mode
// and the second row never shows. This driver builds the expander bytes itself and sends a
// whole command, or a whole line, as one I²C write: the PCF8574 applies each
// byte of a write to its outputs in turn.
//
// Datasheets: HD44780U (Hitachi), "Initializing by Instruction", figure 24
// (4-bit interface), and table 6 (instructions, execution times);
// PCF8574 (NXP), section 8.1 "Write mode".
//
// # Caveats
//
// The LCD is write-only here (RW stays low): the driver cannot read the busy
// flag and waits out the datasheet's execution times instead. At 100 kHz one
// expander byte takes about 90 µs on the wire, longer than any instruction but
// Clear and Home, which get their own sleep. The character ROM is the A00
// (Japanese) one: printable ASCII except '\' (¥) and '~' (→), which Print
// replaces, as it does anything outside it, with '?'; there is no Chinese.
package charlcd

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
)

// The backpack's wiring of the expander's outputs.
const (
	bitRS        = 0x01
	bitEN        = 0x04
	bitBacklight = 0x08
)

// Size of the display.
const (
	Cols = 16
	Rows = 2
)

// rowAddr is the DDRAM address of the start of each row.
var rowAddr = [Rows]byte{0x00, 0x40}

// Dev is an HD44780 behind a PCF8574 backpack.
type Dev struct {
	mu        sync.Mutex
	c         i2c.Dev
	backlight byte
	off       bool                // halted: the next Print turns it on
	sleep     func(time.Duration) // time.Sleep; tests count instead
}

// New initialises the LCD at addr (0x27 on most backpacks, 0x3F on the
// PCF8574A kind) with the backlight on, cleared, cursor hidden.
func New(bus i2c.Bus, addr uint16) (*Dev, error) {
	d := &Dev{c: i2c.Dev{Bus: bus, Addr: addr}, backlight: bitBacklight, sleep: time.Sleep}
	if err := d.init(); err != nil {
		return nil, fmt.Errorf("charlcd: init at 0x%02x: %w", addr, err)
	}
	return d, nil
}

func (d *Dev) String() string { return fmt.Sprintf("charlcd.Dev{%s}", &d.c) }

// init is figure 24: three times "8-bit mode" as a lone nibble, whatever state
// the LCD was left in (a restarted gated finds it mid-nibble at worst), then
// 4-bit mode. The box has been powered far longer than the 40 ms the LCD needs
// after power-on, so that wait is not repeated here.
func (d *Dev) init() error {
	// All outputs low but the backlight: EN low before the first strobe.
	if err := d.c.Tx([]byte{d.backlight}, nil); err != nil {
		return err
	}
	for _, step := range []struct {
		nibble byte
		wait   time.Duration
	}{{0x3, 5 * time.Millisecond}, {0x3, 200 * time.Microsecond}, {0x3, 200 * time.Microsecond}, {0x2, 200 * time.Microsecond}} {
		if err := d.c.Tx(d.nibble(nil, step.nibble, 0), nil); err != nil {
			return err
		}
		d.sleep(step.wait)
	}
	for _, cmd := range []byte{
		0x28, // function set: 4-bit, 2 lines, 5×8 dots
		0x08, // display off
		0x01, // clear
		0x06, // entry mode: cursor moves right, no shift
		0x0C, // display on, cursor off, blink off
	} {
		if err := d.command(cmd); err != nil {
			return err
		}
	}
	return nil
}

// nibble appends the two expander bytes that strobe the low 4 bits of n into
// the LCD with RS = rs.
func (d *Dev) nibble(b []byte, n, rs byte) []byte {
	v := n<<4 | d.backlight | rs
	return append(b, v|bitEN, v)
}

// byte4 appends the four expander bytes of one 8-bit value, high nibble first.
func (d *Dev) byte4(b []byte, v, rs byte) []byte {
	return d.nibble(d.nibble(b, v>>4, rs), v&0x0F, rs)
}

func (d *Dev) command(cmd byte) error {
	if err := d.c.Tx(d.byte4(nil, cmd, 0), nil); err != nil {
		return fmt.Errorf("command 0x%02x: %w", cmd, err)
	}
	if cmd == 0x01 || cmd == 0x02 { // clear and home take 1.52 ms
		d.sleep(2 * time.Millisecond)
	}
	return nil
}

// Print writes text on row (0 or 1) from its first column, padded with spaces
// to the full width so that what was there before is gone, and cut at Cols.
// The whole row is one I²C write, so a row never shows half old, half new for
// longer than the write takes.
func (d *Dev) Print(row int, text string) error {
	if row < 0 || row >= Rows {
		return fmt.Errorf("charlcd: row %d: the LCD has rows 0..%d", row, Rows-1)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	b := make([]byte, 0, 4*(Cols+2))
	if d.off {
		d.backlight = bitBacklight
		b = d.byte4(b, 0x0C, 0) // display on
	}
	b = d.byte4(b, 0x80|rowAddr[row], 0) // set DDRAM address
	for _, c := range ROM(text, Cols) {
		b = d.byte4(b, c, bitRS)
	}
	if err := d.c.Tx(b, nil); err != nil {
		return fmt.Errorf("charlcd: row %d: %w", row, err)
	}
	d.off = false
	return nil
}

// ROM is text as n character codes of the A00 ROM: cut or padded with spaces
// to n, with '?' for what the ROM has not got.
func ROM(text string, n int) []byte {
	out := make([]byte, 0, n)
	for _, r := range text {
		if len(out) == n {
			break
		}
		if r < 0x20 || r > 0x7D || r == '\\' {
			r = '?'
		}
		out = append(out, byte(r))
	}
	for len(out) < n {
		out = append(out, ' ')
	}
	return out
}

// Backlight turns the backlight on or off; it is the expander's P3, so the
// change is a single write that leaves the LCD's own pins as they are.
func (d *Dev) Backlight(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.backlight = 0
	if on {
		d.backlight = bitBacklight
	}
	if err := d.c.Tx([]byte{d.backlight}, nil); err != nil {
		return fmt.Errorf("charlcd: backlight: %w", err)
	}
	return nil
}

// Halt blanks the LCD and turns its backlight off; the next Print turns both
// back on.
func (d *Dev) Halt() error {
	d.mu.Lock()
	d.backlight = 0
	err := d.command(0x08)
	d.off = err == nil
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("charlcd: halt: %w", err)
	}
	return nil
}
