// Package firmwareconfig holds the gate boxes' hardware profiles and loads
// them by name: boards (the I²C bus, the UART, the GPIO pins a relay and
// lights may use, the config.txt fragment, a small display if the box has
// one), sensors (chip, address, emissivity, refresh, calibration to body
// temperature) and scanners (serial or keyboard-wedge, baud and framing). The built-in ones are in this
// directory, embedded in gated; a box may add or override any in
// /etc/campusgate/profiles/{boards,sensors,scanners}/NAME.toml.
//
// A profile that does not parse, or a configuration that names a pin its
// board does not have, is an error naming the file and the key: gated
// refuses to start on it.
package firmwareconfig

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"campusgate/device/display"
	"campusgate/device/scanner"
	"campusgate/gate"

	"github.com/BurntSushi/toml"
)

//go:embed boards/*.toml sensors/*.toml scanners/*.toml boot/*.txt
var builtin embed.FS

// Dir is where a box keeps its own profiles, searched before the built-in
// ones.
var Dir = "/etc/campusgate/profiles"

// Board is a gate box's computer.
type Board struct {
	Name   string `toml:"name"`
	Title  string `toml:"title"`
	SoC    string `toml:"soc"`
	I2CBus string `toml:"i2c_bus"`
	UART   string `toml:"uart"`
	Boot   string `toml:"boot"` // the config.txt fragment in boot/
	GPIO   []int  `toml:"gpio"` // header GPIOs free for outputs
	// Defaults are the pins a box uses when its config names none.
	Defaults struct {
		RelayPin  string `toml:"relay_pin"`
		GreenPin  string `toml:"green_pin"`
		RedPin    string `toml:"red_pin"`
		BuzzerPin string `toml:"buzzer_pin"`
	} `toml:"defaults"`
	// Display is the small display on the I²C bus of a box without a
	// screen; nil: none. The built-in boards have none: a box that has one
	// says so in its own copy of its board's profile.
	Display *display.Config `toml:"display"`
}

// Sensor is a thermometer as mounted at the gate.
type Sensor struct {
	Name         string           `toml:"name"`
	Chip         string           `toml:"chip"` // mlx90614 or mlx90632
	Addr         uint16           `toml:"addr"`
	Emissivity   float64          `toml:"emissivity"`
	ReadInterval gate.Duration    `toml:"read_interval"`
	Calibration  gate.Calibration `toml:"calibration"`
}

// Scanner is a QR scanner's interface and framing.
type Scanner struct {
	Name   string `toml:"name"`
	Kind   string `toml:"kind"` // serial or hid
	Port   string `toml:"port"` // "" = the board's UART (serial)
	Baud   int    `toml:"baud"`
	Prefix string `toml:"prefix"` // none or stx
	Suffix string `toml:"suffix"` // cr, lf, crlf, etx
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,40}$`)

// read finds kind/name.toml in Dir, then among the built-in profiles.
func read(kind, name string) ([]byte, string, error) {
	if !nameRE.MatchString(name) {
		return nil, "", fmt.Errorf("%s profile %q: names are lower-case letters, digits, '.' and '-'", kind, name)
	}
	if Dir != "" {
		p := filepath.Join(Dir, kind, name+".toml")
		b, err := os.ReadFile(p)
		if err == nil {
			return b, p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, p, fmt.Errorf("%s profile %s: %w", kind, p, err)
		}
	}
	p := path.Join(kind, name+".toml")
	b, err := builtin.ReadFile(p)
	if err != nil {
		return nil, p, fmt.Errorf("no %s profile %q (built in: %s)", kind[:len(kind)-1], name, strings.Join(Names(kind), ", "))
	}
	return b, "firmware-config/" + p, nil
}

// decode parses a profile strictly: an unknown key is an error.
func decode(b []byte, file string, v any) error {
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(v)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return fmt.Errorf("%s: unknown key %s", file, und[0])
	}
	return nil
}

// parse decodes data (read from file) into v, strictly, and checks that the
// file calls itself name (*got is v's name field).
func parse(data []byte, file, name string, v any, got *string) error {
	if err := decode(data, file, v); err != nil {
		return err
	}
	if *got != name {
		return fmt.Errorf("%s: name %q, the file is %q", file, *got, name)
	}
	return nil
}

// Names lists the built-in profiles of a kind (boards, sensors, scanners).
func Names(kind string) []string {
	files, _ := fs.Glob(builtin, kind+"/*.toml")
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(path.Base(f), ".toml"))
	}
	sort.Strings(out)
	return out
}

// LoadBoard loads and checks a board profile.
func LoadBoard(name string) (Board, error) {
	data, file, err := read("boards", name)
	if err != nil {
		return Board{}, err
	}
	return parseBoard(data, file, name)
}

// parseBoard is LoadBoard on the bytes of file.
func parseBoard(data []byte, file, name string) (Board, error) {
	var b Board
	if err := parse(data, file, name, &b, &b.Name); err != nil {
		return b, err
	}
	switch {
	case b.I2CBus == "":
		return b, fmt.Errorf("%s: i2c_bus is required", file)
	case len(b.GPIO) == 0:
		return b, fmt.Errorf("%s: gpio lists no pins", file)
	}
	for _, p := range b.GPIO {
		if p < 0 || p > 53 {
			return b, fmt.Errorf("%s: gpio %d is not a BCM GPIO", file, p)
		}
	}
	if b.Boot != "" {
		if _, err := builtin.ReadFile("boot/" + b.Boot); err != nil {
			return b, fmt.Errorf("%s: boot fragment %q not found in firmware-config/boot", file, b.Boot)
		}
	}
	if b.Display != nil {
		if err := b.Display.Check(); err != nil {
			return b, fmt.Errorf("%s: display.%w", file, err)
		}
	}
	for _, d := range []struct{ key, pin string }{{"defaults.relay_pin", b.Defaults.RelayPin}, {"defaults.green_pin", b.Defaults.GreenPin},
		{"defaults.red_pin", b.Defaults.RedPin}, {"defaults.buzzer_pin", b.Defaults.BuzzerPin}} {
		if err := b.HasPin(d.pin); d.pin != "" && err != nil {
			return b, fmt.Errorf("%s: %s: %w", file, d.key, err)
		}
	}
	return b, nil
}

// HasPin checks that pin ("GPIO17" or "17") is one of the board's free GPIOs.
func (b Board) HasPin(pin string) error {
	n, ok := gate.PinNumber(pin)
	if !ok {
		return fmt.Errorf("pin %q: want GPIOn", pin)
	}
	if !slices.Contains(b.GPIO, n) {
		return fmt.Errorf("pin %s is not a free GPIO of the %s (free: %s)", pin, b.Title, pinList(b.GPIO))
	}
	return nil
}

func pinList(ps []int) string {
	var s []string
	for _, p := range ps {
		s = append(s, strconv.Itoa(p))
	}
	return strings.Join(s, ", ")
}

// BootFragment is the board's config.txt fragment.
func (b Board) BootFragment() (string, error) {
	if b.Boot == "" {
		return "", nil
	}
	data, err := builtin.ReadFile("boot/" + b.Boot)
	return string(data), err
}

// LoadSensor loads and checks a sensor profile.
func LoadSensor(name string) (Sensor, error) {
	data, file, err := read("sensors", name)
	if err != nil {
		return Sensor{}, err
	}
	return parseSensor(data, file, name)
}

// parseSensor is LoadSensor on the bytes of file.
func parseSensor(data []byte, file, name string) (Sensor, error) {
	var s Sensor
	if err := parse(data, file, name, &s, &s.Name); err != nil {
		return s, err
	}
	switch {
	case s.Chip != "mlx90614" && s.Chip != "mlx90632":
		return s, fmt.Errorf("%s: chip %q: mlx90614 or mlx90632", file, s.Chip)
	case s.Addr < 0x03 || s.Addr > 0x77:
		return s, fmt.Errorf("%s: addr 0x%x is not a 7-bit I²C address", file, s.Addr)
	case !(s.Emissivity >= 0.1 && s.Emissivity <= 1): // false for NaN too
		return s, fmt.Errorf("%s: emissivity %.3f outside 0.1..1", file, s.Emissivity)
	case s.ReadInterval.Duration < 0:
		return s, fmt.Errorf("%s: read_interval must not be negative", file)
	}
	// The calibration is checked against the threshold in force, with the
	// configuration that names the profile (gate.Config.Validate).
	return s, nil
}

// LoadScanner loads and checks a scanner profile.
func LoadScanner(name string) (Scanner, error) {
	data, file, err := read("scanners", name)
	if err != nil {
		return Scanner{}, err
	}
	return parseScanner(data, file, name)
}

// parseScanner is LoadScanner on the bytes of file.
func parseScanner(data []byte, file, name string) (Scanner, error) {
	var s Scanner
	if err := parse(data, file, name, &s, &s.Name); err != nil {
		return s, err
	}
	switch {
	case s.Kind != "serial" && s.Kind != "hid":
		return s, fmt.Errorf("%s: kind %q: serial or hid", file, s.Kind)
	case s.Kind == "hid" && s.Port == "":
		return s, fmt.Errorf("%s: a hid scanner needs its port (an event device)", file)
	case s.Kind == "serial" && (s.Baud < 1200 || s.Baud > 921600):
		return s, fmt.Errorf("%s: baud %d outside 1200..921600", file, s.Baud)
	}
	if s.Kind == "serial" {
		if _, err := scanner.ParsePrefix(s.Prefix); err != nil {
			return s, fmt.Errorf("%s: %w", file, err)
		}
		if _, err := scanner.ParseSuffix(s.Suffix); err != nil {
			return s, fmt.Errorf("%s: %w", file, err)
		}
	}
	return s, nil
}

// Apply fills in cfg.Devices (and the temperature calibration) from the
// profiles it names: what the configuration file sets itself (defined tells
// which keys it has) wins, the profiles supply the rest. Then every pin must
// be one of the board's. Errors name the key. It is gate.LoadConfigWith's
// hook.
func Apply(cfg *gate.Config, defined func(key ...string) bool) error {
	dc := &cfg.Devices
	var errs []error
	bad := func(key string, err error) { errs = append(errs, fmt.Errorf("devices.%s: %w", key, err)) }
	if dc.SensorProfile != "" {
		s, err := LoadSensor(dc.SensorProfile)
		if err != nil {
			bad("sensor_profile", err)
		} else {
			dc.Sensor = s.Chip
			if dc.Addr == 0 {
				dc.Addr = s.Addr
			}
			if !defined("devices", "emissivity") {
				dc.Emissivity = s.Emissivity
			}
			if !defined("temperature", "calibration") {
				cfg.Temperature.Calibration = s.Calibration
			}
			if s.ReadInterval.Duration > 0 && !defined("temperature", "read_interval") {
				cfg.Temperature.ReadInterval = s.ReadInterval
			}
		}
	}
	var board *Board
	if dc.Board != "" {
		b, err := LoadBoard(dc.Board)
		if err != nil {
			bad("board", err)
		} else {
			board = &b
			if dc.Bus == "" {
				dc.Bus = b.I2CBus
			}
			for _, f := range []struct {
				pin      *string
				def, key string
			}{{&dc.RelayPin, b.Defaults.RelayPin, "relay_pin"}, {&dc.GreenPin, b.Defaults.GreenPin, "green_pin"},
				{&dc.RedPin, b.Defaults.RedPin, "red_pin"}, {&dc.BuzzerPin, b.Defaults.BuzzerPin, "buzzer_pin"}} {
				if !defined("devices", f.key) && f.def != "" {
					*f.pin = f.def
				}
			}
		}
	}
	if dc.ScannerProfile != "" {
		s, err := LoadScanner(dc.ScannerProfile)
		switch {
		case err != nil:
			bad("scanner_profile", err)
		case s.Kind == "hid" && dc.ScannerPort == "" && dc.ScannerHID == "":
			dc.ScannerHID = s.Port
		case s.Kind == "serial" && dc.ScannerPort == "" && dc.ScannerHID == "":
			dc.ScannerPort = s.Port
			if dc.ScannerPort == "" && board != nil {
				dc.ScannerPort = board.UART
			}
			if dc.ScannerPort == "" {
				bad("scanner_profile", fmt.Errorf("%s reads the board's UART, and no board is named (devices.board)", s.Name))
			}
			if !defined("devices", "scanner_baud") {
				dc.ScannerBaud = s.Baud
			}
			if !defined("devices", "scanner_prefix") {
				dc.ScannerPrefix = s.Prefix
			}
			if !defined("devices", "scanner_suffix") {
				dc.ScannerSuffix = s.Suffix
			}
		}
	}
	if board != nil && board.Display != nil && !defined("devices", "display") {
		// gate.Config.Validate checks it beside the sensor's address.
		d := *board.Display
		dc.Display = &d
	}
	if board != nil {
		for _, f := range []struct{ key, pin string }{{"relay_pin", dc.RelayPin}, {"green_pin", dc.GreenPin},
			{"red_pin", dc.RedPin}, {"buzzer_pin", dc.BuzzerPin}} {
			if f.pin == "" || (f.key == "relay_pin" && cfg.Checkpoint()) { // a checkpoint has no relay
				continue
			}
			if err := board.HasPin(f.pin); err != nil {
				bad(f.key, err)
			}
		}
	}
	return errors.Join(errs...)
}
