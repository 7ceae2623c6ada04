package display

import (
	"fmt"
	"image"
	"math"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/devices/v3/ssd1306"
	"periph.io/x/devices/v3/ssd1306/image1bit"
)

// OLED shows screens on an SSD1306: a large symbol on the left, the kind's
// word and the temperature (twice the size on a 64-pixel-high panel) beside
// it, the reason beneath.
type OLED struct {
	mu  sync.Mutex
	dev *ssd1306.Dev
	img *image1bit.VerticalLSB
	off bool // Closed: the next Show lights the panel
}

// NewOLED initialises the SSD1306 at addr (0x3C, or 0x3D with the board's
// address jumper), 128 pixels wide and h (64 or 32) high.
func NewOLED(bus i2c.Bus, addr uint16, h int) (*OLED, error) {
	opts := ssd1306.DefaultOpts
	opts.H = h
	// The 32-pixel panels wire the COM pins sequentially (SSD1306 datasheet
	// 10.1.18, as the 128×32 modules' makers set it): without this every
	// other row is missing.
	opts.Sequential = h == 32
	// periph's driver talks to 0x3C only.
	d, err := ssd1306.NewI2C(&atAddr{Bus: bus, addr: addr}, &opts)
	if err != nil {
		return nil, fmt.Errorf("display: ssd1306 at 0x%02x: %w", addr, err)
	}
	return &OLED{dev: d, img: image1bit.NewVerticalLSB(d.Bounds())}, nil
}

// atAddr sends every transaction to addr, whatever address it is given.
type atAddr struct {
	i2c.Bus
	addr uint16
}

func (b *atAddr) Tx(_ uint16, w, r []byte) error { return b.Bus.Tx(b.addr, w, r) }

// Show draws s and sends it; periph's driver sends only the part of the
// frame that changed, which on a 100 kHz bus is the difference between a
// tenth of a second and a glance.
func (o *OLED) Show(s Screen) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	render(o.img, s)
	if err := o.dev.Draw(o.img.Bounds(), o.img, image.Point{}); err != nil {
		return fmt.Errorf("display: ssd1306: %w", err)
	}
	if o.off {
		// periph's driver lights a halted panel with the first command it
		// sends, but sends none for a frame that did not change: the ready
		// screen shown again after blanking would stay dark. Invert(false)
		// is a command that changes nothing else (init sets it).
		if err := o.dev.Invert(false); err != nil {
			return fmt.Errorf("display: ssd1306: on: %w", err)
		}
		o.off = false
	}
	return nil
}

// Close turns the panel off; an OLED left lit all night wears.
func (o *OLED) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.dev.Halt(); err != nil {
		return fmt.Errorf("display: ssd1306: %w", err)
	}
	o.off = true
	return nil
}

// render draws s on img (128×64 or 128×32).
func render(img *image1bit.VerticalLSB, s Screen) {
	clear(img.Pix)
	h := img.Rect.Dy()
	k := s.Kind
	if k < 0 || int(k) >= len(words) {
		k = Fault
	}
	if h < 64 {
		// The symbol fills the height; the LCD's two lines beside it.
		symbol(img, k, image.Rect(0, 0, 32, 32))
		first, second := s.lines(13)
		text(img, first, 36, 11, 1)
		text(img, second, 36, 27, 1)
		return
	}
	symbol(img, k, image.Rect(0, 0, 40, 40))
	text(img, words[k].short, 44, 11, 1)
	if t := s.temp(); t != "" {
		text(img, t, 44, 40, 2)
	}
	_, second := s.lines(18)
	text(img, second, 0, 61, 1)
}

// text draws str in basicfont's 7×13 at scale times the size, the baseline
// at y, from x; what runs off the panel is cut.
func text(img *image1bit.VerticalLSB, str string, x, y, scale int) {
	f := basicfont.Face7x13
	w := font.MeasureString(f, str).Ceil()
	m := f.Metrics()
	small := image1bit.NewVerticalLSB(image.Rect(0, 0, w, (m.Ascent + m.Descent).Ceil()))
	d := font.Drawer{Dst: small, Src: image.NewUniform(image1bit.On), Face: f, Dot: fixed.Point26_6{Y: m.Ascent}}
	d.DrawString(str)
	top := y - m.Ascent.Ceil()*scale
	for sy := range small.Rect.Dy() {
		for sx := range w {
			if small.BitAt(sx, sy) {
				for i := range scale * scale {
					img.SetBit(x+sx*scale+i%scale, top+sy*scale+i/scale, image1bit.On)
				}
			}
		}
	}
}

// A shape is a set of points in the unit square.
type shape func(x, y float64) bool

// line is the segment from (x0, y0) to (x1, y1), w thick.
func line(x0, y0, x1, y1, w float64) shape {
	return func(x, y float64) bool {
		dx, dy := x1-x0, y1-y0
		t := max(0, min(1, ((x-x0)*dx+(y-y0)*dy)/(dx*dx+dy*dy)))
		return math.Hypot(x-x0-t*dx, y-y0-t*dy) <= w/2
	}
}

// ring is the circle of radius r about (cx, cy), w thick, but for the
// angles (clockwise from three o'clock, in degrees) from gap0 to gap1.
func ring(cx, cy, r, w, gap0, gap1 float64) shape {
	return func(x, y float64) bool {
		d := math.Hypot(x-cx, y-cy)
		a := math.Atan2(y-cy, x-cx) * 180 / math.Pi
		if a < 0 {
			a += 360
		}
		return math.Abs(d-r) <= w/2 && !(a >= gap0 && a < gap1)
	}
}

func disc(cx, cy, r float64) shape {
	return func(x, y float64) bool { return math.Hypot(x-cx, y-cy) <= r }
}

// symbols are drawn in a unit square, y down, strokes a tenth of it.
var symbols = [...][]shape{
	Ready: { // a pass's frame
		line(0.15, 0.15, 0.85, 0.15, 0.1), line(0.85, 0.15, 0.85, 0.85, 0.1),
		line(0.85, 0.85, 0.15, 0.85, 0.1), line(0.15, 0.85, 0.15, 0.15, 0.1),
		disc(0.5, 0.5, 0.12),
	},
	Measuring: {ring(0.5, 0.5, 0.38, 0.1, 0, 0), disc(0.5, 0.5, 0.15)}, // a target
	Pass:      {line(0.12, 0.55, 0.4, 0.82, 0.14), line(0.4, 0.82, 0.88, 0.2, 0.14)},
	Stop:      {line(0.18, 0.18, 0.82, 0.82, 0.14), line(0.82, 0.18, 0.18, 0.82, 0.14)},
	Again: { // a circular arrow, its head at the gap
		ring(0.5, 0.5, 0.35, 0.1, 290, 340),
		line(0.62, 0.17, 0.84, 0.12, 0.1), line(0.62, 0.17, 0.72, 0.37, 0.1),
	},
	Fault: { // a warning triangle
		line(0.5, 0.08, 0.94, 0.9, 0.08), line(0.94, 0.9, 0.06, 0.9, 0.08), line(0.06, 0.9, 0.5, 0.08, 0.08),
		line(0.5, 0.38, 0.5, 0.62, 0.1), disc(0.5, 0.76, 0.06),
	},
	Wait: { // a clock face at ten past
		ring(0.5, 0.5, 0.38, 0.1, 0, 0), line(0.5, 0.5, 0.5, 0.22, 0.1), line(0.5, 0.5, 0.72, 0.4, 0.1),
	},
}

// symbol draws k's symbol to fill the square r.
func symbol(img *image1bit.VerticalLSB, k Kind, r image.Rectangle) {
	n := float64(r.Dx())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			px, py := (float64(x-r.Min.X)+0.5)/n, (float64(y-r.Min.Y)+0.5)/n
			for _, s := range symbols[k] {
				if s(px, py) {
					img.SetBit(x, y, image1bit.On)
					break
				}
			}
		}
	}
}
