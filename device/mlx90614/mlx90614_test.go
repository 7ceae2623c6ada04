package mlx90614_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/device/mlx90614"
	"campusgate/device/mlx90614/mlx90614sim"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func degC(c float64) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(math.Round(c*1e3))*physic.MilliKelvin
}

// q is c °C as the chip reports it: in steps of 0.02 K, and 0 °C is 13657.5
// steps, so 36.6 °C reads 36.61 °C.
func q(c float64) physic.Temperature {
	const step = 20 * physic.MilliKelvin
	return (degC(c) + step/2) / step * step
}

// crc is the SMBus PEC written out independently of the driver's table.
func crc(data ...byte) byte {
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

// readOp is one Read Word of v from cmd at addr, PEC included.
func readOp(addr uint16, cmd byte, v uint16) i2ctest.IO {
	a := byte(addr) << 1
	lo, hi := byte(v), byte(v>>8)
	return i2ctest.IO{Addr: addr, W: []byte{cmd}, R: []byte{lo, hi, crc(a, cmd, a|1, lo, hi)}}
}

// writeOp is one Write Word of v to cmd at addr.
func writeOp(addr uint16, cmd byte, v uint16) i2ctest.IO {
	lo, hi := byte(v), byte(v>>8)
	return i2ctest.IO{Addr: addr, W: []byte{cmd, lo, hi, crc(byte(addr)<<1, cmd, lo, hi)}}
}

func opts(f func(*mlx90614.Opts)) *mlx90614.Opts {
	o := mlx90614.DefaultOpts
	o.Logger = quiet
	if f != nil {
		f(&o)
	}
	return &o
}

// newSim returns a driver on an emulated chip; by default nothing is
// discarded and nothing retried, so each test sees every fault.
func newSim(t *testing.T, f func(*mlx90614.Opts)) (*mlx90614.Dev, *mlx90614sim.Chip) {
	t.Helper()
	c := mlx90614sim.New(mlx90614.DefaultAddr)
	d, err := mlx90614.New(c, opts(func(o *mlx90614.Opts) {
		o.Retries, o.Discard = 0, 0
		if f != nil {
			f(o)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

func TestDatasheetReadWord(t *testing.T) {
	// Datasheet, SMBus Read Word example: SA 0x5A, command 0x07 (Tobj1),
	// data low 0xD2, high 0x3A, PEC 0x30: 0x3AD2 × 0.02 K = 301.16 K = 28.01 °C.
	if got := crc(0xB4, 0x07, 0xB5, 0xD2, 0x3A); got != 0x30 {
		t.Fatalf("PEC of the datasheet frame = %#02x, want 0x30", got)
	}
	p := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		readOp(0x5A, 0x24, 0xFFFF), // New's probe: emissivity 1.0
		{Addr: 0x5A, W: []byte{0x07}, R: []byte{0xD2, 0x3A, 0x30}},
	}}
	d, err := mlx90614.New(p, opts(func(o *mlx90614.Opts) { o.Discard = 0 }))
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.ObjectTemp()
	if err != nil {
		t.Fatal(err)
	}
	if want := physic.Temperature(301160) * physic.MilliKelvin; got != want {
		t.Errorf("ObjectTemp = %s, want %s", got, want)
	}
	if got != q(28.01) {
		t.Errorf("ObjectTemp = %s, want 28.01°C", got)
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
}

func TestDatasheetFrameOnEmulator(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetObject(physic.Temperature(301160) * physic.MilliKelvin)
	r := make([]byte, 3)
	if err := c.Tx(0x5A, []byte{0x07}, r); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0xD2, 0x3A, 0x30}; string(r) != string(want) {
		t.Errorf("emulator frame % X, want % X", r, want)
	}
}

func TestPlaybackAllRegisters(t *testing.T) {
	p := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		readOp(0x5B, 0x24, 0xFAE1),
		readOp(0x5B, 0x06, 0x3A13), // discarded
		readOp(0x5B, 0x06, 0x3A13), // 14867 × 0.02 = 297.34 K
		readOp(0x5B, 0x07, 0x1111), // discarded
		readOp(0x5B, 0x07, 0x3C0A), // 15370 × 0.02 = 307.40 K
		readOp(0x5B, 0x08, 0x3C0A), // discarded
		readOp(0x5B, 0x08, 0x3C0B),
		readOp(0x5B, 0x24, 0xFAE1),
	}}
	d, err := mlx90614.New(p, opts(func(o *mlx90614.Opts) { o.Addr, o.Discard = 0x5B, 1 }))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := d.AmbientTemp(); err != nil || a != physic.Temperature(297340)*physic.MilliKelvin {
		t.Errorf("AmbientTemp = %s, %v", a, err)
	}
	if o, err := d.ObjectTemp(); err != nil || o != physic.Temperature(307400)*physic.MilliKelvin {
		t.Errorf("ObjectTemp = %s, %v", o, err)
	}
	if o, err := d.ObjectTemp2(); err != nil || o != physic.Temperature(307420)*physic.MilliKelvin {
		t.Errorf("ObjectTemp2 = %s, %v", o, err)
	}
	if e, err := d.Emissivity(); err != nil || math.Abs(e-0.98) > 1.0/65535 {
		t.Errorf("Emissivity = %v, %v", e, err)
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
	if got := d.String(); got != "mlx90614@0x5b" {
		t.Errorf("String = %q", got)
	}
	if err := d.Halt(); err != nil {
		t.Errorf("Halt = %v", err)
	}
}

func TestSetEmissivityPlayback(t *testing.T) {
	// 0.98 × 65535 = 64224.3 -> 0xFAE0: erase with 0x0000, then write, then read back.
	p := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		readOp(0x5A, 0x24, 0xFFFF), // probe
		readOp(0x5A, 0x24, 0xFFFF), // current value
		writeOp(0x5A, 0x24, 0x0000),
		writeOp(0x5A, 0x24, 0xFAE0),
		readOp(0x5A, 0x24, 0xFAE0),
	}}
	d, err := mlx90614.New(p, opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := d.SetEmissivity(0.98); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 2*mlx90614.DefaultOpts.EEPROMDelay {
		t.Errorf("SetEmissivity took %v, want at least two EEPROM delays", took)
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
	// The erase frame, 0xB4 0x24 0x00 0x00, has PEC 0x28.
	if got := p.Ops[2].W[3]; got != 0x28 {
		t.Errorf("erase PEC = %#02x, want 0x28", got)
	}
}

func TestSetEmissivityVerifyFails(t *testing.T) {
	p := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		readOp(0x5A, 0x24, 0xFFFF),
		readOp(0x5A, 0x24, 0xFFFF),
		writeOp(0x5A, 0x24, 0x0000),
		writeOp(0x5A, 0x24, 0xF332), // 0.95
		readOp(0x5A, 0x24, 0xF333),
	}}
	d, err := mlx90614.New(p, opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = d.SetEmissivity(0.95)
	if !errors.Is(err, mlx90614.ErrVerify) {
		t.Fatalf("SetEmissivity = %v, want ErrVerify", err)
	}
	for _, s := range []string{"mlx90614@0x5a", "0xF332", "0xF333"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
}

// countBus fails every transaction and counts them.
type countBus struct {
	mu sync.Mutex
	n  int
}

func (b *countBus) String() string                  { return "count" }
func (b *countBus) SetSpeed(physic.Frequency) error { return nil }
func (b *countBus) Tx(uint16, []byte, []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	return errors.New("countBus: NACK")
}

func TestOptsValidation(t *testing.T) {
	cases := []struct {
		name string
		f    func(*mlx90614.Opts)
		want string
	}{
		{"broadcast address", func(o *mlx90614.Opts) { o.Addr = 0 }, "broadcast"},
		{"10-bit address", func(o *mlx90614.Opts) { o.Addr = 0x80 }, "7-bit"},
		{"negative retries", func(o *mlx90614.Opts) { o.Retries = -1 }, "retries"},
		{"too many retries", func(o *mlx90614.Opts) { o.Retries = 1000 }, "retries"},
		{"negative discard", func(o *mlx90614.Opts) { o.Discard = -1 }, "discard"},
		{"too many discards", func(o *mlx90614.Opts) { o.Discard = 100 }, "discard"},
		{"EEPROM delay below write time", func(o *mlx90614.Opts) { o.EEPROMDelay = time.Millisecond }, "EEPROM delay"},
		{"EEPROM delay zero", func(o *mlx90614.Opts) { o.EEPROMDelay = 0 }, "EEPROM delay"},
		{"EEPROM delay huge", func(o *mlx90614.Opts) { o.EEPROMDelay = time.Hour }, "EEPROM delay"},
		{"zero value", func(o *mlx90614.Opts) { *o = mlx90614.Opts{} }, "broadcast"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &countBus{}
			_, err := mlx90614.New(b, opts(tc.f))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error about %q", err, tc.want)
			}
			if b.n != 0 {
				t.Errorf("%d transactions before the options were checked", b.n)
			}
		})
	}
	if _, err := mlx90614.New(nil, nil); err == nil {
		t.Error("New(nil bus) succeeded")
	}
	// nil opts are DefaultOpts: three attempts of the probe.
	b := &countBus{}
	if _, err := mlx90614.New(b, nil); err == nil || b.n != 1+mlx90614.DefaultOpts.Retries {
		t.Errorf("New(nil opts) = %v after %d transactions", err, b.n)
	}
}

func TestNewNoChip(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	_, err := mlx90614.New(c, opts(func(o *mlx90614.Opts) { o.Addr = 0x5B }))
	if !errors.Is(err, mlx90614sim.ErrNACK) {
		t.Fatalf("New at the wrong address = %v, want a wrapped NACK", err)
	}
	for _, s := range []string{"mlx90614@0x5b", "emissivity (0x24)", "3 attempts"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestDefaultsOnEmulator(t *testing.T) {
	c := mlx90614sim.New(mlx90614.DefaultAddr)
	d, err := mlx90614.New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetObject(degC(36.6))
	c.SetAmbient(degC(22.5))
	o, a, err := d.Measure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if o != q(36.6) || a != q(22.5) {
		t.Errorf("Measure = %s, %s; want 36.6°C, 22.5°C", o, a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := d.Measure(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Measure(cancelled) = %v", err)
	}
}

func TestNACKRecovered(t *testing.T) {
	d, c := newSim(t, func(o *mlx90614.Opts) { o.Retries = 2 })
	c.SetObject(degC(36.5))
	c.Inject(mlx90614sim.FaultNACK, 2)
	got, err := d.ObjectTemp()
	if err != nil || got != q(36.5) {
		t.Fatalf("ObjectTemp = %s, %v; want 36.5°C after two NACKs", got, err)
	}
	if s := c.Stats(); s.NACKs != 2 {
		t.Errorf("NACKs = %d, want 2", s.NACKs)
	}
}

func TestRetriesExhausted(t *testing.T) {
	d, c := newSim(t, func(o *mlx90614.Opts) { o.Retries = 2 })
	before := c.Stats().Reads
	c.Inject(mlx90614sim.FaultNACK, 1)
	c.Inject(mlx90614sim.FaultPEC, 2)
	_, err := d.ObjectTemp()
	if err == nil {
		t.Fatal("ObjectTemp succeeded through 3 faults with 2 retries")
	}
	if !errors.Is(err, mlx90614.ErrPEC) {
		t.Errorf("error %v does not wrap the last cause, ErrPEC", err)
	}
	for _, s := range []string{"mlx90614@0x5a", "Tobj1 (0x07)", "3 attempts"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	if s := c.Stats(); s.Reads-before != 2 || s.NACKs != 1 {
		t.Errorf("reads %d, NACKs %d; want 2 and 1 (every attempt counted)", s.Reads-before, s.NACKs)
	}
	// Only NACKs: the cause is the bus's error.
	c.Inject(mlx90614sim.FaultNACK, 3)
	if _, err := d.AmbientTemp(); !errors.Is(err, mlx90614sim.ErrNACK) || !strings.Contains(err.Error(), "Ta (0x06)") {
		t.Errorf("AmbientTemp = %v, want a NACK naming Ta (0x06)", err)
	}
	if _, err := d.ObjectTemp(); err != nil {
		t.Errorf("after the faults: %v", err)
	}
}

func TestReadFaults(t *testing.T) {
	cases := []struct {
		fault mlx90614sim.Fault
		want  error
	}{
		{mlx90614sim.FaultNACK, mlx90614sim.ErrNACK},
		{mlx90614sim.FaultPEC, mlx90614.ErrPEC},
		{mlx90614sim.FaultErrorFlag, mlx90614.ErrErrorFlag},
		{mlx90614sim.FaultAllOnes, mlx90614.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.fault.String(), func(t *testing.T) {
			d, c := newSim(t, nil)
			c.SetObject(degC(37))
			c.Inject(tc.fault, 1)
			if _, err := d.ObjectTemp(); !errors.Is(err, tc.want) {
				t.Errorf("ObjectTemp = %v, want %v", err, tc.want)
			}
			if got, err := d.ObjectTemp(); err != nil || got != q(37) {
				t.Errorf("next ObjectTemp = %s, %v; want 37°C", got, err)
			}
			// With retries the fault is invisible.
			d, c = newSim(t, func(o *mlx90614.Opts) { o.Retries = 1 })
			c.SetObject(degC(37))
			c.Inject(tc.fault, 1)
			if got, err := d.ObjectTemp(); err != nil || got != q(37) {
				t.Errorf("with a retry: ObjectTemp = %s, %v; want 37°C", got, err)
			}
		})
	}
}

func TestGarbage(t *testing.T) {
	d, c := newSim(t, nil)
	c.SetObject(degC(36.9))
	for i := range 50 {
		c.Inject(mlx90614sim.FaultGarbage, 1)
		got, err := d.ObjectTemp()
		if err == nil {
			// 1 in 256 random frames has a matching PEC; then the value must
			// still have passed the flag and range checks.
			if got < q(-70) || got > q(380) {
				t.Errorf("garbage #%d accepted as %s", i, got)
			}
			continue
		}
		if !errors.Is(err, mlx90614.ErrPEC) && !errors.Is(err, mlx90614.ErrInvalid) && !errors.Is(err, mlx90614.ErrErrorFlag) {
			t.Errorf("garbage #%d: %v", i, err)
		}
	}
	d, c = newSim(t, func(o *mlx90614.Opts) { o.Retries = 3 })
	c.SetObject(degC(36.9))
	c.Inject(mlx90614sim.FaultGarbage, 3)
	if got, err := d.ObjectTemp(); err != nil || got != q(36.9) {
		t.Errorf("after 3 garbage frames and 3 retries: %s, %v", got, err)
	}
}

func TestOutOfRange(t *testing.T) {
	d, c := newSim(t, nil)
	for _, tc := range []struct {
		c  float64
		ok bool
	}{{-100, false}, {-70.04, false}, {-70.02, true}, {-70, true}, {380, true}, {380.04, false}, {381.5, false}} {
		c.SetObject(degC(tc.c))
		got, err := d.ObjectTemp()
		if tc.ok && (err != nil || got != q(tc.c)) {
			t.Errorf("object %v°C: %s, %v", tc.c, got, err)
		}
		if !tc.ok && !errors.Is(err, mlx90614.ErrInvalid) {
			t.Errorf("object %v°C: %s, %v; want ErrInvalid", tc.c, got, err)
		}
	}
	for _, tc := range []struct {
		c  float64
		ok bool
	}{{-50, false}, {-40.04, false}, {-40, true}, {125, true}, {125.04, false}, {130, false}} {
		c.SetAmbient(degC(tc.c))
		got, err := d.AmbientTemp()
		if tc.ok && (err != nil || got != q(tc.c)) {
			t.Errorf("ambient %v°C: %s, %v", tc.c, got, err)
		}
		if !tc.ok && !errors.Is(err, mlx90614.ErrInvalid) {
			t.Errorf("ambient %v°C: %s, %v; want ErrInvalid", tc.c, got, err)
		}
	}
}

func TestDiscardFirstReadings(t *testing.T) {
	junk := uint16(0x3A00) // 24.03 °C: plausible, in range, and wrong
	for _, discard := range []int{0, 1, 2} {
		c := mlx90614sim.New(0x5A)
		c.SetWarmup(2, junk)
		c.SetObject(degC(36.6))
		d, err := mlx90614.New(c, opts(func(o *mlx90614.Opts) { o.Discard, o.Retries = discard, 0 }))
		if err != nil {
			t.Fatal(err)
		}
		before := c.Stats().Reads
		got, err := d.ObjectTemp()
		if err != nil {
			t.Fatal(err)
		}
		if wantGood := discard >= 2; (got == q(36.6)) != wantGood {
			t.Errorf("discard %d: first ObjectTemp = %s", discard, got)
		}
		if n := c.Stats().Reads - before; n != discard+1 {
			t.Errorf("discard %d: %d reads for the first ObjectTemp", discard, n)
		}
		// Later readings are not discarded again.
		before = c.Stats().Reads
		if _, err := d.ObjectTemp(); err != nil || c.Stats().Reads-before != 1 {
			t.Errorf("discard %d: second ObjectTemp: %v, %d reads", discard, err, c.Stats().Reads-before)
		}
	}
}

func TestUnplugMidStream(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetWarmup(2, 0x3A00)
	c.SetObject(degC(36.4))
	d, err := mlx90614.New(c, opts(nil)) // defaults: 2 retries, 2 discarded
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		switch i {
		case 4:
			c.Unplug()
		case 8:
			c.Replug() // powers up again: two warm-up readings per register
		}
		got, err := d.ObjectTemp()
		if i >= 4 && i < 8 {
			if !errors.Is(err, mlx90614sim.ErrNACK) || !strings.Contains(err.Error(), "Tobj1") {
				t.Errorf("#%d unplugged: %s, %v", i, got, err)
			}
			continue
		}
		if err != nil || got != q(36.4) {
			t.Errorf("#%d: %s, %v; want 36.4°C", i, got, err)
		}
	}
	if a, err := d.AmbientTemp(); err != nil || a != q(24) {
		t.Errorf("ambient after replug: %s, %v", a, err)
	}
}

func TestEmissivity(t *testing.T) {
	d, c := newSim(t, nil)
	e, err := d.Emissivity()
	if err != nil || e != 1 {
		t.Fatalf("factory Emissivity = %v, %v", e, err)
	}
	c.SetSurfaceEmissivity(0.95) // the chip, still at 1.0, reads low
	c.SetAmbient(degC(20))
	c.SetObject(degC(36))
	low, err := d.ObjectTemp()
	if err != nil || low >= q(36) {
		t.Fatalf("object at ε 0.95 seen with 1.0: %s, %v; want below 36°C", low, err)
	}

	if err := d.SetEmissivity(0.95); err != nil {
		t.Fatal(err)
	}
	if e, err := d.Emissivity(); err != nil || math.Abs(e-0.95) > 0.5/65535 {
		t.Errorf("Emissivity = %v, %v; want 0.95", e, err)
	}
	if got := c.EEPROM(0x04); got != 0xF332 {
		t.Errorf("EEPROM 0x04 = %#04x, want 0xF332", got)
	}
	s := c.Stats()
	if s.EEPROMViolations != 0 || s.BusyNACKs != 0 || s.BadPECWrites != 0 || s.Writes != 2 {
		t.Errorf("stats after SetEmissivity: %+v", s)
	}
	if got, _ := d.ObjectTemp(); got != low {
		t.Errorf("before a power cycle the reading changed: %s, want %s", got, low)
	}
	c.PowerCycle()
	if got, err := d.ObjectTemp(); err != nil || got < q(35.98) || got > q(36.02) {
		t.Errorf("after a power cycle: %s, %v; want 36°C", got, err)
	}

	// The same value again writes nothing.
	if err := d.SetEmissivity(0.95); err != nil || c.Stats().Writes != 2 {
		t.Errorf("rewrite of the same value: %v, %d writes", err, c.Stats().Writes)
	}
	for _, bad := range []float64{0, 0.05, 1.01, -1, math.NaN(), math.Inf(1)} {
		if err := d.SetEmissivity(bad); err == nil {
			t.Errorf("SetEmissivity(%v) accepted", bad)
		}
	}
	if c.Stats().Writes != 2 {
		t.Error("an invalid emissivity reached the bus")
	}
}

func TestEmissivityInvalidCell(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	c.SetEEPROM(0x04, 0x0000) // an erase that was never followed by the write
	d, err := mlx90614.New(c, opts(nil))
	if err != nil {
		t.Fatalf("New must accept a chip with a bad cell, to let it be fixed: %v", err)
	}
	if _, err := d.Emissivity(); !errors.Is(err, mlx90614.ErrInvalid) || !strings.Contains(err.Error(), "0x0000") {
		t.Errorf("Emissivity = %v, want ErrInvalid naming 0x0000", err)
	}
	if err := d.SetEmissivity(0.98); err != nil {
		t.Fatal(err)
	}
	if e, err := d.Emissivity(); err != nil || math.Abs(e-0.98) > 0.5/65535 {
		t.Errorf("after the fix: %v, %v", e, err)
	}
}

func TestSetEmissivityVerifyFailsOnEmulator(t *testing.T) {
	d, c := newSim(t, nil)
	c.Inject(mlx90614sim.FaultWriteLost, 1) // the erase is lost: 0xF332 lands on 0xFFFF
	err := d.SetEmissivity(0.95)
	if !errors.Is(err, mlx90614.ErrVerify) || !strings.Contains(err.Error(), "0xFFFF") {
		t.Errorf("SetEmissivity = %v, want ErrVerify reading back 0xFFFF", err)
	}
	if s := c.Stats(); s.EEPROMViolations != 1 {
		t.Errorf("EEPROM violations = %d, want 1", s.EEPROMViolations)
	}
}

func TestEEPROMWriteTime(t *testing.T) {
	// The emulator's write time is the datasheet's 5 ms; the driver waits 10.
	d, c := newSim(t, nil)
	if err := d.SetEmissivity(0.97); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.BusyNACKs != 0 {
		t.Errorf("%d transactions hit the chip while it was writing", s.BusyNACKs)
	}
	// A chip slower than the driver's delay refuses the next write.
	d, c = newSim(t, func(o *mlx90614.Opts) { o.Retries = 1 })
	c.SetWriteTime(5 * time.Second)
	err := d.SetEmissivity(0.97)
	if !errors.Is(err, mlx90614sim.ErrNACK) || !strings.Contains(err.Error(), "busy") {
		t.Errorf("SetEmissivity on a slow chip = %v, want a busy NACK", err)
	}
	if s := c.Stats(); s.BusyNACKs != 2 || s.Writes != 1 {
		t.Errorf("stats %+v; want 1 write and 2 busy NACKs (erase, then two refused writes)", s)
	}
	// Readers are refused too while the chip writes.
	if _, err := d.ObjectTemp(); !errors.Is(err, mlx90614sim.ErrNACK) {
		t.Errorf("read during the write time: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	d, err := mlx90614.New(c, opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				switch (g + i) % 4 {
				case 0:
					if _, err := d.ObjectTemp(); err != nil {
						t.Error(err)
					}
				case 1:
					if _, err := d.AmbientTemp(); err != nil {
						t.Error(err)
					}
				case 2:
					if _, _, err := d.Measure(context.Background()); err != nil {
						t.Error(err)
					}
				case 3:
					c.SetObject(degC(30 + float64(i%80)/10))
				}
			}
		})
	}
	wg.Go(func() {
		if err := d.SetEmissivity(0.98); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if s := c.Stats(); s.NACKs != 0 {
		t.Errorf("%d NACKs: a reader reached the chip during its EEPROM write", s.NACKs)
	}
}

func TestObjectTempAllocs(t *testing.T) {
	d, _ := newSim(t, nil)
	if n := testing.AllocsPerRun(200, func() {
		if _, err := d.ObjectTemp(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ObjectTemp allocates %v times per call", n)
	}
}

func BenchmarkObjectTemp(b *testing.B) {
	c := mlx90614sim.New(mlx90614.DefaultAddr)
	c.SetObject(degC(36.6))
	d, err := mlx90614.New(c, opts(nil))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.ObjectTemp(); err != nil { // past the discarded readings
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.ObjectTemp(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObjectTempFixedBus is the driver's own cost: a bus that answers
// the probe, then always the datasheet's frame.
func BenchmarkObjectTempFixedBus(b *testing.B) {
	d, err := mlx90614.New(&fixedBus{}, opts(func(o *mlx90614.Opts) { o.Discard = 0 }))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.ObjectTemp(); err != nil {
			b.Fatal(err)
		}
	}
}

// fixedBus answers the probe (emissivity 1.0), then the datasheet's Tobj1 frame.
type fixedBus struct{ probed bool }

var _ i2c.Bus = (*fixedBus)(nil)

func (b *fixedBus) String() string                  { return "fixed" }
func (b *fixedBus) SetSpeed(physic.Frequency) error { return nil }
func (b *fixedBus) Tx(_ uint16, _, r []byte) error {
	if !b.probed {
		b.probed = true
		copy(r, []byte{0xFF, 0xFF, crc(0xB4, 0x24, 0xB5, 0xFF, 0xFF)})
		return nil
	}
	r[0], r[1], r[2] = 0xD2, 0x3A, 0x30
	return nil
}

// hookBus runs hook before passing each transaction on to the emulated chip.
type hookBus struct {
	*mlx90614sim.Chip
	hook func()
}

func (b *hookBus) Tx(addr uint16, w, r []byte) error {
	if b.hook != nil {
		b.hook()
	}
	return b.Chip.Tx(addr, w, r)
}

func TestMeasureCancelledBetweenRetries(t *testing.T) {
	c := mlx90614sim.New(0x5A)
	b := &hookBus{Chip: c}
	d, err := mlx90614.New(b, opts(func(o *mlx90614.Opts) { o.Retries, o.Discard = 5, 0 }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first attempt fails and the caller gives up while it is on the wire.
	c.Inject(mlx90614sim.FaultNACK, 6)
	b.hook = cancel
	_, _, err = d.Measure(ctx)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, mlx90614sim.ErrNACK) {
		t.Errorf("Measure = %v; want both context.Canceled and the NACK that caused the retry", err)
	}
	if err != nil && !strings.Contains(err.Error(), "Tobj1 (0x07)") {
		t.Errorf("error %q does not name the register", err)
	}
	if s := c.Stats(); s.NACKs != 1 {
		t.Errorf("%d transactions NACKed; want 1 (no retries after the cancel)", s.NACKs)
	}
	// The 5 NACKs still armed are retried through (6 attempts) without a cancel.
	b.hook = nil
	if _, _, err := d.Measure(context.Background()); err != nil {
		t.Errorf("Measure after the cancel: %v", err)
	}
}
