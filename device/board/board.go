// Package board opens the real hardware of a gate box through periph's host
// drivers, and turns the errors a technician meets first on a new box into
// messages that say what to do.
package board

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"
)

var (
	initOnce sync.Once
	initErr  error
)

// Init loads periph's host drivers once. On a machine without GPIO or I²C it
// still succeeds; the registries are simply empty.
func Init() error {
	initOnce.Do(func() {
		if _, err := host.Init(); err != nil {
			initErr = fmt.Errorf("periph host init: %w", err)
		}
	})
	return initErr
}

// Explain adds what to do to permission and missing-device errors.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case errors.Is(err, fs.ErrPermission) || strings.Contains(msg, "permission denied"):
		return fmt.Errorf("%w (run as root, or add the user to the i2c, gpio and dialout groups and log in again)", err)
	case errors.Is(err, fs.ErrNotExist) || strings.Contains(msg, "no such file"):
		return fmt.Errorf("%w (is the device plugged in and its interface enabled in config.txt?)", err)
	}
	return err
}

// OpenBus opens an I²C bus by name or number ("" = the first one).
func OpenBus(name string) (i2c.BusCloser, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	if len(i2creg.All()) == 0 {
		return nil, errors.New("no I²C bus on this machine: enable I²C (dtparam=i2c_arm=on in /boot/firmware/config.txt), reboot, and check /dev/i2c-* exists")
	}
	b, err := i2creg.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open I²C bus %q: %w", name, Explain(err))
	}
	return b, nil
}

// Pin finds a GPIO pin by name (GPIO17, or a header position the board knows).
func Pin(name string) (gpio.PinIO, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	p := gpioreg.ByName(name)
	if p == nil {
		if len(gpioreg.All()) == 0 {
			return nil, fmt.Errorf("GPIO pin %q: this machine has no GPIO (not a Pi, or /dev/gpiochip* not accessible)", name)
		}
		return nil, fmt.Errorf("GPIO pin %q: no such pin on this board (try GPIO17)", name)
	}
	return p, nil
}
