package mlx90614sim_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/device/mlx90614/mlx90614sim"

	"periph.io/x/conn/v3/physic"
)

func kelvin(mk int64) physic.Temperature { return physic.Temperature(mk) * physic.MilliKelvin }

// pec is the SMBus CRC-8 computed here by hand, not with the package's.
func pec(data ...byte) byte {
	var c byte
	for _, b := range data {
		c ^= b
		for range 8 {
			if c&0x80 != 0 {
				c = c<<1 ^ 0x07
			} else {
				c <<= 1
			}
		}
	}
	return c
}

func read(t *testing.T, c *mlx90614sim.Chip, addr uint16, cmd byte) ([]byte, error) {
	t.Helper()
	r := make([]byte, 3)
	err := c.Tx(addr, []byte{cmd}, r)
	return r, err
}

func mustRead(t *testing.T, c *mlx90614sim.Chip, cmd byte) uint16 {
	t.Helper()
	r, err := read(t, c, 0x5A, cmd)
	if err != nil {
		t.Fatalf("read %#02x: %v", cmd, err)
	}
	if want := pec(0xB4, cmd, 0xB5, r[0], r[1]); r[2] != want {
		t.Fatalf("read %#02x: % X: PEC %#02x, want %#02x", cmd, r, r[2], want)
	}
	return uint16(r[0]) | uint16(r[1])<<8
}

func write(c *mlx90614sim.Chip, addr uint16, cmd byte, v uint16) error {
	lo, hi := byte(v), byte(v>>8)
	return c.Tx(addr, []byte{cmd, lo, hi, pec(byte(addr)<<1, cmd, lo, hi)}, nil)
}

func TestDatasheetFrame(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetObject(kelvin(301160)) // 28.01 °C
	r, err := read(t, c, 0x5A, 0x07)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0xD2, 0x3A, 0x30}; !bytes.Equal(r, want) {
		t.Errorf("Tobj1 frame % X, want % X (datasheet example)", r, want)
	}
	if got := c.String(); got != "mlx90614sim@0x5a" {
		t.Errorf("String = %q", got)
	}
}

func TestDefaults(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	for _, cmd := range []byte{0x06, 0x07, 0x08} {
		if got := mustRead(t, c, cmd); got != 14858 { // 24 °C = 297.15 K = 14857.5 steps
			t.Errorf("RAM %#02x = %d, want 14858", cmd, got)
		}
	}
	if got := mustRead(t, c, 0x24); got != 0xFFFF {
		t.Errorf("emissivity = %#04x, want 0xFFFF", got)
	}
	if got := mustRead(t, c, 0x2E); got&0x7F != 0x5A {
		t.Errorf("address cell = %#04x", got)
	}
}

func TestReadShapes(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetObject(kelvin(301160))
	r := make([]byte, 2) // a master that stops before the PEC
	if err := c.Tx(0x5A, []byte{0x07}, r); err != nil || !bytes.Equal(r, []byte{0xD2, 0x3A}) {
		t.Errorf("2-byte read: % X, %v", r, err)
	}
	r = make([]byte, 5) // one that reads on: the bus floats high
	if err := c.Tx(0x5A, []byte{0x07}, r); err != nil || !bytes.Equal(r, []byte{0xD2, 0x3A, 0x30, 0xFF, 0xFF}) {
		t.Errorf("5-byte read: % X, %v", r, err)
	}
	// Address 0x00 is answered by any MLX90614; the PEC covers the 0x00.
	r, err := read(t, c, 0x00, 0x07)
	if err != nil || r[2] != pec(0x00, 0x07, 0x01, 0xD2, 0x3A) {
		t.Errorf("broadcast read: % X, %v", r, err)
	}
	for _, tc := range []struct {
		w    []byte
		r    int
		name string
	}{
		{nil, 3, "read without command"},
		{[]byte{0xF0}, 3, "Read Flags"},
		{[]byte{0x07}, 0, "command only"},
		{[]byte{0x24, 1, 2, 3, 4}, 0, "5-byte write"},
	} {
		if err := c.Tx(0x5A, tc.w, make([]byte, tc.r)); !errors.Is(err, mlx90614sim.ErrNACK) {
			t.Errorf("%s: %v, want NACK", tc.name, err)
		}
	}
}

func TestWrongAddress(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	_, err := read(t, c, 0x5B, 0x07)
	if !errors.Is(err, mlx90614sim.ErrNACK) || !strings.Contains(err.Error(), "0x5b") {
		t.Errorf("read at 0x5B: %v", err)
	}
	if s := c.Stats(); s.NACKs != 1 || s.Reads != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestFaultNACK(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.Inject(mlx90614sim.FaultNACK, 2)
	for i := range 2 {
		if _, err := read(t, c, 0x5A, 0x07); !errors.Is(err, mlx90614sim.ErrNACK) {
			t.Errorf("#%d: %v, want NACK", i, err)
		}
	}
	mustRead(t, c, 0x07)
	if s := c.Stats(); s.NACKs != 2 || s.Reads != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestFaultPEC(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.Inject(mlx90614sim.FaultPEC, 1)
	r, err := read(t, c, 0x5A, 0x07)
	if err != nil {
		t.Fatal(err)
	}
	if r[2] == pec(0xB4, 0x07, 0xB5, r[0], r[1]) {
		t.Errorf("PEC fault gave a good PEC: % X", r)
	}
	if v := uint16(r[0]) | uint16(r[1])<<8; v != 14858 {
		t.Errorf("PEC fault changed the data: %#04x", v)
	}
	mustRead(t, c, 0x07)
}

func TestFaultErrorFlag(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.Inject(mlx90614sim.FaultErrorFlag, 1)
	if got := mustRead(t, c, 0x24); got != 0xFFFF { // EEPROM reads are left alone
		t.Errorf("emissivity = %#04x", got)
	}
	if got := mustRead(t, c, 0x06); got != 0x8000|14858 {
		t.Errorf("Ta with the error flag = %#04x, want %#04x", got, 0x8000|14858)
	}
	if got := mustRead(t, c, 0x06); got != 14858 {
		t.Errorf("Ta after = %#04x", got)
	}
}

func TestFaultAllOnes(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.Inject(mlx90614sim.FaultAllOnes, 1)
	if got := mustRead(t, c, 0x07); got != 0xFFFF {
		t.Errorf("Tobj1 = %#04x, want 0xFFFF", got)
	}
	if got := mustRead(t, c, 0x07); got != 14858 {
		t.Errorf("Tobj1 after = %#04x", got)
	}
}

func TestFaultGarbage(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	good, _ := read(t, c, 0x5A, 0x07)
	c.Inject(mlx90614sim.FaultGarbage, 20)
	same, badPEC := 0, 0
	for range 20 {
		r, err := read(t, c, 0x5A, 0x07)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(r, good) {
			same++
		}
		if r[2] != pec(0xB4, 0x07, 0xB5, r[0], r[1]) {
			badPEC++
		}
	}
	if same > 0 || badPEC < 18 {
		t.Errorf("20 garbage frames: %d equal to the good one, %d with a bad PEC", same, badPEC)
	}
	if r, _ := read(t, c, 0x5A, 0x07); !bytes.Equal(r, good) {
		t.Errorf("after the garbage: % X, want % X", r, good)
	}
}

func TestUnplugReplug(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetWarmup(1, 0x0000)
	mustRead(t, c, 0x07) // the warm-up reading
	c.Unplug()
	for _, addr := range []uint16{0x5A, 0x00} {
		if _, err := read(t, c, addr, 0x07); !errors.Is(err, mlx90614sim.ErrNACK) {
			t.Errorf("unplugged, addr %#02x: %v", addr, err)
		}
	}
	if err := write(c, 0x5A, 0x24, 0); !errors.Is(err, mlx90614sim.ErrNACK) {
		t.Errorf("unplugged write: %v", err)
	}
	c.Replug()
	if got := mustRead(t, c, 0x07); got != 0 {
		t.Errorf("first reading after replug = %#04x, want the warm-up word", got)
	}
	if got := mustRead(t, c, 0x07); got != 14858 {
		t.Errorf("second reading after replug = %#04x", got)
	}
}

func TestStuck(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetObject(kelvin(301160))
	c.Stick()
	c.SetObject(kelvin(310000))
	c.SetAmbient(kelvin(300000))
	c.PowerCycle()
	if got := mustRead(t, c, 0x07); got != 0x3AD2 {
		t.Errorf("stuck Tobj1 = %#04x, want 0x3AD2", got)
	}
	if got := mustRead(t, c, 0x06); got != 14858 {
		t.Errorf("stuck Ta = %#04x", got)
	}
	c.Unstick()
	if got := mustRead(t, c, 0x07); got != 15500 {
		t.Errorf("Tobj1 after Unstick = %d, want 15500", got)
	}
	if got := mustRead(t, c, 0x06); got != 15000 {
		t.Errorf("Ta after Unstick = %d, want 15000", got)
	}
}

// A noisy chip's words spread over ±n steps around the true one, with a
// correct PEC; a stuck noisy chip repeats one word exactly.
func TestNoise(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetObject(kelvin(309760)) // 36.61 °C: word 15488
	c.SetNoise(2)
	seen := map[uint16]int{}
	for range 500 {
		v := mustRead(t, c, 0x07)
		if v < 15486 || v > 15490 {
			t.Fatalf("noisy Tobj1 %d outside 15488±2", v)
		}
		seen[v]++
	}
	if len(seen) != 5 {
		t.Errorf("500 noisy reads gave %d distinct words, want all 5: %v", len(seen), seen)
	}
	c.Stick()
	first := mustRead(t, c, 0x07)
	for range 50 {
		if v := mustRead(t, c, 0x07); v != first {
			t.Fatalf("a stuck chip jittered: %d then %d", first, v)
		}
	}
	c.Unstick()
	c.SetNoise(0)
	if v := mustRead(t, c, 0x07); v != 15488 {
		t.Errorf("noise off: %d", v)
	}
}

// An offset shifts the object word, not the ambient one.
func TestOffset(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetObject(kelvin(309760))
	c.SetOffset(-1500 * physic.MilliKelvin)
	if v := mustRead(t, c, 0x07); v != 15413 {
		t.Errorf("Tobj1 with -1.5 K offset = %d, want 15413", v)
	}
	if v := mustRead(t, c, 0x06); v != 14858 {
		t.Errorf("Ta with an object offset = %d, want 14858 (24 °C)", v)
	}
}

func TestWarmup(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetWarmup(2, 0x1234)
	for _, cmd := range []byte{0x06, 0x07, 0x08} {
		for i := range 2 {
			if got := mustRead(t, c, cmd); got != 0x1234 {
				t.Errorf("%#02x read %d = %#04x, want warm-up 0x1234", cmd, i, got)
			}
		}
		if got := mustRead(t, c, cmd); got != 14858 {
			t.Errorf("%#02x read 3 = %#04x", cmd, got)
		}
	}
	c.PowerCycle()
	if got := mustRead(t, c, 0x07); got != 0x1234 {
		t.Errorf("after a power cycle: %#04x", got)
	}
}

func TestClampsToFifteenBits(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetObject(physic.ZeroCelsius + 1000*physic.Celsius)
	if got := mustRead(t, c, 0x07); got != 0x7FFF {
		t.Errorf("1000 °C = %#04x, want 0x7FFF", got)
	}
	c.SetObject(-5 * physic.Kelvin)
	if got := mustRead(t, c, 0x07); got != 0 {
		t.Errorf("below 0 K = %#04x, want 0", got)
	}
}

func TestEEPROMWrite(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetWriteTime(0)
	if err := write(c, 0x5A, 0x24, 0x0000); err != nil {
		t.Fatal(err)
	}
	if err := write(c, 0x5A, 0x24, 0xF332); err != nil {
		t.Fatal(err)
	}
	if got := c.EEPROM(0x04); got != 0xF332 {
		t.Errorf("cell = %#04x", got)
	}
	if s := c.Stats(); s.Writes != 2 || s.EEPROMViolations != 0 {
		t.Errorf("stats %+v", s)
	}
	// Without the erase the cell gets both words' bits.
	if err := write(c, 0x5A, 0x24, 0x0CCD); err != nil {
		t.Fatal(err)
	}
	if got := c.EEPROM(0x04); got != 0xF332|0x0CCD {
		t.Errorf("cell after a write without erase = %#04x, want %#04x", got, 0xF332|0x0CCD)
	}
	if s := c.Stats(); s.EEPROMViolations != 1 {
		t.Errorf("violations = %d, want 1", s.EEPROMViolations)
	}
}

func TestWriteRefused(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetWriteTime(0)
	cases := []struct {
		name string
		w    []byte
	}{
		{"bad PEC", []byte{0x24, 0x00, 0x00, 0x29}},
		{"no PEC", []byte{0x24, 0x00, 0x00}},
		{"RAM", []byte{0x07, 0x00, 0x00, pec(0xB4, 0x07, 0x00, 0x00)}},
		{"factory cell", []byte{0x3C, 0x00, 0x00, pec(0xB4, 0x3C, 0x00, 0x00)}},
		{"calibration cell", []byte{0x2F, 0x00, 0x00, pec(0xB4, 0x2F, 0x00, 0x00)}},
	}
	for _, tc := range cases {
		if err := c.Tx(0x5A, tc.w, nil); !errors.Is(err, mlx90614sim.ErrNACK) {
			t.Errorf("%s: %v, want NACK", tc.name, err)
		}
	}
	if got := c.EEPROM(0x04); got != 0xFFFF {
		t.Errorf("emissivity cell changed to %#04x", got)
	}
	if s := c.Stats(); s.BadPECWrites != 2 || s.Writes != 0 {
		t.Errorf("stats %+v", s)
	}
	// The erase frame for cell 0x24 at 0x5A carries PEC 0x28.
	if err := c.Tx(0x5A, []byte{0x24, 0x00, 0x00, 0x28}, nil); err != nil {
		t.Errorf("erase: %v", err)
	}
}

func TestWriteTime(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetWriteTime(50 * time.Millisecond)
	start := time.Now()
	if err := write(c, 0x5A, 0x24, 0); err != nil {
		t.Fatal(err)
	}
	_, err := read(t, c, 0x5A, 0x24)
	if time.Since(start) < 50*time.Millisecond && !errors.Is(err, mlx90614sim.ErrNACK) {
		t.Errorf("read during the write time: %v, want NACK", err)
	}
	time.Sleep(60 * time.Millisecond)
	if got := mustRead(t, c, 0x24); got != 0 {
		t.Errorf("cell after the write = %#04x", got)
	}
	if s := c.Stats(); s.BusyNACKs != 1 {
		t.Errorf("busy NACKs = %d", s.BusyNACKs)
	}
	// A power cycle ends the write.
	if err := write(c, 0x5A, 0x24, 0xFFFF); err != nil {
		t.Fatal(err)
	}
	c.PowerCycle()
	mustRead(t, c, 0x24)
}

func TestFaultWriteLost(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetWriteTime(0)
	c.Inject(mlx90614sim.FaultWriteLost, 1)
	if err := write(c, 0x5A, 0x24, 0); err != nil {
		t.Fatalf("a lost write is still acknowledged: %v", err)
	}
	if got := c.EEPROM(0x04); got != 0xFFFF {
		t.Errorf("lost write stored: %#04x", got)
	}
	if err := write(c, 0x5A, 0x24, 0); err != nil || c.EEPROM(0x04) != 0 {
		t.Errorf("next write: %v, cell %#04x", err, c.EEPROM(0x04))
	}
}

func TestEmissivityLatchedAtPowerOn(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetAmbient(kelvin(293150))
	c.SetObject(kelvin(309150))
	c.SetSurfaceEmissivity(0.95)
	atOne := mustRead(t, c, 0x07)
	if atOne >= 15458 {
		t.Errorf("ε 0.95 surface seen at ε 1.0: %d, want below 15458 (36 °C)", atOne)
	}
	c.SetEEPROM(0x04, 0xF332) // 0.95
	if got := mustRead(t, c, 0x07); got != atOne {
		t.Errorf("emissivity took effect before power-on: %d, was %d", got, atOne)
	}
	c.PowerCycle()
	if got := mustRead(t, c, 0x07); got < 15457 || got > 15459 {
		t.Errorf("after power-on: %d, want 15458 ± 1", got)
	}
	// An erased cell latched at power-on: the chip has no sensible answer.
	c.SetEEPROM(0x04, 0)
	c.PowerCycle()
	if got := mustRead(t, c, 0x07); got != 0 {
		t.Errorf("with emissivity 0: %d", got)
	}
}

func TestAddressLatchedAtPowerOn(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetWriteTime(0)
	if err := write(c, 0x5A, 0x2E, 0); err != nil {
		t.Fatal(err)
	}
	if err := write(c, 0x5A, 0x2E, 0x005B); err != nil {
		t.Fatal(err)
	}
	mustRead(t, c, 0x07) // still at 0x5A
	c.PowerCycle()
	if _, err := read(t, c, 0x5A, 0x07); !errors.Is(err, mlx90614sim.ErrNACK) {
		t.Errorf("old address after power-on: %v", err)
	}
	if r, err := read(t, c, 0x5B, 0x07); err != nil || r[2] != pec(0xB6, 0x07, 0xB7, r[0], r[1]) {
		t.Errorf("new address: % X, %v", r, err)
	}
}

func TestSetSpeed(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	if err := c.SetSpeed(400 * physic.KiloHertz); err == nil {
		t.Error("400 kHz accepted; the chip's SMBus stops at 100 kHz")
	}
	if err := c.SetSpeed(5 * physic.KiloHertz); err == nil {
		t.Error("5 kHz accepted")
	}
	if err := c.SetSpeed(50 * physic.KiloHertz); err != nil || c.Speed() != 50*physic.KiloHertz {
		t.Errorf("50 kHz: %v, speed %s", err, c.Speed())
	}
}

func TestInjectPanicsOnNonsense(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Inject(0, 1) did not panic")
		}
	}()
	mlx90614sim.New(0x5A).Inject(0, 1)
}

func TestFaultString(t *testing.T) {
	for f := mlx90614sim.FaultNACK; f <= mlx90614sim.FaultWriteLost; f++ {
		if s := f.String(); strings.HasPrefix(s, "Fault(") {
			t.Errorf("%d has no name", int(f))
		}
	}
}

func TestConcurrent(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetWriteTime(0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := make([]byte, 3)
			for i := range 300 {
				switch (g + i) % 6 {
				case 0:
					_ = c.Tx(0x5A, []byte{0x07}, r)
				case 1:
					c.SetObject(kelvin(int64(300000 + i)))
				case 2:
					c.Inject(mlx90614sim.FaultPEC, 1)
				case 3:
					_ = write(c, 0x5A, 0x24, 0)
				case 4:
					c.PowerCycle()
				case 5:
					_ = c.Stats()
					_ = c.String()
				}
			}
		})
	}
	wg.Wait()
}

func TestTxAllocs(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	w, r := []byte{0x07}, make([]byte, 3)
	if n := testing.AllocsPerRun(200, func() {
		if err := c.Tx(0x5A, w, r); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Tx allocates %v times per read", n)
	}
}
