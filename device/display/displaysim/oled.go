package displaysim

import (
	"fmt"
	"image"
	"sync"

	"periph.io/x/conn/v3/physic"
)

// SSD1306 is an emulated 128-pixel-wide SSD1306 on I²C: it keeps the
// panel's RAM as the commands and page writes leave it, and whether the panel
// is lit.
type SSD1306 struct {
	mu    sync.Mutex
	h     int
	ram   []byte // a byte is 8 rows of a column, a page 8 rows of all columns
	on    bool
	page  int
	col   int
	cols  [2]int // the column range writes wrap in (0x21)
	pages [2]int // the page range (0x22)
	err   error
}

// NewSSD1306 returns a panel h (64 or 32) pixels high, unlit, as at power-on.
func NewSSD1306(h int) *SSD1306 {
	return &SSD1306{h: h, ram: make([]byte, 128*h/8), cols: [2]int{0, 127}, pages: [2]int{0, h/8 - 1}}
}

func (d *SSD1306) String() string { return fmt.Sprintf("ssd1306sim(128x%d)", d.h) }

// args is how many bytes follow each command that takes any.
var args = map[byte]int{
	0x81: 1, 0x20: 1, 0x21: 2, 0x22: 2, 0xA8: 1, 0xD3: 1, 0xDA: 1, 0xD5: 1, 0xD9: 1, 0xDB: 1, 0x8D: 1,
	0x26: 6, 0x27: 6, 0x29: 5, 0x2A: 5, 0xA3: 2,
}

// Tx takes one write: a control byte, 0x00 for commands or 0x40 for data,
// then the bytes. The chip cannot be read over I²C.
func (d *SSD1306) Tx(_ uint16, w, r []byte) error {
	if len(r) != 0 {
		return fmt.Errorf("%s: read: the SSD1306 is write-only on I²C", d)
	}
	if len(w) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch w[0] {
	case 0x00:
		d.command(w[1:])
	case 0x40:
		for _, b := range w[1:] {
			d.data(b)
		}
	default:
		d.err = fmt.Errorf("control byte 0x%02x (want 0x00 or 0x40)", w[0])
		return fmt.Errorf("%s: %w", d, d.err)
	}
	return nil
}

func (d *SSD1306) command(c []byte) {
	for len(c) > 0 {
		op, n := c[0], args[c[0]]
		if len(c) < 1+n {
			d.err = fmt.Errorf("command 0x%02x: %d argument bytes, want %d", op, len(c)-1, n)
			return
		}
		a := c[1 : 1+n]
		switch {
		case op == 0xAE:
			d.on = false
		case op == 0xAF:
			d.on = true
		case op == 0x21:
			d.cols = [2]int{int(a[0] & 0x7F), int(a[1] & 0x7F)}
			d.col = d.cols[0]
		case op == 0x22:
			d.pages = [2]int{int(a[0] & 7), int(a[1] & 7)}
			d.page = d.pages[0]
		case op&0xF8 == 0xB0:
			d.page = int(op & 7)
		case op&0xF0 == 0x00:
			d.col = d.col&0xF0 | int(op&0x0F)
		case op&0xF0 == 0x10:
			d.col = d.col&0x0F | int(op&0x0F)<<4
		}
		c = c[1+n:]
	}
}

// data writes one byte at the cursor and moves it on, wrapping as the
// horizontal addressing mode the driver sets does.
func (d *SSD1306) data(b byte) {
	if d.page*128+d.col < len(d.ram) {
		d.ram[d.page*128+d.col] = b
	}
	d.col++
	if d.col > d.cols[1] {
		d.col = d.cols[0]
		if d.page++; d.page > d.pages[1] {
			d.page = d.pages[0]
		}
	}
}

// Lit says whether the panel is on (0xAF since the last 0xAE).
func (d *SSD1306) Lit() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.on
}

// Pixel says whether the pixel at x, y is set in the panel's RAM, lit or not.
func (d *SSD1306) Pixel(x, y int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pixel(x, y)
}

func (d *SSD1306) pixel(x, y int) bool {
	if x < 0 || x >= 128 || y < 0 || y >= d.h {
		return false
	}
	return d.ram[y/8*128+x]>>(y%8)&1 != 0
}

// Art is the region r of the RAM as text: '#' set, '.' clear, a line a row.
func (d *SSD1306) Art(r image.Rectangle) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return art(r, d.pixel)
}

// Err is the first thing received that a driver should not send; nil if none.
func (d *SSD1306) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// SetSpeed accepts any speed.
func (d *SSD1306) SetSpeed(physic.Frequency) error { return nil }
