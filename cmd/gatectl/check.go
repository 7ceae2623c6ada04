package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"campusgate/device/board"
	"campusgate/device/scanner"
	"campusgate/device/scanner/scannersim"
	firmwareconfig "campusgate/firmware-config"
	"campusgate/gate"

	"go.bug.st/serial"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// hwCheck checks, on the box itself, that what a configuration or a set of
// profiles names is there and answers: the I²C bus, the sensor at its
// address, the scanner's port, the relay and light pins, the boot settings
// and the groups gated needs. Each line says ok or what to fix; it exits 1 if
// anything is wrong.
func hwCheck(ctx context.Context, e *env, args []string) error {
	fset := e.flags("hw check")
	cfgPath := fset.String("config", "", "gated.toml to check (its devices section and profiles)")
	boardName := fset.String("profile", "", "board profile ("+strings.Join(firmwareconfig.Names("boards"), ", ")+")")
	sensorName := fset.String("sensor", "mlx90614", "sensor profile ("+strings.Join(firmwareconfig.Names("sensors"), ", ")+")")
	scannerName := fset.String("scanner", "uart-9600", "scanner profile ("+strings.Join(firmwareconfig.Names("scanners"), ", ")+")")
	bootFile := fset.String("boot-config", "/boot/firmware/config.txt", "the boot firmware's config.txt")
	simulate := fset.Bool("simulate", false, "check against emulated devices (the tests' box)")
	if err := parse(fset, args); err != nil {
		return err
	}
	var cfg gate.Config
	var err error
	if *cfgPath != "" {
		cfg, err = gate.LoadConfigWith(*cfgPath, firmwareconfig.Apply)
	} else {
		if *boardName == "" {
			fmt.Fprintln(e.errw, "gatectl hw check: give -profile BOARD (or -config gated.toml)")
			return errUsage
		}
		text := fmt.Sprintf("gate_id = \"check\"\njournal = \"/tmp/check.db\"\n[devices]\nboard = %q\nsensor_profile = %q\nscanner_profile = %q\n",
			*boardName, *sensorName, *scannerName)
		cfg, err = gate.ParseConfigWith(text, firmwareconfig.Apply)
	}
	if err != nil {
		return err
	}
	dc := cfg.Devices
	c := &checker{w: e.out}
	defer c.summary()

	// The boot settings (a real box only: they are the board's, not the program's).
	if dc.Board != "" && !*simulate {
		b, err := firmwareconfig.LoadBoard(dc.Board) // loaded by Apply too; here for its boot fragment
		frag := ""
		if err == nil {
			frag, err = b.BootFragment()
		}
		if err != nil {
			c.fail("boot settings", err, "reinstall campusgate-gate (the board profiles and boot fragments are in it)")
		} else {
			c.boot(*bootFile, frag)
		}
	}
	// The groups gated's user needs.
	if !*simulate {
		c.groups()
	}

	// The I²C bus and the sensor at its address.
	var bus i2c.Bus
	if *simulate {
		bus, err = simulatedBus(dc.Sensor, physic.ZeroCelsius+36600*physic.MilliKelvin)
		c.result("I²C bus (emulated)", err, "")
	} else {
		b, err := board.OpenBus(dc.Bus)
		c.result(fmt.Sprintf("I²C bus %q", dc.Bus), err, "enable I²C in config.txt (see above), reboot, and check /dev/i2c-*")
		if err == nil {
			defer b.Close()
			bus = b
		}
	}
	if bus != nil {
		t, err := newThermometer(bus, dc.Sensor, dc.Addr)
		if err == nil {
			mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			var obj, amb physic.Temperature
			obj, amb, err = t.Measure(mctx)
			cancel()
			if err == nil {
				c.ok(fmt.Sprintf("%s: object %s, ambient %s", t, obj, amb))
			}
			_ = t.Halt()
		}
		if err != nil {
			c.result(fmt.Sprintf("%s at 0x%02x", dc.Sensor, dc.Addr), err,
				"check the wiring (3.3 V, GND, SDA to GPIO2, SCL to GPIO3), the address (i2cdetect -y 1) and the pull-ups")
		}
	}

	// The scanner's port.
	switch {
	case *simulate:
		what := fmt.Sprintf("scanner (emulated, %s + %s)", cmp.Or(dc.ScannerPrefix, "none"), cmp.Or(dc.ScannerSuffix, "cr"))
		if dc.ScannerHID != "" {
			what = "scanner (emulated keyboard wedge)"
		}
		c.result(what, simulatedScan(ctx, dc), "")
	case dc.ScannerHID != "":
		f, err := os.Open(dc.ScannerHID)
		c.result("scanner (keyboard wedge) "+dc.ScannerHID, err, "plug the scanner in; the udev rules name it; gated's user needs the input group")
		if f != nil {
			f.Close()
		}
	case dc.ScannerPort != "":
		p, err := serial.Open(dc.ScannerPort, &serial.Mode{BaudRate: dc.ScannerBaud})
		c.result(fmt.Sprintf("scanner port %s at %d baud", dc.ScannerPort, dc.ScannerBaud), board.Explain(err),
			"for the Pi's UART: enable_uart=1 (and dtoverlay=disable-bt); for USB: plug it in and check the udev rules; the user needs dialout")
		if p != nil {
			_ = p.Close()
		}
	default:
		c.fail("scanner", errors.New("no scanner port or event device configured"), "set devices.scanner_profile or scanner_port")
	}

	// The pins: there, and drivable (nothing is switched on).
	for _, pin := range []struct{ what, name string }{{"relay", dc.RelayPin}, {"green light", dc.GreenPin}, {"red light", dc.RedPin}, {"buzzer", dc.BuzzerPin}} {
		if pin.name == "" || (pin.what == "relay" && cfg.Checkpoint()) {
			continue
		}
		p, err := openPin(pin.name, *simulate)
		if err == nil {
			err = p.Out(false) // the outputs' idle level: the relay released, the lights off
		}
		c.result(fmt.Sprintf("%s pin %s", pin.what, pin.name), board.Explain(err), "check the pin's name against the board profile; the user needs the gpio group")
	}
	if c.failed > 0 {
		return fmt.Errorf("%d of %d checks failed: fix them and run gatectl hw check again", c.failed, c.n)
	}
	return nil
}

// checker prints each check's outcome.
type checker struct {
	w         io.Writer
	n, failed int
}

func (c *checker) ok(what string) {
	c.n++
	fmt.Fprintf(c.w, "  ok    %s\n", what)
}

func (c *checker) fail(what string, err error, fix string) {
	c.n++
	c.failed++
	fmt.Fprintf(c.w, "  FAIL  %s: %v\n", what, err)
	if fix != "" {
		fmt.Fprintf(c.w, "        fix: %s\n", fix)
	}
}

func (c *checker) result(what string, err error, fix string) {
	if err != nil {
		c.fail(what, err, fix)
		return
	}
	c.ok(what)
}

func (c *checker) summary() {
	if c.failed == 0 {
		fmt.Fprintf(c.w, "all %d checks passed\n", c.n)
	}
}

// boot checks that config.txt has each setting of the board's fragment.
func (c *checker) boot(path, fragment string) {
	b, err := os.ReadFile(path)
	if err != nil {
		c.fail("boot settings "+path, err, "on Raspberry Pi OS it is /boot/firmware/config.txt (older: /boot/config.txt; use -boot-config)")
		return
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	var missing []string
	for _, l := range strings.Split(fragment, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") && !have[l] {
			missing = append(missing, l)
		}
	}
	if len(missing) > 0 {
		c.fail("boot settings "+path, fmt.Errorf("missing %s", strings.Join(missing, "; ")), "append firmware-config/boot's fragment for this board (or /usr/share/campusgate/boot/) and reboot")
		return
	}
	c.ok("boot settings " + path)
}

// groups checks that this user is in the groups gated runs with.
func (c *checker) groups() {
	u, err := user.Current()
	if err != nil {
		c.fail("groups", err, "")
		return
	}
	if u.Uid == "0" {
		c.ok("running as root (gated itself runs as campusgate, in i2c, gpio, dialout and input)")
		return
	}
	ids, _ := u.GroupIds()
	in := map[string]bool{}
	for _, id := range ids {
		if g, err := user.LookupGroupId(id); err == nil {
			in[g.Name] = true
		}
	}
	var missing []string
	for _, g := range []string{"i2c", "gpio", "dialout"} {
		if !in[g] {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		c.fail("groups of "+u.Username, fmt.Errorf("not in %s", strings.Join(missing, ", ")),
			"sudo usermod -aG "+strings.Join(missing, ",")+" "+u.Username+", then log in again")
		return
	}
	c.ok("groups of " + u.Username)
}

// simulatedScan sends a code from an emulated scanner framed as dc says, and
// reads it through the real driver with the same settings: the framing of the
// profile, end to end.
func simulatedScan(ctx context.Context, dc gate.DeviceConfig) error {
	dir, err := os.MkdirTemp("", "campusgate-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	const code = "CG-CHECK-0001"
	var next func(context.Context) (scanner.Code, error)
	if dc.ScannerHID != "" {
		v, err := scannersim.NewEvdev(dir)
		if err != nil {
			return err
		}
		o := scanner.DefaultHIDOpts
		o.NoGrab = true // the emulated device is not an evdev the kernel knows
		h, err := scanner.OpenHID(v.Path(), &o)
		if err != nil {
			return err
		}
		defer h.Close()
		if err := v.Type(code); err != nil {
			return err
		}
		next = h.Next
	} else {
		o := scanner.DefaultOpts
		if o.Prefix, err = scanner.ParsePrefix(dc.ScannerPrefix); err != nil {
			return err
		}
		if dc.ScannerSuffix != "" {
			if o.Suffix, err = scanner.ParseSuffix(dc.ScannerSuffix); err != nil {
				return err
			}
		}
		if dc.ScannerBaud > 0 {
			o.Baud = dc.ScannerBaud
		}
		v, err := scannersim.NewSerial(dir, o.Prefix, o.Suffix)
		if err != nil {
			return err
		}
		defer v.Close()
		d, err := scanner.Open(v.Path(), &o)
		if err != nil {
			return err
		}
		defer d.Close()
		if err := v.Scan(code); err != nil {
			return err
		}
		next = d.Next
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	got, err := next(sctx)
	if err != nil {
		return err
	}
	if got.Text != code {
		return fmt.Errorf("sent %q, the driver read %q", code, got.Text)
	}
	return nil
}
