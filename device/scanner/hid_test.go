package scanner_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"campusgate/device/scanner"
	"campusgate/device/scanner/scannersim"
)

// cInputEvent mirrors struct input_event with C longs as Go ints (same size as C long
// on every Linux GOARCH this builds for).
type cInputEvent struct {
	Sec, Usec int
	Type      uint16
	Code      uint16
	Value     int32
}

func TestEventSize(t *testing.T) {
	if got := int(unsafe.Sizeof(cInputEvent{})); got != scanner.EventSize {
		t.Fatalf("EventSize = %d, unsafe.Sizeof = %d", scanner.EventSize, got)
	}
	want := map[int]int{64: 24, 32: 16}[int(unsafe.Sizeof(uintptr(0)))*8]
	if scanner.EventSize != want {
		t.Fatalf("EventSize = %d, want %d", scanner.EventSize, want)
	}
	ev := scanner.InputEvent{Time: time.Unix(1767225600, 123456000), Type: scanner.EvKey, Code: 30, Value: 1}
	b := scanner.AppendInputEvent(nil, ev)
	if len(b) != scanner.EventSize {
		t.Fatalf("AppendInputEvent: %d bytes", len(b))
	}
	if got := scanner.ParseInputEvent(b); !got.Time.Equal(ev.Time) || got.Type != ev.Type || got.Code != ev.Code || got.Value != ev.Value {
		t.Fatalf("round trip: %+v != %+v", got, ev)
	}
	// Same bytes as the kernel struct laid out by the Go compiler.
	c := (*cInputEvent)(unsafe.Pointer(&b[0]))
	if c.Type != scanner.EvKey || c.Code != 30 || c.Value != 1 || c.Usec != 123456 {
		t.Fatalf("layout: %+v", *c)
	}
}

func TestKeyFor(t *testing.T) {
	for _, tc := range []struct {
		r     rune
		code  uint16
		shift bool
	}{
		{'a', 30, false}, {'A', 30, true}, {'1', 2, false}, {'!', 2, true}, {'0', 11, false}, {')', 11, true},
		{'-', 12, false}, {'_', 12, true}, {':', 39, true}, {'"', 40, true}, {'~', 41, true}, {'|', 43, true},
		{'/', 53, false}, {'?', 53, true}, {' ', 57, false}, {'*', 9, true}, {'\r', scanner.KeyEnter, false},
	} {
		code, shift, ok := scanner.KeyFor(tc.r)
		if !ok || code != tc.code || shift != tc.shift {
			t.Errorf("KeyFor(%q) = %d, %t, %t; want %d, %t", tc.r, code, shift, ok, tc.code, tc.shift)
		}
	}
	if _, _, ok := scanner.KeyFor('码'); ok {
		t.Error("KeyFor(码) ok")
	}
}

func newEvdev(t *testing.T) (*scannersim.Evdev, *scanner.HID) {
	t.Helper()
	v, err := scannersim.NewEvdev(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	o := scanner.DefaultHIDOpts
	o.NoGrab = true
	o.IdleGap = 60 * time.Millisecond
	o.ReopenMin, o.ReopenMax = 5*time.Millisecond, 30*time.Millisecond
	o.Logger = quietLog()
	o.MaxLen = 64
	h, err := scanner.OpenHID(v.Path(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return v, h
}

func TestHIDKeyMapping(t *testing.T) {
	v, h := newEvdev(t)
	// Every printable ASCII character, both cases, all shifted symbols.
	var all strings.Builder
	for r := rune(' '); r < 0x7f; r++ {
		all.WriteRune(r)
	}
	codes := []string{"CG1:PUPIL-20260001", "https://gate.example/q?id=T0042&v=1", all.String()[:60], all.String()[60:]}
	for _, c := range codes {
		if err := v.Type(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range codes {
		wantCode(t, h, c)
	}
	if !strings.Contains(h.String(), v.Path()) || !h.Connected() {
		t.Errorf("String = %q, Connected = %t", h.String(), h.Connected())
	}
}

func TestHIDRightShiftRepeatKPEnter(t *testing.T) {
	v, h := newEvdev(t)
	var b []byte
	ev := func(typ, code uint16, val int32) {
		b = scanner.AppendInputEvent(b, scanner.InputEvent{Time: time.Now(), Type: typ, Code: code, Value: val})
	}
	key := func(code uint16, val int32) { ev(scanner.EvKey, code, val); ev(scanner.EvSyn, scanner.SynReport, 0) }
	key(scanner.KeyRightShift, 1)
	key(30, 1) // A
	key(30, 2) // auto-repeat: ignored
	key(30, 0)
	key(scanner.KeyRightShift, 0)
	key(30, 1) // a
	key(30, 0)
	key(scanner.KeyLeftShift, 1)
	key(scanner.KeyRightShift, 1)
	key(scanner.KeyLeftShift, 0) // right still held
	key(3, 1)                    // @
	key(3, 0)
	key(scanner.KeyRightShift, 0)
	key(79, 1) // KP1
	key(79, 0)
	key(scanner.KeyKPEnter, 1)
	key(scanner.KeyKPEnter, 0)
	// Split the stream mid-event, as a FIFO may deliver it.
	if err := v.WriteRaw(b[:scanner.EventSize+5]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := v.WriteRaw(b[scanner.EventSize+5:]); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h, "Aa@1")
}

func TestHIDFaults(t *testing.T) {
	v, h := newEvdev(t)
	if err := v.Type(strings.Repeat("x", 100)); err != nil { // MaxLen 64
		t.Fatal(err)
	}
	wantFrameErr(t, h, scanner.TooLong, scanner.ErrTooLong)
	if err := v.TypeNoEnter("NO-ENTER"); err != nil {
		t.Fatal(err)
	}
	wantFrameErr(t, h, scanner.Incomplete, scanner.ErrIncomplete)
	if err := v.Type("OK"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h, "OK")
}

func TestHIDUnplugReplug(t *testing.T) {
	v, h := newEvdev(t)
	if err := v.Type("ONE"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h, "ONE")
	if err := v.Unplug(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !h.Connected() })
	if err := v.Replug(); err != nil {
		t.Fatal(err)
	}
	if err := v.Type("TWO"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h, "TWO")
}

func TestHIDCloseAndCancel(t *testing.T) {
	_, h := newEvdev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %v", err)
	}
	errc := make(chan error, 1)
	go func() { _, err := h.Next(context.Background()); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, scanner.ErrClosed) {
			t.Fatalf("Next = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next blocked after Close")
	}
}

func TestHIDGrabNotEvdev(t *testing.T) {
	// A regular file: the grab ioctl fails and the error must say why.
	p := filepath.Join(t.TempDir(), "not-input")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := scanner.OpenHID(p, nil)
	if !errors.Is(err, scanner.ErrNotEvdev) || !strings.Contains(err.Error(), "EVIOCGRAB") {
		t.Fatalf("OpenHID(regular file) = %v, want ErrNotEvdev", err)
	}
	if _, err := scanner.OpenHID(p, &scanner.HIDOpts{MaxLen: 0}); err == nil {
		t.Fatal("OpenHID with MaxLen 0 succeeded")
	}
}
