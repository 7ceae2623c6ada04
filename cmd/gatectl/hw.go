package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"campusgate/device/board"
	"campusgate/device/display"
	"campusgate/device/display/displaysim"
	"campusgate/device/gpiosim"
	"campusgate/device/indicator"
	"campusgate/device/relay"
	"campusgate/device/simbox"
	firmwareconfig "campusgate/firmware-config"
	"campusgate/gate"

	"github.com/BurntSushi/toml"
	"go.bug.st/serial"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
)

func hwList(_ context.Context, e *env, args []string) error {
	fset := e.flags("hw list")
	if err := parse(fset, args); err != nil {
		return err
	}
	if err := board.Init(); err != nil {
		return err
	}
	fmt.Fprintln(e.out, "I²C buses:")
	buses := i2creg.All()
	if len(buses) == 0 {
		fmt.Fprintln(e.out, "  none found: enable I²C (dtparam=i2c_arm=on in /boot/firmware/config.txt, then reboot)")
		fmt.Fprintln(e.out, "  and make sure /dev/i2c-* exists (modprobe i2c-dev)")
	}
	for _, r := range buses {
		fmt.Fprintf(e.out, "  %-10s number %d aliases %v\n", r.Name, r.Number, r.Aliases)
		b, err := r.Open()
		if err != nil {
			fmt.Fprintf(e.out, "    cannot open: %v\n", board.Explain(err))
			continue
		}
		for _, p := range probeThermometers(b) {
			fmt.Fprintf(e.out, "    %s\n", p)
		}
		_ = b.Close() // read-only probe; nothing to lose on a failed close
	}

	fmt.Fprintln(e.out, "Serial ports:")
	ports, err := serial.GetPortsList()
	if err != nil {
		fmt.Fprintf(e.out, "  cannot list: %v\n", err)
	} else if len(ports) == 0 {
		fmt.Fprintln(e.out, "  none found: for the Pi's own UART set enable_uart=1 (and dtoverlay=disable-bt on Pi 3/4/Zero 2 W)")
	}
	for _, p := range ports {
		fmt.Fprintf(e.out, "  %s\n", p)
	}
	listGlob(e, "Stable serial names (/dev/serial/by-id):", "/dev/serial/by-id/*")
	listGlob(e, "Input devices (keyboard-wedge scanners, /dev/input/by-id):", "/dev/input/by-id/*")

	fmt.Fprintln(e.out, "GPIO:")
	chips, _ := filepath.Glob("/dev/gpiochip*")
	pins := gpioreg.All()
	if len(chips) == 0 && len(pins) == 0 {
		fmt.Fprintln(e.out, "  no GPIO chip found: this is not a board with GPIO, or /dev/gpiochip* is not accessible")
	} else {
		fmt.Fprintf(e.out, "  chips %v, %d pins registered (e.g. %s)\n", chips, len(pins), firstPins(pins, 4))
	}
	return nil
}

func listGlob(e *env, title, pattern string) {
	fmt.Fprintln(e.out, title)
	m, _ := filepath.Glob(pattern) // the only error is a bad pattern, and these are constants
	if len(m) == 0 {
		fmt.Fprintln(e.out, "  none")
	}
	sort.Strings(m)
	for _, p := range m {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			target = err.Error()
		}
		fmt.Fprintf(e.out, "  %s -> %s\n", p, target)
	}
}

func firstPins(pins []gpio.PinIO, n int) string {
	var names []string
	for i, p := range pins {
		if i == n {
			names = append(names, "…")
			break
		}
		names = append(names, p.Name())
	}
	return strings.Join(names, ", ")
}

// openPin finds a GPIO pin by name (GPIO17, 11, ...), or a simulated one.
func openPin(name string, simulate bool) (gpio.PinIO, error) {
	if simulate {
		return gpiosim.New(name, 0, nil), nil
	}
	p, err := board.Pin(name)
	if err != nil {
		return nil, fmt.Errorf("%w; or use -simulate", err)
	}
	return p, nil
}

// relayConfig is what of gated.toml the relay's release needs.
type relayConfig struct {
	Mode    string `toml:"mode"`
	Devices struct {
		Board    string `toml:"board"`
		RelayPin string `toml:"relay_pin"`
		RelayLow bool   `toml:"relay_active_low"`
	} `toml:"devices"`
}

// relayOf reads the relay's pin and polarity from gated.toml, and nothing
// else: ExecStopPost releases the relay after gated ended however it did, a
// config broken elsewhere (gated's reason to stop, perhaps) included. A file
// that is not TOML at all is refused: a guessed polarity could energise the
// relay instead.
func relayOf(path string) (relayConfig, error) {
	var r relayConfig
	if _, err := toml.DecodeFile(path, &r); err != nil {
		return r, fmt.Errorf("config %s: %w", path, err)
	}
	if r.Devices.RelayPin == "" && r.Devices.Board != "" {
		if b, err := firmwareconfig.LoadBoard(r.Devices.Board); err == nil {
			r.Devices.RelayPin = b.Defaults.RelayPin
		}
	}
	if r.Devices.RelayPin == "" {
		r.Devices.RelayPin = gate.DefaultConfig().Devices.RelayPin
	}
	return r, nil
}

func hwRelay(ctx context.Context, e *env, args []string) error {
	fset := e.flags("hw relay")
	pinName := fset.String("pin", "GPIO17", "GPIO pin of the relay")
	activeLow := fset.Bool("active-low", false, "the relay board energises on Low (most opto-isolated boards)")
	pulse := fset.Duration("pulse", relay.DefaultOpts.Pulse, "pulse length")
	hold := fset.Bool("hold", false, "hold the relay energised until interrupted (Ctrl-C / SIGTERM release it)")
	release := fset.Bool("release", false, "only drive the relay released (for ExecStopPost)")
	simulate := fset.Bool("simulate", false, "use a simulated pin")
	pinLog := fset.String("pin-log", "", "with -simulate: append every level the pin is driven to to this file")
	cfgPath := fset.String("config", "", "take the pin and its polarity from this gated.toml (gated.service's ExecStopPost releases the relay so)")
	if err := parse(fset, args); err != nil {
		return err
	}
	if *cfgPath != "" {
		r, err := relayOf(*cfgPath)
		if err != nil {
			return err
		}
		if r.Mode == gate.ModeCheckpoint {
			fmt.Fprintln(e.out, "a checkpoint has no relay")
			return nil
		}
		*pinName, *activeLow = r.Devices.RelayPin, r.Devices.RelayLow
	}
	p, err := openPin(*pinName, *simulate)
	if err != nil {
		return err
	}
	if sp, ok := p.(*gpiosim.Pin); ok && *pinLog != "" {
		f, err := os.OpenFile(*pinLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("pin log: %w", err)
		}
		defer f.Close()
		sp.Mirror(f)
	}
	o := relay.DefaultOpts
	o.ActiveLow = *activeLow
	if *pulse > o.MaxPulse {
		o.MaxPulse = *pulse
	}
	o.Logger = e.log
	d, err := relay.New(p, &o) // New drives the relay released
	if err != nil {
		return board.Explain(err)
	}
	defer d.Halt()
	switch {
	case *release:
		fmt.Fprintf(e.out, "%s released\n", d)
		return nil
	case *hold:
		if err := d.Hold(); err != nil {
			return board.Explain(err)
		}
		fmt.Fprintf(e.out, "%s held open; Ctrl-C releases it\n", d)
		<-ctx.Done()
		if err := d.Release(); err != nil {
			return err
		}
		fmt.Fprintf(e.out, "%s released\n", d)
		return nil
	}
	start := time.Now()
	if err := d.Open(*pulse); err != nil {
		return board.Explain(err)
	}
	fmt.Fprintf(e.out, "%s pulsed for %v\n", d, *pulse)
	for d.Energised() {
		select {
		case <-ctx.Done():
			return d.Release()
		case <-time.After(5 * time.Millisecond):
		}
	}
	fmt.Fprintf(e.out, "released after %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func hwLights(ctx context.Context, e *env, args []string) error {
	fset := e.flags("hw lights")
	green := fset.String("green", "GPIO5", "GPIO pin of the green light (empty: none)")
	red := fset.String("red", "GPIO6", "GPIO pin of the red light (empty: none)")
	buzzer := fset.String("buzzer", "GPIO13", "GPIO pin of the buzzer (empty: none)")
	activeLow := fset.Bool("active-low", false, "the outputs are on when Low")
	sigName := fset.String("signal", "pass", "signal to show: ready, pass, stop, retry, fault")
	hold := fset.Duration("for", 3*time.Second, "how long to show it")
	simulate := fset.Bool("simulate", false, "use simulated pins")
	if err := parse(fset, args); err != nil {
		return err
	}
	sig, ok := signalByName(*sigName)
	if !ok {
		fmt.Fprintf(e.errw, "gatectl hw lights: unknown signal %q\n", *sigName)
		return errUsage
	}
	var pins indicator.Pins
	for _, o := range []struct {
		name string
		out  *indicator.Output
	}{{*green, &pins.Green}, {*red, &pins.Red}, {*buzzer, &pins.Buzzer}} {
		if o.name == "" {
			continue
		}
		p, err := openPin(o.name, *simulate)
		if err != nil {
			return err
		}
		*o.out = indicator.Output{Pin: p, ActiveLow: *activeLow}
	}
	d, err := indicator.New(pins, &indicator.Opts{Logger: e.log})
	if err != nil {
		return board.Explain(err)
	}
	defer d.Halt()
	if err := d.Show(sig); err != nil {
		return board.Explain(err)
	}
	fmt.Fprintf(e.out, "%s showing %s for %v\n", d, sig, *hold)
	select {
	case <-ctx.Done():
	case <-time.After(*hold):
	}
	return d.Halt()
}

func signalByName(name string) (indicator.Signal, bool) {
	for s := indicator.Idle; s <= indicator.Fault; s++ {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// hwDisplay shows every kind of screen in turn on the box's small display, so
// whoever installs it sees that it is wired, addressed and readable.
func hwDisplay(ctx context.Context, e *env, args []string) error {
	fset := e.flags("hw display")
	boardName := fset.String("board", "", "board profile whose [display] (and I²C bus) to use")
	busName := fset.String("bus", "", "I²C bus (default: the board's, or the first)")
	chip := fset.String("chip", "", "display chip: "+display.ChipSSD1306+" or "+display.ChipHD44780+" (overrides the board's)")
	addr := fset.Uint("addr", 0, "I²C address (0: the chip's usual one)")
	height := fset.Int("height", 0, "OLED height, 64 or 32 (0: 64)")
	each := fset.Duration("each", 2*time.Second, "how long to show each screen")
	simulate := fset.Bool("simulate", false, "an emulated display on an emulated bus")
	if err := parse(fset, args); err != nil {
		return err
	}
	var cfg display.Config
	bus := *busName
	if *boardName != "" {
		b, err := firmwareconfig.LoadBoard(*boardName)
		if err != nil {
			return err
		}
		if b.Display != nil {
			cfg = *b.Display
		}
		if bus == "" {
			bus = b.I2CBus
		}
	}
	if *chip != "" {
		cfg = display.Config{Chip: *chip, Addr: uint16(*addr), Height: *height}
	}
	if cfg.Chip == "" {
		fmt.Fprintln(e.errw, "gatectl hw display: give -chip, or a -board whose profile has a [display]")
		return errUsage
	}
	if err := cfg.Check(); err != nil {
		return fmt.Errorf("display: %w", err)
	}
	var (
		b   i2c.BusCloser
		lcd *displaysim.LCD
	)
	if *simulate {
		sb := displaysim.NewBus()
		_, lcd = simbox.AttachDisplay(sb, cfg)
		b = sb
	} else {
		var err error
		if b, err = board.OpenBus(bus); err != nil {
			return err
		}
	}
	defer b.Close()
	d, err := display.Open(b, cfg)
	if err != nil {
		return board.Explain(err)
	}
	defer d.Close()
	temps := map[display.Kind]float64{display.Measuring: 36.4, display.Pass: 36.6, display.Stop: 38.2, display.Again: 37.9}
	for _, k := range display.Kinds() {
		s := display.Screen{Kind: k}
		if c := temps[k]; c != 0 {
			s.Temp = gate.FromCelsius(c)
		}
		if err := d.Show(s); err != nil {
			return board.Explain(err)
		}
		fmt.Fprintf(e.out, "%s at 0x%02x showing %s\n", cfg.Chip, cfg.Address(), k)
		if lcd != nil {
			fmt.Fprintf(e.out, "  |%s|\n  |%s|\n", lcd.Row(0), lcd.Row(1))
		}
		select {
		case <-ctx.Done():
			return d.Close()
		case <-time.After(*each):
		}
	}
	return d.Close()
}
