package mlx90632

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// DefaultAddr is the factory I²C address.
const DefaultAddr = 0x3A

// Register map (datasheet section "Memory map"; 16-bit addresses, 16-bit big-endian words).
const (
	RegEEVersion = 0x240B
	RegEEPR      = 0x240C // first of the 32-bit constants P_R..Ga, two words each, LSW first
	RegEEGb      = 0x242E
	RegEEKa      = 0x242F
	RegEEHa      = 0x2481
	RegEEHb      = 0x2482
	RegControl   = 0x3001
	RegStatus    = 0x3FFF
	RegRAM       = 0x4000

	statusDataReady = 1 << 0
	statusCyclePos  = 0x1F << 2
	statusEEBusy    = 1 << 9
	statusBusy      = 1 << 10

	// dspV5 is the low byte of the EEPROM version. The high byte says which
	// measurement modes the part supports (production parts read 0x8505, which
	// includes extended range); this driver uses the medical mode all of them have.
	dspV5 = 0x05
)

// Sentinel errors, wrapped with the register and the I²C cause.
var (
	ErrTimeout = errors.New("mlx90632: no new measurement in time")
	ErrInvalid = errors.New("mlx90632: impossible result")
	ErrEEPROM  = errors.New("mlx90632: unusable EEPROM")
)

// Opts configures the driver.
type Opts struct {
	Addr           uint16
	Emissivity     float64            // of the measured surface (skin: 0.98); 1 = a black body
	Reflected      physic.Temperature // 0: the surroundings are at the sensor's temperature
	MeasureTimeout time.Duration      // waiting for the next measurement (refresh 2 Hz by default: 500 ms)
	PollInterval   time.Duration      // between status reads while waiting
	Retries        int                // bus errors tolerated per measurement
	Logger         *slog.Logger
}

// DefaultOpts suits the chip's factory refresh rate (2 Hz).
var DefaultOpts = Opts{
	Addr:           DefaultAddr,
	Emissivity:     1.0,
	MeasureTimeout: 2 * time.Second,
	PollInterval:   10 * time.Millisecond,
	Retries:        2,
}

func (o *Opts) validate() error {
	switch {
	case o.Addr == 0 || o.Addr > 0x7F:
		return fmt.Errorf("mlx90632: address %#x outside 0x01..0x7f", o.Addr)
	case !(o.Emissivity >= 0.1 && o.Emissivity <= 1):
		return fmt.Errorf("mlx90632: emissivity %v outside 0.1..1", o.Emissivity)
	case o.MeasureTimeout <= 0 || o.PollInterval <= 0:
		return errors.New("mlx90632: measure timeout and poll interval must be positive")
	case o.Retries < 0 || o.Retries > 10:
		return fmt.Errorf("mlx90632: retries %d outside 0..10", o.Retries)
	}
	return nil
}

// Dev is one MLX90632. It is safe for concurrent use.
type Dev struct {
	c    i2c.Dev
	opts Opts
	log  *slog.Logger

	mu    sync.Mutex
	calib Calib
	emis  float64
	w     [2]byte
	r     [12]byte
}

// New reads the calibration constants and clears the data-ready flag.
func New(b i2c.Bus, opts *Opts) (*Dev, error) {
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Dev{c: i2c.Dev{Bus: b, Addr: o.Addr}, opts: o, log: o.Logger, emis: o.Emissivity}
	d.mu.Lock()
	defer d.mu.Unlock()
	ver, err := d.read16(RegEEVersion)
	if err != nil {
		return nil, fmt.Errorf("%s: probe: %w", d, err)
	}
	switch {
	case ver == 0x0000 || ver == 0xFFFF:
		return nil, fmt.Errorf("%s: EEPROM version %#04x: %w (blank or not an MLX90632)", d, ver, ErrEEPROM)
	case ver&0x00FF != dspV5:
		return nil, fmt.Errorf("%s: EEPROM version %#04x: %w (DSP v%d, this driver does DSPv5)", d, ver, ErrEEPROM, ver&0xFF)
	}
	if err := d.readCalib(); err != nil {
		return nil, err
	}
	if d.calib.PG == 0 || d.calib.Ea == 0 || d.calib.Fa == 0 || d.calib.Ha == 0 {
		return nil, fmt.Errorf("%s: calibration %+v: %w (a zero gain)", d, d.calib, ErrEEPROM)
	}
	st, err := d.read16(RegStatus)
	if err != nil {
		return nil, fmt.Errorf("%s: read status: %w", d, err)
	}
	if err := d.write16(RegStatus, st&^statusDataReady); err != nil {
		return nil, fmt.Errorf("%s: clear data ready: %w", d, err)
	}
	return d, nil
}

func (d *Dev) readCalib() error {
	var buf [2 * 36]byte // 0x240C..0x242F: P_R..Ga (32-bit), Gb, Ka
	if err := d.readWords(RegEEPR, buf[:]); err != nil {
		return fmt.Errorf("%s: read calibration 0x240c..0x242f: %w", d, err)
	}
	word := func(i int) uint16 { return binary.BigEndian.Uint16(buf[2*i:]) }
	w32 := func(i int) int32 { return int32(uint32(word(i+1))<<16 | uint32(word(i))) }
	c := &d.calib
	c.PR, c.PG, c.PT, c.PO = w32(0), w32(2), w32(4), w32(6)
	c.Ea, c.Eb, c.Fa, c.Fb, c.Ga = w32(24), w32(26), w32(28), w32(30), w32(32)
	c.Gb, c.Ka = int16(word(34)), int16(word(35))
	var h [4]byte
	if err := d.readWords(RegEEHa, h[:]); err != nil {
		return fmt.Errorf("%s: read calibration Ha/Hb 0x2481: %w", d, err)
	}
	c.Ha, c.Hb = int16(binary.BigEndian.Uint16(h[:])), int16(binary.BigEndian.Uint16(h[2:]))
	return nil
}

// Calib returns the calibration constants read at start-up.
func (d *Dev) Calib() Calib {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calib
}

func (d *Dev) readWords(reg uint16, dst []byte) error {
	binary.BigEndian.PutUint16(d.w[:], reg)
	return d.c.Tx(d.w[:], dst)
}

func (d *Dev) read16(reg uint16) (uint16, error) {
	if err := d.readWords(reg, d.r[:2]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(d.r[:2]), nil
}

func (d *Dev) write16(reg, v uint16) error {
	var w [4]byte
	binary.BigEndian.PutUint16(w[:], reg)
	binary.BigEndian.PutUint16(w[2:], v)
	return d.c.Tx(w[:], nil)
}

// Measure waits for the next measurement and returns the object (forehead)
// and ambient (sensor die) temperatures.
func (d *Dev) Measure(ctx context.Context) (object, ambient physic.Temperature, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var last error
	for attempt := 0; attempt <= d.opts.Retries; attempt++ {
		o, a, err := d.measure(ctx)
		if err == nil || errors.Is(err, ErrTimeout) || ctx.Err() != nil {
			return o, a, err
		}
		last = err
	}
	return 0, 0, fmt.Errorf("%s: %d attempts: %w", d, d.opts.Retries+1, last)
}

func (d *Dev) measure(ctx context.Context) (physic.Temperature, physic.Temperature, error) {
	st, err := d.read16(RegStatus)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: read status (0x3fff): %w", d, err)
	}
	// Clearing data-ready first means the values read below come from a
	// measurement that finished after this call began, never a stale one.
	if err := d.write16(RegStatus, st&^statusDataReady); err != nil {
		return 0, 0, fmt.Errorf("%s: clear data ready (0x3fff): %w", d, err)
	}
	deadline := time.Now().Add(d.opts.MeasureTimeout)
	for {
		if st, err = d.read16(RegStatus); err != nil {
			return 0, 0, fmt.Errorf("%s: read status (0x3fff): %w", d, err)
		}
		if st&statusDataReady != 0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s: status %#04x after %v: %w", d, st, d.opts.MeasureTimeout, ErrTimeout)
		}
		t := time.NewTimer(d.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, 0, fmt.Errorf("%s: waiting for data: %w", d, ctx.Err())
		case <-t.C:
		}
	}
	ch := int(st&statusCyclePos) >> 2
	if ch != 1 && ch != 2 {
		return 0, 0, fmt.Errorf("%s: cycle position %d in status %#04x: %w", d, ch, st, ErrInvalid)
	}
	// RAM 0x4003..0x4008: RAM_1(1), RAM_2(1), RAM_3(1), RAM_1(2), RAM_2(2), RAM_3(2).
	if err := d.readWords(RegRAM+3, d.r[:12]); err != nil {
		return 0, 0, fmt.Errorf("%s: read RAM 0x4003..0x4008: %w", d, err)
	}
	ram := func(i int) int16 { return int16(binary.BigEndian.Uint16(d.r[2*i:])) }
	ambNew, ambOld := ram(2), ram(5)
	// Each channel's value is the truncated average of its two words, as in the
	// reference library: the same integer steps keep the results identical.
	chan1 := int16((int32(ram(1)) + int32(ram(0))) / 2)
	chan2 := int16((int32(ram(4)) + int32(ram(3))) / 2)
	objNew, objOld := chan1, chan2
	if ch == 2 {
		objNew, objOld = chan2, chan1
	}
	c := &d.calib
	preA := c.PreAmbient(ambNew, ambOld)
	preO := c.PreObject(objNew, objOld, ambNew, ambOld)
	amb := c.Ambient(preA)
	var obj float64
	if d.opts.Reflected != 0 {
		obj = c.ObjectReflected(preO, preA, celsius(d.opts.Reflected), d.emis)
	} else {
		obj = c.Object(preO, preA, d.emis)
	}
	if math.IsNaN(amb) || amb < -20 || amb > 85 || math.IsNaN(obj) || obj < -20 || obj > 200 {
		return 0, 0, fmt.Errorf("%s: object %.2f °C ambient %.2f °C from RAM % x: %w", d, obj, amb, d.r[:12], ErrInvalid)
	}
	return fromCelsius(obj), fromCelsius(amb), nil
}

// ObjectTemp measures and returns the object temperature.
func (d *Dev) ObjectTemp() (physic.Temperature, error) {
	o, _, err := d.Measure(context.Background())
	return o, err
}

// AmbientTemp measures and returns the sensor's own temperature.
func (d *Dev) AmbientTemp() (physic.Temperature, error) {
	_, a, err := d.Measure(context.Background())
	return a, err
}

// SetEmissivity sets the emissivity used by the host calculation; the chip
// itself has no emissivity setting.
func (d *Dev) SetEmissivity(e float64) error {
	if !(e >= 0.1 && e <= 1) {
		return fmt.Errorf("mlx90632: emissivity %v outside 0.1..1", e)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.emis = e
	return nil
}

// String implements conn.Resource.
func (d *Dev) String() string { return fmt.Sprintf("mlx90632@%#02x", d.opts.Addr) }

// Halt implements conn.Resource. The chip keeps measuring in continuous mode,
// which costs under 1 mA; there is nothing in flight to stop on the host side.
func (d *Dev) Halt() error { return nil }

func celsius(t physic.Temperature) float64 {
	return float64(t-physic.ZeroCelsius) / float64(physic.Celsius)
}

func fromCelsius(c float64) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(math.Round(c*1e6))*physic.MicroKelvin
}
