package scanner

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// EventSize is sizeof(struct input_event) for this GOARCH: a struct timeval of two C
// longs, then u16 type, u16 code, s32 value. 24 bytes on 64-bit, 16 on 32-bit ARM
// (the kernel keeps the 32-bit layout there even for time64 userspace).
const EventSize = 2*strconv.IntSize/8 + 8

// Linux input event types and codes (include/uapi/linux/input-event-codes.h).
const (
	EvSyn     = 0x00
	EvKey     = 0x01
	EvMsc     = 0x04
	SynReport = 0
	MscScan   = 4

	KeyEnter      = 28
	KeyLeftShift  = 42
	KeyRightShift = 54
	KeyKPEnter    = 96

	keyUp     = 0
	keyDown   = 1
	keyRepeat = 2
)

// evioCGrab is EVIOCGRAB = _IOW('E', 0x90, int).
const evioCGrab = 0x40044590

// InputEvent is one struct input_event.
type InputEvent struct {
	Time  time.Time
	Type  uint16
	Code  uint16
	Value int32
}

// AppendInputEvent appends ev in the kernel's layout for this GOARCH (native byte order).
func AppendInputEvent(b []byte, ev InputEvent) []byte {
	sec, usec := ev.Time.Unix(), int64(ev.Time.Nanosecond()/1000)
	if strconv.IntSize == 64 {
		b = binary.NativeEndian.AppendUint64(b, uint64(sec))
		b = binary.NativeEndian.AppendUint64(b, uint64(usec))
	} else {
		b = binary.NativeEndian.AppendUint32(b, uint32(sec))
		b = binary.NativeEndian.AppendUint32(b, uint32(usec))
	}
	b = binary.NativeEndian.AppendUint16(b, ev.Type)
	b = binary.NativeEndian.AppendUint16(b, ev.Code)
	return binary.NativeEndian.AppendUint32(b, uint32(ev.Value))
}

// ParseInputEvent decodes one event from the first EventSize bytes of b.
func ParseInputEvent(b []byte) InputEvent {
	_ = b[EventSize-1]
	var sec, usec int64
	o := 2 * strconv.IntSize / 8
	if strconv.IntSize == 64 {
		sec, usec = int64(binary.NativeEndian.Uint64(b)), int64(binary.NativeEndian.Uint64(b[8:]))
	} else {
		sec, usec = int64(int32(binary.NativeEndian.Uint32(b))), int64(int32(binary.NativeEndian.Uint32(b[4:])))
	}
	return InputEvent{
		Time:  time.Unix(sec, usec*1000),
		Type:  binary.NativeEndian.Uint16(b[o:]),
		Code:  binary.NativeEndian.Uint16(b[o+2:]),
		Value: int32(binary.NativeEndian.Uint32(b[o+4:])),
	}
}

// usKeys maps Linux key codes to the characters a US-layout keyboard types,
// unshifted and shifted. The keypad assumes NumLock on, as scanners send it.
var usKeys = func() (m [128][2]byte) {
	row := func(code int, plain, shifted string) {
		for i := range len(plain) {
			m[code+i] = [2]byte{plain[i], shifted[i]}
		}
	}
	row(2, "1234567890-=", "!@#$%^&*()_+")
	row(15, "\tqwertyuiop[]", "\tQWERTYUIOP{}")
	row(30, "asdfghjkl;'`", "ASDFGHJKL:\"~")
	row(43, "\\zxcvbnm,./", "|ZXCVBNM<>?")
	row(55, "*", "*")
	row(57, " ", " ")
	row(71, "789-456+1230.", "789-456+1230.")
	row(98, "/", "/")
	return m
}()

// KeyFor is the key code (and whether Shift is needed) that types r on a US layout.
// Emulators use it to script keystrokes.
func KeyFor(r rune) (code uint16, shift, ok bool) {
	if r == '\n' || r == '\r' {
		return KeyEnter, false, true
	}
	if r <= 0 || r >= 0x7f {
		return 0, false, false
	}
	// Lowest key code first: the main block comes before the keypad.
	for c, k := range usKeys {
		switch byte(r) {
		case k[0]:
			return uint16(c), false, true
		case k[1]:
			return uint16(c), true, true
		}
	}
	return 0, false, false
}

// keyDecoder turns key events into the bytes a keyboard would type; Enter is CR.
type keyDecoder struct {
	lshift, rshift bool
}

// key handles one EV_KEY event and returns the byte typed, or 0.
func (k *keyDecoder) key(code uint16, value int32) byte {
	switch code {
	case KeyLeftShift:
		k.lshift = value != keyUp
		return 0
	case KeyRightShift:
		k.rshift = value != keyUp
		return 0
	}
	// Characters are typed on key down only. Auto-repeat from a wedge scanner means
	// the host was slow to see the key-up, not that the code has the character twice.
	if value != keyDown {
		return 0
	}
	if code == KeyEnter || code == KeyKPEnter {
		return cr
	}
	if int(code) >= len(usKeys) {
		return 0
	}
	c := usKeys[code]
	if k.lshift || k.rshift {
		return c[1]
	}
	return c[0]
}

// HIDOpts configures a keyboard-wedge (USB HID) scanner. Start from DefaultHIDOpts.
type HIDOpts struct {
	MaxLen  int           // longest code in bytes; see Opts.MaxLen
	IdleGap time.Duration // see Opts.IdleGap
	// NoGrab skips EVIOCGRAB. Without the grab the scanner also types into the
	// console/X session, and non-evdev paths (a FIFO in tests) become usable.
	NoGrab               bool
	ReopenMin, ReopenMax time.Duration // see Opts; 0 means 100ms and 5s
	Logger               *slog.Logger  // nil: slog.Default()
}

// DefaultHIDOpts grabs the device, MaxLen 512, IdleGap 200ms.
var DefaultHIDOpts = HIDOpts{
	MaxLen:    512,
	IdleGap:   200 * time.Millisecond,
	ReopenMin: 100 * time.Millisecond,
	ReopenMax: 5 * time.Second,
}

// HID is a keyboard-wedge scanner read through its Linux evdev node.
type HID struct {
	path string
	opts HIDOpts
	e    *engine
}

// ErrNotEvdev is wrapped when the path is not an evdev input device.
var ErrNotEvdev = errors.New("not an evdev input device")

// OpenHID opens the evdev node at path (/dev/input/by-id/...-event-kbd) and, unless
// NoGrab, grabs it so keystrokes reach only this program. nil opts means DefaultHIDOpts.
func OpenHID(path string, opts *HIDOpts) (*HID, error) {
	if opts == nil {
		opts = &DefaultHIDOpts
	}
	o := *opts
	if err := validateFraming(PrefixNone, SuffixCR, o.MaxLen, o.IdleGap); err != nil {
		return nil, err
	}
	lo, hi, err := validateReopen(o.ReopenMin, o.ReopenMax)
	if err != nil {
		return nil, err
	}
	o.ReopenMin, o.ReopenMax = lo, hi
	fr, err := NewFramer(PrefixNone, SuffixCR, o.MaxLen, o.IdleGap)
	if err != nil {
		return nil, err
	}
	open := func() (conn, error) { return openEvdev(path, !o.NoGrab) }
	c, err := open()
	if err != nil {
		return nil, err
	}
	h := &HID{path: path, opts: o}
	h.e = newEngine(path, c, open, fr, o.Logger, lo, hi)
	return h, nil
}

// Next behaves as (*Dev).Next.
func (h *HID) Next(ctx context.Context) (Code, error) { return h.e.next(ctx) }

// Close releases the grab and closes the device. Next then returns ErrClosed.
func (h *HID) Close() error { return h.e.shutdown() }

// Halt does nothing; see (*Dev).Halt.
func (h *HID) Halt() error { return nil }

// Connected reports whether the device is currently open.
func (h *HID) Connected() bool { return h.e.connected.Load() }

func (h *HID) String() string {
	return fmt.Sprintf("scanner-hid(%s grab=%t)", h.path, !h.opts.NoGrab)
}

type evdevConn struct {
	f   *os.File
	raw []byte
	n   int // bytes of a partial event kept from the last read
	dec keyDecoder
}

func openEvdev(path string, grab bool) (*evdevConn, error) {
	// O_NONBLOCK puts the fd in Go's poller, so Close and read deadlines interrupt Read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("scanner: open %s: %w", path, err)
	}
	if grab {
		if err := ioctlInt(f, evioCGrab, 1); err != nil {
			f.Close()
			switch {
			// ENOSYS: an emulator (qemu-user) that does not pass the ioctl through says so for a non-evdev file.
			case errors.Is(err, unix.ENOTTY), errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
				return nil, fmt.Errorf("scanner: grab %s (EVIOCGRAB): %w: use /dev/input/eventN or /dev/input/by-id/*-event-kbd, or set NoGrab: %w", path, ErrNotEvdev, err)
			case errors.Is(err, unix.EBUSY):
				return nil, fmt.Errorf("scanner: grab %s (EVIOCGRAB): another program holds the grab: %w", path, err)
			}
			return nil, fmt.Errorf("scanner: grab %s (EVIOCGRAB): %w", path, err)
		}
	}
	return &evdevConn{f: f, raw: make([]byte, 64*EventSize)}, nil
}

func ioctlInt(f *os.File, req uint, v int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { ierr = unix.IoctlSetInt(int(fd), req, v) }); err != nil {
		return err
	}
	return ierr
}

func (c *evdevConn) read(p []byte, deadline time.Time) (int, error) {
	if err := c.f.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	n, err := c.f.Read(c.raw[c.n:])
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if n == 0 && err == nil {
		err = io.EOF // the last writer of a FIFO went away
	}
	c.n += n
	return c.decode(p), err
}

// decode turns the whole events in c.raw[:c.n] into typed bytes in p, as many
// as p holds, and keeps the rest (a partial event, or what p had no room for)
// for the next read.
func (c *evdevConn) decode(p []byte) int {
	out := 0
	i := 0
	for ; i+EventSize <= c.n && out < len(p); i += EventSize {
		ev := ParseInputEvent(c.raw[i:])
		if ev.Type != EvKey {
			continue
		}
		if b := c.dec.key(ev.Code, ev.Value); b != 0 {
			p[out] = b
			out++
		}
	}
	c.n = copy(c.raw, c.raw[i:c.n])
	return out
}

func (c *evdevConn) close() error {
	// Closing the fd releases the grab.
	return c.f.Close()
}
