package display

import (
	"image"
	"strings"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
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
	for _, c := range []Config{{Chip: ChipSSD1306}, {Chip: ChipSSD1306, Addr: 0x3D, Height: 32}, {Chip: ChipHD44780, Addr: 0x3F}} {
		if err := c.Check(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for key, c := range map[string]Config{
		"chip":   {Chip: "st7735"},
		"height": {Chip: ChipSSD1306, Height: 48},
		"addr":   {Chip: ChipHD44780, Addr: 0x80},
	} {
		if err := c.Check(); err == nil || !strings.HasPrefix(err.Error(), key) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := (Config{Chip: ChipHD44780, Height: 64}).Check(); err == nil || !strings.HasPrefix(err.Error(), "height") {
		t.Errorf("an LCD with a height: %v", err)
	}
	if _, err := Open(&i2ctest.Record{}, Config{Chip: "lcd"}); err == nil {
		t.Error("Open with an unknown chip")
	}
}

// lcdText decodes the backpack's bytes back into what the LCD receives: the
// nibbles latched on EN's falling edge, paired into bytes, with RS. Every
// byte must have the backlight bit set.
func lcdText(t *testing.T, w []byte) (cmds []byte, text string) {
	t.Helper()
	var nibbles []byte
	var rs []bool
	for i, b := range w {
		if b&0x08 == 0 {
			t.Fatalf("byte %d 0x%02x: backlight off", i, b)
		}
		if b&0x04 != 0 && i+1 < len(w) && w[i+1] == b&^0x04 { // EN high, then the same with EN low
			nibbles = append(nibbles, b>>4)
			rs = append(rs, b&0x01 != 0)
		}
	}
	if len(nibbles)*2 != len(w) || len(nibbles)%2 != 0 {
		t.Fatalf("% x: not whole strobed bytes", w)
	}
	for i := 0; i < len(nibbles); i += 2 {
		v := nibbles[i]<<4 | nibbles[i+1]
		if rs[i] {
			text += string(rune(v))
		} else {
			cmds = append(cmds, v)
		}
	}
	return cmds, text
}

// TestLCD: a Show is two writes to the backpack: row 0's address (0x80) and
// "PASS 36.6C", row 1's (0xC0) and the reason, padded to 16.
func TestLCD(t *testing.T) {
	bus := &i2ctest.Record{}
	d, err := Open(bus, Config{Chip: ChipHD44780})
	if err != nil {
		t.Fatal(err)
	}
	n := len(bus.Ops)
	if err := d.Show(Screen{Kind: Pass, Temp: degC(36.6)}); err != nil {
		t.Fatal(err)
	}
	if err := d.Show(Screen{Kind: Stop, Temp: degC(38.2), Reason: "fever: see the nurse"}); err != nil {
		t.Fatal(err)
	}
	ops := bus.Ops[n:]
	want := []struct {
		cmd  byte
		text string
	}{{0x80, "PASS 36.6C      "}, {0xC0, "Please go in    "}, {0x80, "STOP 38.2C      "}, {0xC0, "fever: see the n"}}
	if len(ops) != len(want) {
		t.Fatalf("%d writes, want %d", len(ops), len(want))
	}
	for i, w := range want {
		if ops[i].Addr != 0x27 {
			t.Errorf("write %d to 0x%x", i, ops[i].Addr)
		}
		cmds, text := lcdText(t, ops[i].W)
		if len(cmds) != 1 || cmds[0] != w.cmd || text != w.text {
			t.Errorf("write %d: % x %q, want %02x %q", i, cmds, text, w.cmd, w.text)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if last := bus.Ops[len(bus.Ops)-1].W; len(last) != 4 || last[0]&0x08 != 0 {
		t.Errorf("close: % x, want display off with the backlight off", last)
	}
}

// frame replays the SSD1306's page writes after init into a W×H bitmap:
// each is a command (0x00) of page address 0xB0|p and column 0x0L 0x1H, then
// the data (0x40) from that column on.
type frame struct {
	w, h int
	pix  []byte // VerticalLSB: 8 rows a byte, a page a band
}

func newFrame(w, h int) *frame { return &frame{w: w, h: h, pix: make([]byte, w*h/8)} }

func (f *frame) apply(t *testing.T, ops []i2ctest.IO, addr uint16) (pages []int) {
	t.Helper()
	if len(ops)%2 != 0 {
		t.Fatalf("%d writes: not command, data pairs", len(ops))
	}
	for i := 0; i < len(ops); i += 2 {
		c, d := ops[i], ops[i+1]
		if c.Addr != addr || d.Addr != addr {
			t.Fatalf("write to 0x%x, 0x%x; want 0x%x", c.Addr, d.Addr, addr)
		}
		if len(c.W) != 4 || c.W[0] != 0x00 || c.W[1]&0xF0 != 0xB0 || c.W[2]&0xF0 != 0x00 || c.W[3]&0xF0 != 0x10 || d.W[0] != 0x40 {
			t.Fatalf("% x then % x: not a page write", c.W, d.W[:1])
		}
		p, col := int(c.W[1]&0x0F), int(c.W[2]&0x0F|c.W[3]<<4)
		if p >= f.h/8 || col+len(d.W)-1 > f.w {
			t.Fatalf("page %d col %d +%d off the panel", p, col, len(d.W)-1)
		}
		copy(f.pix[p*f.w+col:], d.W[1:])
		pages = append(pages, p)
	}
	return pages
}

func (f *frame) on(x, y int) bool { return f.pix[y/8*f.w+x]>>(y%8)&1 != 0 }

// art is the region r of the frame, '#' lit, '.' dark, a line a row.
func (f *frame) art(r image.Rectangle) string {
	var b strings.Builder
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if f.on(x, y) {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// textArt is str in basicfont at scale, drawn on an image.Alpha (not the
// display's image type), as art of the same box render uses.
func textArt(str string, scale int) string {
	f := basicfont.Face7x13
	w := font.MeasureString(f, str).Ceil()
	img := image.NewAlpha(image.Rect(0, 0, w, 13))
	d := font.Drawer{Dst: img, Src: image.Opaque, Face: f, Dot: fixed.P(0, 11)}
	d.DrawString(str)
	var b strings.Builder
	for y := range 13 * scale {
		for x := range w * scale {
			if img.AlphaAt(x/scale, y/scale).A != 0 {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
