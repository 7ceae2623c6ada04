// Package mlx90632sim emulates an MLX90632 behind periph's i2c.Bus, byte for
// byte: 16-bit register addresses, big-endian words, sequential reads, the
// status register's data-ready flag and cycle position, and RAM holding raw
// values that the real driver turns into temperatures.
//
// SetObject and SetAmbient find the raw words for a requested temperature by
// inverting the driver's own DSPv5 maths numerically (bisection over the raw
// integers), for a black body (emissivity 1).
package mlx90632sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"campusgate/device/mlx90632"

	"periph.io/x/conn/v3/physic"
)

// ErrNACK is what every refused transaction wraps.
var ErrNACK = errors.New("mlx90632sim: NACK")

// Calibration is the EEPROM calibration of the emulated part: the constants of
// Melexis' reference library's unit tests.
var Calibration = mlx90632.Calib{
	PR: 0x00587f5b, PG: 0x04a10289, PT: -431368, PO: 0x00001e0f,
	Ea: 4859535, Eb: 5686508, Fa: 53855361, Fb: 42874149, Ga: -14556410,
	Gb: 9728, Ka: 10752, Ha: 16384, Hb: 0,
}

// Chip is an emulated MLX90632.
type Chip struct {
	addr uint16

	mu        sync.Mutex
	regs      map[uint16]uint16
	period    time.Duration
	readyAt   time.Time
	cycle     uint16
	nack      int
	stuck     bool
	garbage   bool
	unplugged bool
	noise     int // ± steps of jitter on the object channels' raw words
	obj, amb  float64
}

// New returns a chip at addr with an ambient and object of 25 °C, measuring
// every 5 ms (the real part's fastest rate is 1 ms; the default 500 ms would
// only slow tests down).
func New(addr uint16) *Chip {
	c := &Chip{addr: addr, regs: map[uint16]uint16{}, period: 5 * time.Millisecond, cycle: 1, obj: 25, amb: 25}
	c.writeEEPROM(Calibration)
	c.regs[mlx90632.RegEEVersion] = 0x8505 // as production parts read
	c.regs[mlx90632.RegControl] = 0x0006   // continuous, medical
	c.regs[mlx90632.RegStatus] = 0
	c.readyAt = time.Now().Add(c.period)
	c.update()
	return c
}

func (c *Chip) writeEEPROM(k mlx90632.Calib) {
	put32 := func(reg uint16, v int32) {
		c.regs[reg] = uint16(uint32(v))
		c.regs[reg+1] = uint16(uint32(v) >> 16)
	}
	put32(0x240C, k.PR)
	put32(0x240E, k.PG)
	put32(0x2410, k.PT)
	put32(0x2412, k.PO)
	for reg := uint16(0x2414); reg < 0x2424; reg++ {
		c.regs[reg] = 0 // Aa..Db: not used by DSPv5 medical
	}
	put32(0x2424, k.Ea)
	put32(0x2426, k.Eb)
	put32(0x2428, k.Fa)
	put32(0x242A, k.Fb)
	put32(0x242C, k.Ga)
	c.regs[0x242E] = uint16(k.Gb)
	c.regs[0x242F] = uint16(k.Ka)
	c.regs[0x2481] = uint16(k.Ha)
	c.regs[0x2482] = uint16(k.Hb)
}

// SetEEVersion sets the EEPROM version word (0x8505 on production parts).
func (c *Chip) SetEEVersion(v uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.regs[mlx90632.RegEEVersion] = v
}

// SetPeriod sets the measurement period.
func (c *Chip) SetPeriod(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.period = d
}

// SetObject sets the temperature of the object in front of the sensor.
func (c *Chip) SetObject(t physic.Temperature) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.obj = celsius(t)
	c.update()
}

// SetAmbient sets the sensor's own temperature.
func (c *Chip) SetAmbient(t physic.Temperature) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.amb = celsius(t)
	c.update()
}

const ambOld = 23030 // the reference channel's raw word; ambient is solved on the other

// update solves the raw RAM words for the current temperatures.
func (c *Chip) update() {
	k := Calibration
	ambNew := solve(func(x int16) float64 { return k.Ambient(k.PreAmbient(x, ambOld)) }, c.amb, 1, 32767)
	preA := k.PreAmbient(ambNew, ambOld)
	obj := solve(func(x int16) float64 { return k.Object(k.PreObject(x, x, ambNew, ambOld), preA, 1) }, c.obj, -32768, 32767)
	for _, ch := range []uint16{1, 2} {
		c.regs[mlx90632.RegRAM+3*ch] = uint16(obj)
		c.regs[mlx90632.RegRAM+3*ch+1] = uint16(obj)
	}
	c.regs[mlx90632.RegRAM+5] = uint16(ambNew)
	c.regs[mlx90632.RegRAM+8] = uint16(ambOld)
}

// solve finds the raw value in [lo, hi] whose result is nearest want; f must
// increase with x.
func solve(f func(int16) float64, want float64, lo, hi int32) int16 {
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		// NaN (a raw value the maths cannot take) counts as too cold.
		if v := f(int16(mid)); v < want || math.IsNaN(v) {
			lo = mid
		} else {
			hi = mid
		}
	}
	if want-f(int16(lo)) < f(int16(hi))-want {
		return int16(lo)
	}
	return int16(hi)
}

// Inject makes the next n transactions NACK.
func (c *Chip) Inject(n int) { c.mu.Lock(); c.nack = n; c.mu.Unlock() }

// SetNoise makes every read of an object channel's raw word differ from the
// exact one by up to ±n steps, as a real part's do (0: exact, the default).
func (c *Chip) SetNoise(n int) { c.mu.Lock(); c.noise = n; c.mu.Unlock() }

// Stuck makes the status never show new data (a hung measurement).
func (c *Chip) Stuck(on bool) { c.mu.Lock(); c.stuck = on; c.mu.Unlock() }

// Garbage makes RAM reads return impossible values.
func (c *Chip) Garbage(on bool) { c.mu.Lock(); c.garbage = on; c.mu.Unlock() }

// Blank erases the EEPROM, as a part that lost its calibration.
func (c *Chip) Blank() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for reg := uint16(0x2400); reg < 0x2500; reg++ {
		c.regs[reg] = 0xFFFF
	}
}

// Unplug makes every transaction NACK until Replug.
func (c *Chip) Unplug() { c.mu.Lock(); c.unplugged = true; c.mu.Unlock() }

// Replug ends Unplug.
func (c *Chip) Replug() { c.mu.Lock(); c.unplugged = false; c.mu.Unlock() }

// String implements i2c.Bus.
func (c *Chip) String() string { return fmt.Sprintf("mlx90632sim@%#02x", c.addr) }

// SetSpeed implements i2c.Bus; the part runs up to 1 MHz.
func (c *Chip) SetSpeed(f physic.Frequency) error {
	if f > physic.MegaHertz {
		return fmt.Errorf("mlx90632sim: %s is faster than 1 MHz", f)
	}
	return nil
}

// Tx implements i2c.Bus.
func (c *Chip) Tx(addr uint16, w, r []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case addr != c.addr:
		return fmt.Errorf("%w: no device at %#02x", ErrNACK, addr)
	case c.unplugged:
		return fmt.Errorf("%w: %s unplugged", ErrNACK, c)
	case c.nack > 0:
		c.nack--
		return fmt.Errorf("%w: injected", ErrNACK)
	case len(w) == 2 && len(r) > 0 && len(r)%2 == 0:
		reg := binary.BigEndian.Uint16(w)
		for i := 0; i < len(r)/2; i++ {
			binary.BigEndian.PutUint16(r[2*i:], c.read(reg+uint16(i)))
		}
		return nil
	case len(w) == 4 && len(r) == 0:
		reg, v := binary.BigEndian.Uint16(w), binary.BigEndian.Uint16(w[2:])
		return c.write(reg, v)
	}
	return fmt.Errorf("%w: malformed transaction w=% x r=%d bytes", ErrNACK, w, len(r))
}

func (c *Chip) read(reg uint16) uint16 {
	switch {
	case reg == mlx90632.RegStatus:
		now := time.Now()
		if !c.stuck && !now.Before(c.readyAt) && c.regs[reg]&1 == 0 {
			c.cycle = 3 - c.cycle
			c.regs[reg] = c.regs[reg]&^(0x1F<<2) | c.cycle<<2 | 1
		}
		return c.regs[reg]
	case c.garbage && reg >= mlx90632.RegRAM && reg < mlx90632.RegRAM+0x20:
		return 0 // a cleared RAM: the maths gives NaN
	case c.noise > 0 && !c.stuck && (reg == mlx90632.RegRAM+3 || reg == mlx90632.RegRAM+4 || reg == mlx90632.RegRAM+6 || reg == mlx90632.RegRAM+7):
		// The object channels' words as a real part's jitter from one read to the next.
		return uint16(int16(c.regs[reg]) + int16(rand.IntN(2*c.noise+1)-c.noise))
	}
	return c.regs[reg]
}

func (c *Chip) write(reg, v uint16) error {
	switch reg {
	case mlx90632.RegStatus:
		// Only data-ready is writable (cleared by the host); clearing it starts the wait
		// for the next measurement.
		if v&1 == 0 && c.regs[reg]&1 != 0 {
			c.readyAt = time.Now().Add(c.period)
		}
		c.regs[reg] = c.regs[reg]&^1 | v&1
		return nil
	case mlx90632.RegControl:
		c.regs[reg] = v
		return nil
	}
	return fmt.Errorf("%w: register %#04x is not writable", ErrNACK, reg)
}

func celsius(t physic.Temperature) float64 {
	return float64(t-physic.ZeroCelsius) / float64(physic.Celsius)
}
