// Package displaysim emulates the small displays of package display on an
// I²C bus: an SSD1306 OLED and an HD44780 LCD behind a PCF8574 backpack. Each
// decodes the bytes it is sent as the chip would (the SSD1306's commands and
// page writes, the backpack's strobed nibbles) and keeps what the panel would
// show, so that tests and `gated -simulate` exercise the real drivers and
// check what reached the glass rather than which bytes were sent.
//
// Datasheets: SSD1306 (Solomon Systech) 8.1.5 and 10 (command table),
// HD44780U (Hitachi) table 6 and figure 24, PCF8574 (NXP) 8.1.
package displaysim

import (
	"errors"
	"fmt"
	"image"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Bus is an emulated I²C bus: each transaction goes to the device at its
// address; an address nobody answers is a NACK, as on a real bus.
type Bus struct {
	mu   sync.Mutex
	devs map[uint16]i2c.Bus
	fail map[uint16]error
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{devs: map[uint16]i2c.Bus{}, fail: map[uint16]error{}} }

// Attach puts dev on the bus at addr; dev answers only transactions to it.
func (b *Bus) Attach(addr uint16, dev i2c.Bus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.devs[addr] = dev
}

// Fail makes every transaction to addr fail with err, as a device whose
// cable came loose; nil: it answers again.
func (b *Bus) Fail(addr uint16, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		delete(b.fail, addr)
		return
	}
	b.fail[addr] = err
}

// ErrNACK is what a transaction to an address nobody answers returns.
var ErrNACK = errors.New("displaysim: NACK")

func (b *Bus) String() string { return "displaysim.Bus" }

// Tx hands the transaction to the device at addr; the bus lock is held only
// to find it: each device serialises its own transactions.
func (b *Bus) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	dev, ok := b.devs[addr]
	fail := b.fail[addr]
	b.mu.Unlock()
	switch {
	case fail != nil:
		return fmt.Errorf("displaysim: 0x%02x: %w", addr, fail)
	case !ok:
		return fmt.Errorf("%w at 0x%02x", ErrNACK, addr)
	}
	return dev.Tx(addr, w, r)
}

// SetSpeed accepts any speed.
func (b *Bus) SetSpeed(physic.Frequency) error { return nil }

// Close does nothing.
func (b *Bus) Close() error { return nil }

// TextArt is str in basicfont's 7×13 (the OLED's font) at scale, as Art
// shows it: '#' lit, '.' dark, a line a row. Comparing a region of the
// panel with it reads the text the driver drew there.
func TextArt(str string, scale int) string {
	f := basicfont.Face7x13
	w := font.MeasureString(f, str).Ceil()
	img := image.NewAlpha(image.Rect(0, 0, w, 13))
	d := font.Drawer{Dst: img, Src: image.Opaque, Face: f, Dot: fixed.P(0, 11)}
	d.DrawString(str)
	return art(image.Rect(0, 0, w*scale, 13*scale), func(x, y int) bool { return img.AlphaAt(x/scale, y/scale).A != 0 })
}

func art(r image.Rectangle, on func(x, y int) bool) string {
	var b strings.Builder
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if on(x, y) {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
