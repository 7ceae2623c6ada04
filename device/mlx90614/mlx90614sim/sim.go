package mlx90614sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// ErrNACK is wrapped by every error Tx returns: the chip did not acknowledge.
var ErrNACK = errors.New("mlx90614sim: NACK")

// Fault is a kind of misbehaviour Inject arms for the next n transactions.
type Fault int

const (
	// FaultNACK: the next n transactions are not acknowledged.
	FaultNACK Fault = iota + 1
	// FaultPEC: the next n reads carry a wrong PEC.
	FaultPEC
	// FaultErrorFlag: the next n temperature reads (RAM 0x06–0x08) have bit
	// 15, the chip's error flag, set.
	FaultErrorFlag
	// FaultAllOnes: the next n reads return 0xFFFF with a matching PEC.
	FaultAllOnes
	// FaultGarbage: the next n reads return random bytes, PEC included.
	FaultGarbage
	// FaultWriteLost: the next n EEPROM writes are acknowledged but not
	// stored, like a worn-out cell.
	FaultWriteLost
	numFaults
)

func (f Fault) String() string {
	switch f {
	case FaultNACK:
		return "NACK"
	case FaultPEC:
		return "bad PEC"
	case FaultErrorFlag:
		return "error flag"
	case FaultAllOnes:
		return "0xFFFF"
	case FaultGarbage:
		return "garbage"
	case FaultWriteLost:
		return "write lost"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Stats counts what the chip saw since New.
type Stats struct {
	Reads            int // Read Word transactions answered
	Writes           int // Write Word transactions acknowledged
	NACKs            int // transactions not acknowledged, for any reason
	BusyNACKs        int // of which: during an EEPROM write
	BadPECWrites     int // Write Words refused for a wrong or missing PEC
	EEPROMViolations int // non-zero writes over a cell that was not erased
}

// Memory map (datasheet "RAM" and "EEPROM").
const (
	ramTa          = 0x06
	ramTobj1       = 0x07
	ramTobj2       = 0x08
	opEEPROM       = 0x20
	cellEmissivity = 0x04
	cellConfig1    = 0x05
	cellAddr       = 0x0E
)

// DefaultWriteTime is the datasheet's EEPROM erase/write time.
const DefaultWriteTime = 5 * time.Millisecond

// Chip is an emulated MLX90614; it implements i2c.Bus. Use New.
type Chip struct {
	mu        sync.Mutex
	addr      uint16 // the address answered, latched from EEPROM at power-on
	ram       [32]uint16
	eeprom    [32]uint16
	object    physic.Temperature
	ambient   physic.Temperature
	surfaceE  float64
	activeE   uint16 // the emissivity word latched at power-on
	writeTime time.Duration
	busyUntil time.Time
	unplugged bool
	stuck     bool
	noise     int                // ± LSB of read-to-read jitter on the temperature words
	offset    physic.Temperature // added to the object temperature the chip reports (drift)
	warmupN   int
	warmupRaw uint16
	warmup    [3]int // reads left per temperature register before valid data
	faults    [numFaults]int
	rng       *rand.PCG
	speed     physic.Frequency
	stats     Stats
}

var _ i2c.Bus = (*Chip)(nil)

// New returns a powered chip answering at addr, with the factory emissivity
// 1.0, ambient and object at 24 °C, no warm-up garbage and the datasheet's
// 5 ms EEPROM write time.
func New(addr uint16) *Chip {
	c := &Chip{
		addr:      addr & 0x7F,
		object:    physic.ZeroCelsius + 24*physic.Celsius,
		ambient:   physic.ZeroCelsius + 24*physic.Celsius,
		surfaceE:  1,
		writeTime: DefaultWriteTime,
		rng:       rand.NewPCG(0x90614, uint64(addr)),
		speed:     100 * physic.KiloHertz,
	}
	// Plausible factory values; only the emissivity and the address are used.
	c.eeprom[0x00] = 0x9993 // To max for PWM, 0.01 K: 120 °C
	c.eeprom[0x01] = 0x62E3 // To min for PWM: −20 °C
	c.eeprom[0x02] = 0x0201 // PWM control
	c.eeprom[0x03] = 0xF71C // Ta range for PWM
	c.eeprom[cellEmissivity] = 0xFFFF
	c.eeprom[cellConfig1] = 0x9FB4
	c.eeprom[cellAddr] = addr & 0x7F
	for i := range 4 { // ID number, read-only
		c.eeprom[0x1C+i] = uint16(0x1A2B+0x1111*i) ^ uint16(addr)
	}
	c.powerOn()
	return c
}

// String names the emulated chip by the address it answers.
func (c *Chip) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("mlx90614sim@%#02x", c.addr)
}

// SetSpeed accepts 10–100 kHz, the chip's SMBus range, and refuses the rest so
// that code setting a faster bus learns about it here and not at a gate.
func (c *Chip) SetSpeed(f physic.Frequency) error {
	if f < 10*physic.KiloHertz || f > 100*physic.KiloHertz {
		return fmt.Errorf("mlx90614sim: bus speed %s outside the chip's SMBus range 10kHz..100kHz", f)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.speed = f
	return nil
}

// Tx answers one SMBus transaction: Read Word (w = [cmd], r = [lo, hi, PEC];
// a shorter r stops early, a longer one reads 0xFF after the PEC) or Write
// Word (w = [cmd, lo, hi, PEC], no r). Anything else is not acknowledged.
// Address 0x00 is answered as well as the chip's own, as the real chip does.
func (c *Chip) Tx(addr uint16, w, r []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.unplugged:
		return c.nack(addr, "nothing connected")
	case addr != c.addr && addr != 0:
		return c.nack(addr, "no chip at this address")
	case !c.busyUntil.IsZero() && time.Now().Before(c.busyUntil):
		c.stats.BusyNACKs++
		return c.nack(addr, "busy writing EEPROM")
	case c.take(FaultNACK):
		return c.nack(addr, "injected fault")
	}
	a := byte(addr) << 1
	switch {
	case len(w) == 1 && len(r) > 0:
		return c.readWord(addr, a, w[0], r)
	case len(w) == 4 && len(r) == 0:
		return c.writeWord(addr, a, w)
	case len(w) == 3 && len(r) == 0:
		c.stats.BadPECWrites++
		return c.nack(addr, "Write Word without PEC")
	}
	return c.nack(addr, fmt.Sprintf("unsupported transaction (write %d bytes, read %d)", len(w), len(r)))
}

func (c *Chip) readWord(addr uint16, a, cmd byte, r []byte) error {
	var v uint16
	switch {
	case cmd < opEEPROM:
		v = c.ram[cmd]
		if cmd >= ramTa && cmd <= ramTobj2 {
			if i := cmd - ramTa; c.warmup[i] > 0 {
				c.warmup[i]--
				v = c.warmupRaw
			} else if c.noise > 0 && !c.stuck {
				v = jitter(v, int(c.rng.Uint64()%uint64(2*c.noise+1))-c.noise)
			}
			if c.take(FaultErrorFlag) {
				v |= 0x8000
			}
		}
	case cmd < 2*opEEPROM:
		v = c.eeprom[cmd&0x1F]
	default:
		return c.nack(addr, fmt.Sprintf("command %#02x not emulated", cmd))
	}
	if c.take(FaultAllOnes) {
		v = 0xFFFF
	}
	lo, hi := byte(v), byte(v>>8)
	pec := crc8(0, a, cmd, a|1, lo, hi)
	if c.take(FaultPEC) {
		pec ^= 0x5A
	}
	if c.take(FaultGarbage) {
		x := c.rng.Uint64()
		lo, hi, pec = byte(x), byte(x>>8), byte(x>>16)
	}
	frame := [3]byte{lo, hi, pec}
	for i := copy(r, frame[:]); i < len(r); i++ {
		r[i] = 0xFF // the chip has let go of SDA: the pull-ups read as ones
	}
	c.stats.Reads++
	return nil
}

func (c *Chip) writeWord(addr uint16, a byte, w []byte) error {
	cmd, lo, hi := w[0], w[1], w[2]
	if crc8(0, a, cmd, lo, hi) != w[3] {
		c.stats.BadPECWrites++
		return c.nack(addr, fmt.Sprintf("Write Word to %#02x: bad PEC %#02x", cmd, w[3]))
	}
	if cmd < opEEPROM || cmd >= 2*opEEPROM {
		return c.nack(addr, fmt.Sprintf("Write Word to %#02x: not an EEPROM cell", cmd))
	}
	cell := cmd & 0x1F
	if cell > cellConfig1 && cell != cellAddr {
		return c.nack(addr, fmt.Sprintf("Write Word to %#02x: factory cell", cmd))
	}
	c.stats.Writes++
	c.busyUntil = time.Now().Add(c.writeTime)
	if c.take(FaultWriteLost) {
		return nil
	}
	v := uint16(lo) | uint16(hi)<<8
	if old := c.eeprom[cell]; v != 0 && old != 0 {
		c.stats.EEPROMViolations++
		v |= old
	}
	c.eeprom[cell] = v
	return nil
}

func (c *Chip) nack(addr uint16, why string) error {
	c.stats.NACKs++
	return fmt.Errorf("mlx90614sim@%#02x: addr %#02x: %s: %w", c.addr, addr, why, ErrNACK)
}

// take uses up one armed fault of kind f, if any.
func (c *Chip) take(f Fault) bool {
	if c.faults[f] == 0 {
		return false
	}
	c.faults[f]--
	return true
}

// crc8 is the SMBus PEC (polynomial 0x07), bit by bit: the driver uses a
// table, so the two check each other.
func crc8(crc byte, data ...byte) byte {
	for _, b := range data {
		crc ^= b
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x07
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// SetObject sets the true temperature of the object in the sensor's view.
func (c *Chip) SetObject(t physic.Temperature) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.object = t
	c.update()
}

// SetAmbient sets the chip's own temperature.
func (c *Chip) SetAmbient(t physic.Temperature) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ambient = t
	c.update()
}

// SetSurfaceEmissivity sets the emissivity of the object in view (default
// 1.0; human skin is about 0.98).
func (c *Chip) SetSurfaceEmissivity(e float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.surfaceE = e
	c.update()
}

// PowerCycle switches the chip off and on: it latches the emissivity and the
// address from EEPROM, forgets an EEPROM write in progress and starts its
// warm-up (SetWarmup) again. Armed faults stay armed.
func (c *Chip) PowerCycle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.powerOn()
}

func (c *Chip) powerOn() {
	c.activeE = c.eeprom[cellEmissivity]
	if a := c.eeprom[cellAddr] & 0x7F; a != 0 {
		c.addr = a
	}
	c.busyUntil = time.Time{}
	c.warmup = [3]int{c.warmupN, c.warmupN, c.warmupN}
	c.update()
}

// SetWarmup makes the first n reads of each temperature register after every
// power-on return raw (with a correct PEC). The datasheet only says the first
// readings after power-on are not valid; what they hold is not specified.
// It applies from now as well as after the next power-on.
func (c *Chip) SetWarmup(n int, raw uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warmupN, c.warmupRaw = n, raw
	c.warmup = [3]int{n, n, n}
}

// SetWriteTime sets how long after a Write Word the chip does not answer.
func (c *Chip) SetWriteTime(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeTime = d
}

// Inject arms n occurrences of fault f (added to any already armed).
func (c *Chip) Inject(f Fault, n int) {
	if f <= 0 || f >= numFaults || n < 0 {
		panic(fmt.Sprintf("mlx90614sim: Inject(%v, %d)", f, n))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults[f] += n
}

// Unplug disconnects the chip: every transaction is not acknowledged until
// Replug.
func (c *Chip) Unplug() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unplugged = true
}

// Replug connects the chip again; it powers on as after PowerCycle.
func (c *Chip) Replug() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unplugged = false
	c.powerOn()
}

// SetNoise makes every read of a temperature register differ from the true
// word by up to ±lsb steps of 0.02 K, uniformly, as a real chip's readings
// jitter (0: exact words, the default). A stuck chip (Stick) does not jitter.
func (c *Chip) SetNoise(lsb int) {
	if lsb < 0 || lsb > 100 {
		panic(fmt.Sprintf("mlx90614sim: SetNoise(%d)", lsb))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noise = lsb
}

// SetOffset adds d to the object temperature the chip reports, as a sensor
// whose calibration drifted or whose window is dirty; stepping it over time
// is a drift.
func (c *Chip) SetOffset(d physic.Temperature) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = d
	c.update()
}

// Stick freezes the temperature registers at their current words, as a
// sensor that stopped measuring: setters still record the new temperatures,
// which show once Unstick is called.
func (c *Chip) Stick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stuck = true
}

// Unstick undoes Stick.
func (c *Chip) Unstick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stuck = false
	c.update()
}

// EEPROM returns the word in cell (0x00–0x1F), bypassing the bus.
func (c *Chip) EEPROM(cell byte) uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eeprom[cell&0x1F]
}

// SetEEPROM puts v in cell as the factory would, bypassing the bus and its
// rules; like a write over the bus it takes effect at the next power-on.
func (c *Chip) SetEEPROM(cell byte, v uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eeprom[cell&0x1F] = v
}

// Speed returns the bus speed last set with SetSpeed (100 kHz at first).
func (c *Chip) Speed() physic.Frequency {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speed
}

// Stats returns the counters.
func (c *Chip) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// update recomputes the RAM words from the temperatures. c.mu is held.
func (c *Chip) update() {
	if c.stuck {
		return
	}
	ta := raw(c.ambient)
	obj := c.reported()
	if obj != 0 {
		obj += c.offset
	}
	to := raw(obj)
	c.ram[ramTa] = ta
	c.ram[ramTobj1] = to
	c.ram[ramTobj2] = to
}

// reported is the object temperature the chip computes with its latched
// emissivity: it receives εs·σ(To⁴−Ta⁴) and divides by its own ε.
func (c *Chip) reported() physic.Temperature {
	if c.activeE == 0 {
		return 0 // an erased emissivity cell: the chip's arithmetic is undefined
	}
	ea := float64(c.activeE) / 65535
	if c.activeE == 0xFFFF && c.surfaceE == 1 {
		return c.object
	}
	k := func(t physic.Temperature) float64 { return float64(t) / float64(physic.Kelvin) }
	ta, to := k(c.ambient), k(c.object)
	ta4 := ta * ta * ta * ta
	t4 := ta4 + c.surfaceE/ea*(to*to*to*to-ta4)
	if t4 <= 0 {
		return 0
	}
	return physic.Temperature(math.Round(math.Sqrt(math.Sqrt(t4)) * float64(physic.Kelvin)))
}

// jitter moves a temperature word by d steps, within the 15 bits.
func jitter(v uint16, d int) uint16 {
	return uint16(min(max(int(v)+d, 0), 0x7FFF))
}

// raw is the RAM word for t: 0.02 K per bit, clamped to 15 bits so a setter
// can never raise the error flag by itself.
func raw(t physic.Temperature) uint16 {
	const lsb = 20 * physic.MilliKelvin
	if t <= 0 {
		return 0
	}
	v := (t + lsb/2) / lsb
	if v > 0x7FFF {
		return 0x7FFF
	}
	return uint16(v)
}
