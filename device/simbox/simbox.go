// Package simbox assembles a simulated gate box: emulated chips and a scanner on
// a pseudo-terminal, driven through the real drivers, with simulated GPIO pins
// for the relay and lights. `gated -simulate`, `gatectl sim` and the end-to-end
// tests all run on it, so what they exercise is the driver code a real box runs.
package simbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"campusgate/device/display"
	"campusgate/device/display/displaysim"
	"campusgate/device/gpiosim"
	"campusgate/device/indicator"
	"campusgate/device/mlx90614"
	"campusgate/device/mlx90614/mlx90614sim"
	"campusgate/device/mlx90632"
	"campusgate/device/mlx90632/mlx90632sim"
	"campusgate/device/relay"
	"campusgate/device/scanner"
	"campusgate/device/scanner/scannersim"

	"periph.io/x/conn/v3/physic"
)

// Opts chooses the simulated hardware.
type Opts struct {
	Sensor string // mlx90614 (default) or mlx90632
	Quiet  bool   // buzzer off
	// Display puts an emulated small display on the box's I²C bus, beside
	// the sensor; nil: none. The box does not drive it: Bus is where
	// display.Open finds it.
	Display *display.Config
	Logger  *slog.Logger
}

// Thermometer is what the gate flow reads.
type Thermometer interface {
	Measure(ctx context.Context) (object, ambient physic.Temperature, err error)
	String() string
	Halt() error
}

// Box is a simulated gate box.
type Box struct {
	Thermometer Thermometer
	SensorName  string
	Scanner     *scanner.Dev
	Relay       *relay.Dev
	Lights      *indicator.Dev
	RelayPin    *gpiosim.Pin
	GreenPin    *gpiosim.Pin
	RedPin      *gpiosim.Pin
	BuzzerPin   *gpiosim.Pin
	// Bus is the emulated I²C bus the sensor and the display share.
	Bus *displaysim.Bus
	// OLED or LCD is the emulated display Opts.Display named (the other nil):
	// what it shows, decoded from what its driver sent.
	OLED *displaysim.SSD1306
	LCD  *displaysim.LCD

	chip14  *mlx90614sim.Chip
	chip32  *mlx90632sim.Chip
	scanSim *scannersim.Serial
	dir     string
	mu      sync.Mutex
	closed  bool
}

// New builds the box. Close it to remove its pseudo-terminal.
func New(opts *Opts) (_ *Box, err error) {
	o := Opts{}
	if opts != nil {
		o = *opts
	}
	if o.Sensor == "" {
		o.Sensor = "mlx90614"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	b := &Box{SensorName: o.Sensor, Bus: displaysim.NewBus()}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if c := o.Display; c != nil {
		if err := c.Check(); err != nil {
			return nil, fmt.Errorf("simbox: display: %w", err)
		}
		b.OLED, b.LCD = AttachDisplay(b.Bus, *c)
	}
	switch o.Sensor {
	case "mlx90614":
		b.chip14 = mlx90614sim.New(mlx90614.DefaultAddr)
		b.chip14.SetNoise(2) // as a real chip's words jitter: the gate's stuck check expects it
		b.Bus.Attach(mlx90614.DefaultAddr, b.chip14)
		d, err := mlx90614.New(b.Bus, nil)
		if err != nil {
			return nil, fmt.Errorf("simbox: %w", err)
		}
		b.Thermometer = d
	case "mlx90632":
		b.chip32 = mlx90632sim.New(mlx90632.DefaultAddr)
		b.chip32.SetNoise(2)
		b.Bus.Attach(mlx90632.DefaultAddr, b.chip32)
		d, err := mlx90632.New(b.Bus, nil)
		if err != nil {
			return nil, fmt.Errorf("simbox: %w", err)
		}
		b.Thermometer = d
	default:
		return nil, fmt.Errorf("simbox: unknown sensor %q (mlx90614 or mlx90632)", o.Sensor)
	}
	if b.dir, err = os.MkdirTemp("", "campusgate-sim"); err != nil {
		return nil, fmt.Errorf("simbox: %w", err)
	}
	so := scanner.DefaultOpts
	so.Logger = o.Logger
	if b.scanSim, err = scannersim.NewSerial(b.dir, so.Prefix, so.Suffix); err != nil {
		return nil, fmt.Errorf("simbox: emulated scanner: %w", err)
	}
	if b.Scanner, err = scanner.Open(b.scanSim.Path(), &so); err != nil {
		return nil, fmt.Errorf("simbox: %w", err)
	}
	b.RelayPin = gpiosim.New("GPIO17", 17, nil)
	b.GreenPin = gpiosim.New("GPIO5", 5, nil)
	b.RedPin = gpiosim.New("GPIO6", 6, nil)
	b.BuzzerPin = gpiosim.New("GPIO13", 13, nil)
	ro := relay.DefaultOpts
	ro.Logger = o.Logger
	if b.Relay, err = relay.New(b.RelayPin, &ro); err != nil {
		return nil, fmt.Errorf("simbox: %w", err)
	}
	b.Lights, err = indicator.New(indicator.Pins{
		Green:  indicator.Output{Pin: b.GreenPin},
		Red:    indicator.Output{Pin: b.RedPin},
		Buzzer: indicator.Output{Pin: b.BuzzerPin},
	}, &indicator.Opts{Logger: o.Logger, Quiet: o.Quiet})
	if err != nil {
		return nil, fmt.Errorf("simbox: %w", err)
	}
	return b, nil
}

// SetForehead makes the emulated sensor see an object at t (ambient stays).
func (b *Box) SetForehead(t physic.Temperature) {
	if b.chip14 != nil {
		b.chip14.SetObject(t)
	}
	if b.chip32 != nil {
		b.chip32.SetObject(t)
	}
}

// SetAmbient sets the emulated sensor's ambient temperature.
func (b *Box) SetAmbient(t physic.Temperature) {
	if b.chip14 != nil {
		b.chip14.SetAmbient(t)
	}
	if b.chip32 != nil {
		b.chip32.SetAmbient(t)
	}
}

// Leave makes the forehead go away: the sensor sees the room again.
func (b *Box) Leave() {
	b.SetForehead(physic.ZeroCelsius + 24*physic.Celsius)
}

// Scan types a code into the emulated scanner, framed as the real one frames it.
func (b *Box) Scan(code string) error { return b.scanSim.Scan(code) }

// ScanRaw writes raw bytes into the emulated scanner's line (garbage, faults).
func (b *Box) ScanRaw(p []byte) error { return b.scanSim.WriteRaw(p) }

// ScannerPath is the pseudo-terminal the real serial driver opened.
func (b *Box) ScannerPath() string { return b.scanSim.Path() }

// Close releases the relay first, then everything else.
func (b *Box) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	if b.Relay != nil {
		errs = append(errs, b.Relay.Halt())
	}
	if b.Lights != nil {
		errs = append(errs, b.Lights.Halt())
	}
	if b.Scanner != nil {
		errs = append(errs, b.Scanner.Close())
	}
	if b.scanSim != nil {
		errs = append(errs, b.scanSim.Close())
	}
	if b.dir != "" {
		errs = append(errs, os.RemoveAll(b.dir))
	}
	return errors.Join(errs...)
}

// AttachDisplay puts the emulated display c names on bus, at its address,
// and returns it: the OLED or the LCD, the other nil.
func AttachDisplay(bus *displaysim.Bus, c display.Config) (*displaysim.SSD1306, *displaysim.LCD) {
	if c.Chip == display.ChipHD44780 {
		lcd := displaysim.NewLCD()
		bus.Attach(c.Address(), lcd)
		return nil, lcd
	}
	oled := displaysim.NewSSD1306(c.PanelHeight())
	bus.Attach(c.Address(), oled)
	return oled, nil
}
