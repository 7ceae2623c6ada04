package displaysim

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3/physic"
)

// The backpack's wiring, as device/charlcd has it.
const (
	bitRS        = 0x01
	bitRW        = 0x02
	bitEN        = 0x04
	bitBacklight = 0x08
)

// LCD is an emulated 16×2 HD44780 behind a PCF8574 backpack: each byte
// written sets the expander's outputs, the LCD latches D4..D7 and RS on EN's
// falling edge, and the emulator keeps the display RAM, whether the display
// is on and whether the backlight is.
type LCD struct {
	mu        sync.Mutex
	out       byte // the expander's outputs
	eightBit  bool // the interface width; 8 at power-on
	hi        byte // the high nibble of a byte in 4-bit mode
	half      bool // hi holds one
	ddram     [0x80]byte
	addr      byte
	displayOn bool
	err       error
}

// NewLCD returns an LCD as at power-on: 8-bit interface, display off,
// backlight off, RAM blank.
func NewLCD() *LCD {
	l := &LCD{eightBit: true}
	for i := range l.ddram {
		l.ddram[i] = ' '
	}
	return l
}

func (l *LCD) String() string { return "hd44780sim" }

// Tx applies each byte written to the expander's outputs in turn.
func (l *LCD) Tx(_ uint16, w, r []byte) error {
	if len(r) != 0 {
		return fmt.Errorf("%s: read: the emulated backpack is write-only", l)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range w {
		if l.out&bitEN != 0 && b&bitEN == 0 {
			l.strobe(l.out>>4, l.out&bitRS != 0)
		}
		if b&bitRW != 0 && l.err == nil {
			l.err = fmt.Errorf("RW set (0x%02x): the driver must never read", b)
		}
		l.out = b
	}
	return nil
}

func (l *LCD) strobe(nibble byte, rs bool) {
	if l.eightBit { // D0..D3 are not wired: they read low
		l.exec(nibble<<4, rs)
		return
	}
	if !l.half {
		l.hi, l.half = nibble, true
		return
	}
	l.half = false
	l.exec(l.hi<<4|nibble, rs)
}

// exec runs one instruction (rs false) or writes one character.
func (l *LCD) exec(v byte, rs bool) {
	if rs {
		l.ddram[l.addr&0x7F] = v
		l.addr = (l.addr + 1) & 0x7F
		return
	}
	switch {
	case v&0x80 != 0:
		l.addr = v & 0x7F
	case v&0x40 != 0: // CGRAM address: no custom characters here
	case v&0x20 != 0:
		l.eightBit, l.half = v&0x10 != 0, false
	case v&0x10 != 0: // cursor or display shift
	case v&0x08 != 0:
		l.displayOn = v&0x04 != 0
	case v&0x04 != 0: // entry mode: the driver keeps the default increment
	case v&0x02 != 0:
		l.addr = 0
	case v&0x01 != 0:
		for i := range l.ddram {
			l.ddram[i] = ' '
		}
		l.addr = 0
	}
}

// Row is the text of row 0 or 1, all 16 characters.
func (l *LCD) Row(row int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := 0x40 * (row & 1)
	return string(l.ddram[start : start+16])
}

// Lit says whether both the display and its backlight are on.
func (l *LCD) Lit() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.displayOn && l.out&bitBacklight != 0
}

// Backlight says whether the backlight is on.
func (l *LCD) Backlight() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out&bitBacklight != 0
}

// Err is the first thing received that the driver should not send.
func (l *LCD) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// SetSpeed accepts any speed.
func (l *LCD) SetSpeed(physic.Frequency) error { return nil }
