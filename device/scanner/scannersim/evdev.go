package scannersim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"campusgate/device/scanner"
)

// Evdev is an emulated keyboard-wedge scanner: a FIFO carrying the struct
// input_event stream a USB HID scanner produces on /dev/input/eventN. The real HID
// driver opens Path() with HIDOpts.NoGrab (a FIFO cannot be grabbed).
type Evdev struct {
	path string

	mu     sync.Mutex
	w      *os.File
	closed bool
}

// NewEvdev creates the FIFO dir/event0.
func NewEvdev(dir string) (*Evdev, error) {
	v := &Evdev{path: filepath.Join(dir, "event0")}
	if err := v.plug(); err != nil {
		return nil, err
	}
	return v, nil
}

// Path is the FIFO the driver should open.
func (v *Evdev) Path() string { return v.path }

func (v *Evdev) plug() error {
	tmp := v.path + ".new"
	_ = os.Remove(tmp)
	if err := syscall.Mkfifo(tmp, 0o600); err != nil {
		return fmt.Errorf("scannersim: mkfifo %s: %w", tmp, err)
	}
	// O_RDWR opens without waiting for a reader (Linux), and keeps a writer present
	// so the driver sees EOF only when Unplug closes it.
	w, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("scannersim: open %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, v.path); err != nil {
		w.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("scannersim: rename %s: %w", v.path, err)
	}
	v.w = w
	return nil
}

// Keystrokes returns the events a US-layout wedge scanner sends to type code and
// press Enter: MSC_SCAN, key down, SYN_REPORT, key up, SYN_REPORT, with Left Shift
// held around shifted characters.
func Keystrokes(code string, enter uint16) ([]byte, error) {
	var b []byte
	now := time.Now()
	ev := func(typ, c uint16, v int32) {
		b = scanner.AppendInputEvent(b, scanner.InputEvent{Time: now, Type: typ, Code: c, Value: v})
	}
	press := func(c uint16, v int32) {
		ev(scanner.EvMsc, scanner.MscScan, int32(0x70000|uint32(c))) // usage noise, ignored by the driver
		ev(scanner.EvKey, c, v)
		ev(scanner.EvSyn, scanner.SynReport, 0)
	}
	for _, r := range code {
		c, shift, ok := scanner.KeyFor(r)
		if !ok {
			return nil, fmt.Errorf("scannersim: %q cannot be typed on a US keyboard", r)
		}
		if shift {
			press(scanner.KeyLeftShift, 1)
		}
		press(c, 1)
		press(c, 0)
		if shift {
			press(scanner.KeyLeftShift, 0)
		}
	}
	if enter != 0 {
		press(enter, 1)
		press(enter, 0)
	}
	return b, nil
}

// Type types code and presses Enter.
func (v *Evdev) Type(code string) error {
	b, err := Keystrokes(code, scanner.KeyEnter)
	if err != nil {
		return err
	}
	return v.WriteRaw(b)
}

// TypeNoEnter types code without a terminator (fault: lost Enter).
func (v *Evdev) TypeNoEnter(code string) error {
	b, err := Keystrokes(code, 0)
	if err != nil {
		return err
	}
	return v.WriteRaw(b)
}

// WriteRaw writes raw bytes (whole or partial input_event structs).
func (v *Evdev) WriteRaw(p []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.closed:
		return ErrClosed
	case v.w == nil:
		return ErrUnplugged
	}
	if _, err := v.w.Write(p); err != nil {
		return fmt.Errorf("scannersim: write: %w", err)
	}
	return nil
}

// Unplug removes the FIFO and closes the writer: the driver reads EOF.
func (v *Evdev) Unplug() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	return v.unplugLocked()
}

func (v *Evdev) unplugLocked() error {
	if v.w == nil {
		return nil
	}
	rerr := os.Remove(v.path)
	if errors.Is(rerr, os.ErrNotExist) {
		rerr = nil
	}
	err := errors.Join(v.w.Close(), rerr)
	v.w = nil
	if err != nil {
		return fmt.Errorf("scannersim: unplug: %w", err)
	}
	return nil
}

// Replug creates a fresh FIFO at the same path.
func (v *Evdev) Replug() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if v.w != nil {
		return nil
	}
	return v.plug()
}

// Close unplugs for good.
func (v *Evdev) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	return v.unplugLocked()
}
