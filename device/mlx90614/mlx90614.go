package mlx90614

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// DefaultAddr is the factory SMBus address.
const DefaultAddr = 0x5A

// Opts configures a Dev. The zero value is not valid; start from DefaultOpts.
type Opts struct {
	// Addr is the chip's 7-bit SMBus address. 0x00, which every MLX90614
	// answers whatever its own address, is refused: with two sensors on one
	// bus it would make them talk at once.
	Addr uint16
	// Retries is how many more times a failed read (bus error, bad PEC, error
	// flag, impossible value) or write is tried before giving up.
	Retries int
	// Discard is how many readings of each temperature register are thrown
	// away after New and after a read failed on the bus, because the chip's
	// first readings after power-on are not valid.
	Discard int
	// EEPROMDelay is the pause after each EEPROM write (erase or write) before
	// the chip is spoken to again. The datasheet's write time is 5 ms.
	EEPROMDelay time.Duration
	Logger      *slog.Logger // nil = slog.Default()
}

// DefaultOpts is the factory address, two retries, two discarded readings and
// twice the datasheet's EEPROM write time.
var DefaultOpts = Opts{
	Addr:        DefaultAddr,
	Retries:     2,
	Discard:     2,
	EEPROMDelay: 10 * time.Millisecond,
}

// Limits checked by validate: a config typo must not stall the gate for
// seconds on every reading.
const (
	maxRetries     = 10
	maxDiscard     = 16
	minEEPROMDelay = 5 * time.Millisecond
	maxEEPROMDelay = time.Second
)

var (
	// ErrPEC means a frame's Packet Error Code did not match its bytes.
	ErrPEC = errors.New("mlx90614: PEC mismatch")
	// ErrErrorFlag means the chip set bit 15 of a temperature: it has no valid
	// result (e.g. while starting, or with a damaged sensing element).
	ErrErrorFlag = errors.New("mlx90614: error flag set")
	// ErrInvalid means a value the chip cannot produce: 0xFFFF, a temperature
	// outside its measuring range, or an emissivity outside 0.1…1.0.
	ErrInvalid = errors.New("mlx90614: invalid value")
	// ErrVerify means an EEPROM cell did not read back what was written.
	ErrVerify = errors.New("mlx90614: EEPROM verify failed")
)

const (
	cmdEEPROM      = 0x20 // opcode 001x xxxx: EEPROM access; 000x xxxx is RAM
	cellEmissivity = 0x04
)

// lsb is the temperature step of the RAM words.
const lsb = 20 * physic.MilliKelvin

// register is one word the driver reads. For temperatures, lo..hi is the
// chip's measuring range in RAM words; slot indexes Dev.skip.
type register struct {
	cmd    byte
	name   string
	temp   bool
	lo, hi uint16
	slot   int
}

// tempRegister has the range loC..hiC °C rounded outward to whole steps:
// 0 °C is 13657.5 steps, so a chip at −40 °C may well say −40.01.
func tempRegister(cmd byte, name string, loC, hiC int64, slot int) register {
	lo := physic.ZeroCelsius + physic.Temperature(loC)*physic.Celsius
	hi := physic.ZeroCelsius + physic.Temperature(hiC)*physic.Celsius
	return register{cmd: cmd, name: name, temp: true, lo: uint16(lo / lsb), hi: uint16((hi + lsb - 1) / lsb), slot: slot}
}

var (
	regTa         = tempRegister(0x06, "Ta", -40, 125, 0)
	regTobj1      = tempRegister(0x07, "Tobj1", -70, 380, 1)
	regTobj2      = tempRegister(0x08, "Tobj2", -70, 380, 2)
	regEmissivity = register{cmd: cmdEEPROM | cellEmissivity, name: "emissivity"}
)

// Dev is one MLX90614. It is safe for concurrent use: a mutex keeps one
// transaction on the wire at a time and keeps readers off the chip while an
// EEPROM write is in progress.
type Dev struct {
	bus  i2c.Bus
	opts Opts
	name string
	log  *slog.Logger

	mu   sync.Mutex
	w    [4]byte // frame buffers live here so that a read allocates nothing
	r    [3]byte
	skip [3]int // readings still to discard, per temperature register
	warn limiter
}

func (o *Opts) validate() error {
	switch {
	case o.Addr == 0:
		return errors.New("mlx90614: address 0x00 is the broadcast every MLX90614 answers; use the chip's own address (0x5A by default)")
	case o.Addr > 0x7F:
		return fmt.Errorf("mlx90614: address %#x is not a 7-bit SMBus address", o.Addr)
	case o.Retries < 0 || o.Retries > maxRetries:
		return fmt.Errorf("mlx90614: retries %d outside 0..%d", o.Retries, maxRetries)
	case o.Discard < 0 || o.Discard > maxDiscard:
		return fmt.Errorf("mlx90614: discard %d outside 0..%d", o.Discard, maxDiscard)
	case o.EEPROMDelay < minEEPROMDelay || o.EEPROMDelay > maxEEPROMDelay:
		return fmt.Errorf("mlx90614: EEPROM delay %v outside %v..%v (the datasheet's write time is 5 ms)", o.EEPROMDelay, minEEPROMDelay, maxEEPROMDelay)
	}
	return nil
}

// New checks that a chip answers at opts.Addr by reading its emissivity cell;
// nil opts means DefaultOpts. The bus stays the caller's to close.
func New(b i2c.Bus, opts *Opts) (*Dev, error) {
	if b == nil {
		return nil, errors.New("mlx90614: no bus")
	}
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
	name := fmt.Sprintf("mlx90614@%#02x", o.Addr)
	d := &Dev{
		bus:  b,
		opts: o,
		name: name,
		log:  o.Logger.With("dev", name),
		warn: limiter{every: 10 * time.Second},
	}
	d.skip = [3]int{o.Discard, o.Discard, o.Discard}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.read(context.Background(), &regEmissivity, true)
	if err != nil {
		return nil, fmt.Errorf("%s: probe on %s: %w", name, b, err)
	}
	if e, err := emissivity(v); err != nil {
		// The chip is there; let the caller fix the cell with SetEmissivity.
		d.log.Warn("mlx90614: emissivity cell is invalid; rewrite it", "err", err)
	} else {
		d.log.Debug("mlx90614: found", "bus", b.String(), "emissivity", e)
	}
	return d, nil
}

// String names the chip by its address, e.g. "mlx90614@0x5a".
func (d *Dev) String() string { return d.name }

// Halt does nothing and returns nil: the chip measures continuously on its own
// and the driver runs nothing in the background. Its sleep mode is left alone
// because waking it needs a bus line held low for tens of milliseconds, which
// an I²C adapter cannot do.
func (d *Dev) Halt() error { return nil }

// ObjectTemp returns the object temperature (RAM 0x07, Tobj1): what the sensor
// sees in its field of view.
func (d *Dev) ObjectTemp() (physic.Temperature, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, err := d.temp(context.Background(), &regTobj1)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", d.name, err)
	}
	return t, nil
}

// ObjectTemp2 returns the second zone's object temperature (RAM 0x08, Tobj2).
// Only dual-zone parts measure it; on single-zone parts its content is not
// specified.
func (d *Dev) ObjectTemp2() (physic.Temperature, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, err := d.temp(context.Background(), &regTobj2)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", d.name, err)
	}
	return t, nil
}

// AmbientTemp returns the chip's own temperature (RAM 0x06, Ta).
func (d *Dev) AmbientTemp() (physic.Temperature, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, err := d.temp(context.Background(), &regTa)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", d.name, err)
	}
	return t, nil
}

// Measure returns the object and the ambient temperature read back to back,
// with no other reader in between. ctx is checked before each read and
// between retries; the wait for another caller's EEPROM write is not
// interruptible.
func (d *Dev) Measure(ctx context.Context) (object, ambient physic.Temperature, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("%s: measure: %w", d.name, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if object, err = d.temp(ctx, &regTobj1); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", d.name, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("%s: measure: %w", d.name, err)
	}
	if ambient, err = d.temp(ctx, &regTa); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", d.name, err)
	}
	return object, ambient, nil
}

// Emissivity returns the emissivity stored in EEPROM (cell 0x04): the value
// the chip uses after its next power-on, not necessarily the one in use now.
func (d *Dev) Emissivity() (float64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.read(context.Background(), &regEmissivity, true)
	if err == nil {
		var e float64
		if e, err = emissivity(v); err == nil {
			return e, nil
		}
	}
	return 0, fmt.Errorf("%s: %w", d.name, err)
}

func emissivity(v uint16) (float64, error) {
	e := float64(v) / 65535
	if e < 0.1 {
		return 0, fmt.Errorf("emissivity cell 0x24 holds 0x%04X (%.4f), outside 0.1..1.0 (an interrupted write?): %w", v, e, ErrInvalid)
	}
	return e, nil
}

// SetEmissivity stores e (0.1…1.0) in EEPROM: erase, wait, write, wait, read
// back. The chip uses it after its next power cycle. Readers wait while the
// write is in progress (about 2×Opts.EEPROMDelay).
func (d *Dev) SetEmissivity(e float64) error {
	if !(e >= 0.1 && e <= 1.0) {
		return fmt.Errorf("%s: emissivity %v outside 0.1..1.0", d.name, e)
	}
	want := uint16(math.Round(e * 65535))
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, err := d.read(context.Background(), &regEmissivity, true)
	if err != nil {
		return fmt.Errorf("%s: set emissivity %.4f: %w", d.name, e, err)
	}
	if cur == want {
		d.log.Debug("mlx90614: emissivity already set", "emissivity", e)
		return nil
	}
	if err := d.write(&regEmissivity, 0); err != nil {
		return fmt.Errorf("%s: set emissivity %.4f: erase: %w", d.name, e, err)
	}
	if err := d.write(&regEmissivity, want); err != nil {
		return fmt.Errorf("%s: set emissivity %.4f: %w", d.name, e, err)
	}
	got, err := d.read(context.Background(), &regEmissivity, true)
	if err != nil {
		return fmt.Errorf("%s: set emissivity %.4f: verify: %w", d.name, e, err)
	}
	if got != want {
		return fmt.Errorf("%s: set emissivity %.4f: wrote 0x%04X to cell 0x24, read back 0x%04X: %w", d.name, e, want, got, ErrVerify)
	}
	d.log.Info("mlx90614: emissivity written; the chip uses it after a power cycle", "emissivity", e, "was", float64(cur)/65535)
	return nil
}

// temp reads a temperature register, after throwing away the readings still
// to discard. d.mu is held.
func (d *Dev) temp(ctx context.Context, r *register) (physic.Temperature, error) {
	for d.skip[r.slot] > 0 {
		if _, err := d.read(ctx, r, false); err != nil {
			return 0, err
		}
		d.skip[r.slot]--
	}
	v, err := d.read(ctx, r, true)
	if err != nil {
		return 0, err
	}
	return physic.Temperature(v) * lsb, nil
}

// read does a Read Word of r with up to 1+Retries attempts. Without check
// only the bus transaction has to succeed: the bytes are a reading being
// discarded. d.mu is held.
func (d *Dev) read(ctx context.Context, r *register, check bool) (uint16, error) {
	attempts := 1 + d.opts.Retries
	var err error
	busErr := false
	for i := 1; i <= attempts; i++ {
		if i > 1 {
			// A caller with a deadline (Measure) would rather have the last
			// cause now than wait out every retry.
			if e := ctx.Err(); e != nil {
				if busErr {
					d.skip = [3]int{d.opts.Discard, d.opts.Discard, d.opts.Discard}
				}
				return 0, fmt.Errorf("read %s (0x%02X): %w after %d of %d attempts, last: %w", r.name, r.cmd, e, i-1, attempts, err)
			}
		}
		d.w[0] = r.cmd
		d.r = [3]byte{} // a bus that returns short must not leave the last frame behind
		if e := d.bus.Tx(d.opts.Addr, d.w[:1], d.r[:]); e != nil {
			err, busErr = e, true
			continue
		}
		busErr = false
		v := uint16(d.r[0]) | uint16(d.r[1])<<8
		if !check {
			return v, nil
		}
		var e error
		if v, e = d.check(r, v); e == nil {
			if err != nil {
				d.warnf("mlx90614: read recovered", "register", r.name, "attempts", i, "err", err)
			}
			return v, nil
		}
		err = e
	}
	if busErr {
		// The chip may have lost power (a loose connector): its next readings
		// are again the unreliable first ones.
		d.skip = [3]int{d.opts.Discard, d.opts.Discard, d.opts.Discard}
	}
	d.warnf("mlx90614: read failed", "register", r.name, "attempts", attempts, "err", err)
	what := "read"
	if !check {
		what = "discard warm-up reading of"
	}
	if attempts == 1 {
		return 0, fmt.Errorf("%s %s (0x%02X): %w", what, r.name, r.cmd, err)
	}
	return 0, fmt.Errorf("%s %s (0x%02X): %d attempts, last: %w", what, r.name, r.cmd, attempts, err)
}

// check verifies the frame in d.r holding v.
func (d *Dev) check(r *register, v uint16) (uint16, error) {
	if want := pecRead(d.opts.Addr, r.cmd, d.r[0], d.r[1]); d.r[2] != want {
		return 0, fmt.Errorf("data 0x%04X, PEC 0x%02X, want 0x%02X: %w", v, d.r[2], want, ErrPEC)
	}
	if !r.temp {
		return v, nil
	}
	switch {
	case v == 0xFFFF:
		return 0, fmt.Errorf("0xFFFF: %w", ErrInvalid)
	case v&0x8000 != 0:
		return 0, fmt.Errorf("0x%04X: %w", v, ErrErrorFlag)
	}
	if v < r.lo || v > r.hi {
		return 0, fmt.Errorf("0x%04X = %s outside %s..%s: %w", v, physic.Temperature(v)*lsb, physic.Temperature(r.lo)*lsb, physic.Temperature(r.hi)*lsb, ErrInvalid)
	}
	return v, nil
}

// write does a Write Word of v to r with up to 1+Retries attempts, pausing
// EEPROMDelay after each: even a write that failed may have started one.
// d.mu is held.
func (d *Dev) write(r *register, v uint16) error {
	lo, hi := byte(v), byte(v>>8)
	d.w = [4]byte{r.cmd, lo, hi, pecWrite(d.opts.Addr, r.cmd, lo, hi)}
	attempts := 1 + d.opts.Retries
	var err error
	for i := 1; i <= attempts; i++ {
		err = d.bus.Tx(d.opts.Addr, d.w[:], nil)
		time.Sleep(d.opts.EEPROMDelay)
		if err == nil {
			return nil
		}
	}
	d.warnf("mlx90614: write failed", "register", r.name, "attempts", attempts, "err", err)
	if attempts == 1 {
		return fmt.Errorf("write 0x%04X to %s (0x%02X): %w", v, r.name, r.cmd, err)
	}
	return fmt.Errorf("write 0x%04X to %s (0x%02X): %d attempts, last: %w", v, r.name, r.cmd, attempts, err)
}

// warnf logs at most one line per period; the lines it holds back are counted
// in the next one.
func (d *Dev) warnf(msg string, args ...any) {
	ok, sup := d.warn.allow(time.Now())
	if !ok {
		return
	}
	if sup > 0 {
		args = append(args, "suppressed", sup)
	}
	d.log.Warn(msg, args...)
}

// limiter lets one log line through per period and counts the rest.
type limiter struct {
	every      time.Duration
	last       time.Time
	suppressed int
}

func (l *limiter) allow(now time.Time) (bool, int) {
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}
