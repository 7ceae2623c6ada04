package display

import (
	"bytes"
	"image"
	"testing"

	"campusgate/device/display/displaysim"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

// oledInit is the SSD1306 initialisation periph sends, one command write
// (control byte 0x00), as the datasheet's commands for a panel h high.
func oledInit(h byte) []byte {
	com := byte(0x12) // alternative COM pins: the 64-row panels
	if h == 32 {
		com = 0x02 // sequential: the 32-row ones
	}
	return []byte{0x00,
		0xAE,       // display off
		0xD3, 0x00, // display offset 0
		0x40,      // start line 0
		0xA1,      // segment remap
		0xC8,      // COM scan reversed
		0xDA, com, // COM pins
		0x81, 0xFF, // contrast
		0xA4,       // show RAM
		0xA6,       // not inverted
		0xD5, 0xF0, // clock
		0x8D, 0x14, // charge pump on
		0xD9, 0xF1, // pre-charge
		0xDB, 0x40, // Vcomh
		0x2E,        // no scrolling
		0xA8, h - 1, // multiplex: h rows
		0x20, 0x00, // horizontal addressing
		0x21, 0, 127, // columns 0..127
		0x22, 0, h/8 - 1, // pages
		0xAF, // display on
	}
}

// openOLED opens an OLED on an emulated panel, recording the writes.
func openOLED(t *testing.T, addr uint16, h int) (*OLED, *i2ctest.Record, *displaysim.SSD1306) {
	t.Helper()
	panel := displaysim.NewSSD1306(h)
	bus := &i2ctest.Record{Bus: panel}
	d, err := Open(bus, Config{Chip: ChipSSD1306, Addr: addr, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	if len(bus.Ops) != 1 || bus.Ops[0].Addr != addr || !bytes.Equal(bus.Ops[0].W, oledInit(byte(h))) {
		t.Fatalf("init: %+v\nwant % x", bus.Ops, oledInit(byte(h)))
	}
	return d.(*OLED), bus, panel
}

// The tick, as the 40×40 symbol box shows it.
const tick = `........................................
........................................
........................................
........................................
........................................
..................................##....
.................................#####..
................................######..
...............................#######..
..............................########..
..............................#######...
.............................#######....
............................#######.....
...........................#######......
...........................#######......
..........................#######.......
.........................#######........
........................#######.........
........................#######.........
....##.................#######..........
..#####...............#######...........
..######.............#######............
..#######...........########............
..########..........#######.............
...########........#######..............
....########......#######...............
.....#########...#######................
......#########..#######................
........###############.................
.........#############..................
..........###########...................
...........##########...................
............########....................
.............######.....................
..............####......................
...............##.......................
........................................
........................................
........................................
........................................
`

// TestOLED: on a 128×64 panel at 0x3D, a PASS screen is the whole frame, a
// page at a time, with the tick in the symbol box, PASS beside it and the
// temperature at twice the font's size; the same screen again sends nothing;
// a STOP sends only what changed; Close turns the panel off.
func TestOLED(t *testing.T) {
	d, bus, f := openOLED(t, 0x3D, 64)
	pass := Screen{Kind: Pass, Temp: degC(36.6), Reason: "Temp normal"}
	if err := d.Show(pass); err != nil {
		t.Fatal(err)
	}
	if pages := pages(t, bus.Ops[1:], 0x3D); len(pages) != 8 || !f.Lit() {
		t.Fatalf("first frame: pages %v, want all 8", pages)
	}
	if got := f.Art(image.Rect(0, 0, 40, 40)); got != tick {
		t.Errorf("the tick:\n%s", got)
	}
	if got, want := f.Art(image.Rect(44, 0, 44+28, 13)), displaysim.TextArt("PASS", 1); got != want {
		t.Errorf("PASS:\n%s\nwant\n%s", got, want)
	}
	if got, want := f.Art(image.Rect(44, 18, 44+70, 18+26)), displaysim.TextArt("36.6C", 2); got != want {
		t.Errorf("36.6C:\n%s\nwant\n%s", got, want)
	}
	if got, want := f.Art(image.Rect(0, 50, 77, 63)), displaysim.TextArt("Temp normal", 1); got != want {
		t.Errorf("reason:\n%s\nwant\n%s", got, want)
	}

	n := len(bus.Ops)
	if err := d.Show(pass); err != nil {
		t.Fatal(err)
	}
	if len(bus.Ops) != n {
		t.Errorf("the same screen again: %d writes", len(bus.Ops)-n)
	}
	if err := d.Show(Screen{Kind: Stop, Temp: degC(38.2), Reason: "Temp normal"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages(t, bus.Ops[n:], 0x3D) {
		if p > 5 {
			t.Errorf("page %d rewritten: the reason line did not change", p)
		}
	}
	// The cross: its middle and its arms' ends lit, the tick's elbow dark.
	for _, p := range []struct {
		x, y int
		on   bool
	}{{20, 20, true}, {8, 8, true}, {31, 8, true}, {8, 31, true}, {31, 31, true}, {16, 32, false}, {20, 5, false}} {
		if f.Pixel(p.x, p.y) != p.on {
			t.Errorf("stop: pixel %d,%d lit %v\n%s", p.x, p.y, !p.on, f.Art(image.Rect(0, 0, 40, 40)))
		}
	}
	if got, want := f.Art(image.Rect(44, 18, 44+70, 18+26)), displaysim.TextArt("38.2C", 2); got != want {
		t.Errorf("38.2C:\n%s", got)
	}
	n = len(bus.Ops)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if ops := bus.Ops[n:]; len(ops) != 1 || !bytes.Equal(ops[0].W, []byte{0x00, 0xAE}) || f.Lit() {
		t.Errorf("close: %+v", ops)
	}
	// The screen it showed before: periph's driver sends no frame, the panel
	// must light all the same.
	if err := d.Show(Screen{Kind: Stop, Temp: degC(38.2), Reason: "Temp normal"}); err != nil {
		t.Fatal(err)
	}
	if !f.Lit() {
		t.Error("the same screen after close: still dark")
	}
	n = len(bus.Ops)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Show(pass); err != nil {
		t.Fatal(err)
	}
	if ps := pages(t, bus.Ops[n+1:len(bus.Ops)-1], 0x3D); !f.Lit() || len(ps) == 0 || bus.Ops[n+1].W[1] != 0xAF {
		t.Errorf("a new screen after close: lit %v, pages %v", f.Lit(), ps)
	}
	if err := f.Err(); err != nil {
		t.Error(err)
	}
}

// TestOLED32: a 128×32 panel gets its own init, four pages, and the symbol
// beside the LCD's two lines.
func TestOLED32(t *testing.T) {
	d, bus, f := openOLED(t, 0x3C, 32)
	if err := d.Show(Screen{Kind: Stop, Temp: degC(38.2), Reason: "fever"}); err != nil {
		t.Fatal(err)
	}
	if pages := pages(t, bus.Ops[1:], 0x3C); len(pages) != 4 {
		t.Fatalf("pages %v", pages)
	}
	if got, want := f.Art(image.Rect(36, 0, 36+70, 13)), displaysim.TextArt("STOP 38.2C", 1); got != want {
		t.Errorf("first line:\n%s\nwant\n%s", got, want)
	}
	if got, want := f.Art(image.Rect(36, 16, 36+35, 29)), displaysim.TextArt("fever", 1); got != want {
		t.Errorf("second line:\n%s\nwant\n%s", got, want)
	}
	if !f.Pixel(16, 16) || f.Pixel(16, 2) {
		t.Errorf("the cross:\n%s", f.Art(image.Rect(0, 0, 32, 32)))
	}
}

// TestSymbols: every kind has a symbol, and no two look alike.
func TestSymbols(t *testing.T) {
	seen := map[string]Kind{}
	for _, k := range Kinds() {
		d, _, f := openOLED(t, 0x3C, 64)
		if err := d.Show(Screen{Kind: k}); err != nil {
			t.Fatal(err)
		}
		art := f.Art(image.Rect(0, 0, 40, 40))
		if o, dup := seen[art]; dup || bytes.Count([]byte(art), []byte("#")) < 80 {
			t.Errorf("%v: symbol blank or the same as %v's:\n%s", k, o, art)
		}
		seen[art] = k
	}
}
