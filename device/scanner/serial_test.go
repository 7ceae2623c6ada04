package scanner_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"campusgate/device/scanner"
	"campusgate/device/scanner/scannersim"
)

func TestSerialEndToEnd(t *testing.T) {
	for _, p := range []scanner.Prefix{scanner.PrefixNone, scanner.PrefixSTX} {
		for _, s := range []scanner.Suffix{scanner.SuffixCR, scanner.SuffixLF, scanner.SuffixCRLF, scanner.SuffixETX} {
			t.Run(p.String()+"/"+s.String(), func(t *testing.T) {
				v := newSim(t, p, s)
				o := testOpts()
				o.Prefix, o.Suffix = p, s
				d := openDev(t, v.Path(), o)
				codes := []string{"CG1:PUPIL-20260001", "健康码:绿码 staff-0042", "GS1\x1d0101234567890128"}
				for _, c := range codes {
					if err := v.Scan(c); err != nil {
						t.Fatal(err)
					}
				}
				for _, c := range codes {
					got, err := next(t, d)
					if err != nil || got.Text != c || got.Port != v.Path() || got.At.IsZero() {
						t.Fatalf("Next = %+v, %v; want %q", got, err, c)
					}
				}
				if !d.Connected() {
					t.Error("Connected() = false")
				}
				if !strings.Contains(d.String(), v.Path()) {
					t.Errorf("String() = %q", d.String())
				}
			})
		}
	}
}

func TestSerialFaults(t *testing.T) {
	v := newSim(t, scanner.PrefixNone, scanner.SuffixCR)
	o := testOpts()
	o.MaxLen = 32
	d := openDev(t, v.Path(), o)

	// Over-long: dropped up to the terminator, then the next code is fine.
	if err := v.Scan(strings.Repeat("X", 100)); err != nil {
		t.Fatal(err)
	}
	wantFrameErr(t, d, scanner.TooLong, scanner.ErrTooLong)
	// Invalid UTF-8 (a scanner left in GBK output mode sends 0xBD 0xA1 ...).
	if err := v.WriteRaw([]byte{0xbd, 0xa1, 0xbf, 0xb5, '\r'}); err != nil {
		t.Fatal(err)
	}
	wantFrameErr(t, d, scanner.InvalidUTF8, scanner.ErrInvalidUTF8)
	// Garbage: control characters inside a frame.
	if err := v.WriteRaw([]byte{0x00, 0x01, 'a', '\r'}); err != nil {
		t.Fatal(err)
	}
	wantFrameErr(t, d, scanner.Garbage, scanner.ErrGarbage)
	// No terminator: dropped after IdleGap.
	if err := v.WriteRaw([]byte("HALF-A-CO")); err != nil {
		t.Fatal(err)
	}
	wantFrameErr(t, d, scanner.Incomplete, scanner.ErrIncomplete)
	if err := v.Scan("OK-AFTER-FAULTS"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d, "OK-AFTER-FAULTS")
}

func TestSerialGarbageNoise(t *testing.T) {
	v := newSim(t, scanner.PrefixSTX, scanner.SuffixETX)
	o := testOpts()
	o.Prefix, o.Suffix = scanner.PrefixSTX, scanner.SuffixETX
	d := openDev(t, v.Path(), o)
	if err := v.Garbage(10); err != nil {
		t.Fatal(err)
	}
	if err := v.Scan("AFTER-NOISE"); err != nil {
		t.Fatal(err)
	}
	wantFrameErr(t, d, scanner.Garbage, scanner.ErrGarbage)
	wantCode(t, d, "AFTER-NOISE")
}

func TestSerialStaleBytesFlushed(t *testing.T) {
	v := newSim(t, scanner.PrefixNone, scanner.SuffixCR)
	// Written before Open: half a frame and a whole old code sitting in the buffer.
	if err := v.WriteRaw([]byte("OLD-CODE\rHALF-")); err != nil {
		t.Fatal(err)
	}
	d := openDev(t, v.Path(), testOpts())
	if err := v.Scan("FRESH"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d, "FRESH")
}

func TestSerialUnplugReplug(t *testing.T) {
	v := newSim(t, scanner.PrefixNone, scanner.SuffixCR)
	d := openDev(t, v.Path(), testOpts())
	if err := v.Scan("BEFORE"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d, "BEFORE")
	for i := range 3 {
		if err := v.Unplug(); err != nil {
			t.Fatal(err)
		}
		if err := v.Scan("LOST"); !errors.Is(err, scannersim.ErrUnplugged) {
			t.Fatalf("Scan while unplugged: %v", err)
		}
		waitFor(t, func() bool { return !d.Connected() })
		time.Sleep(20 * time.Millisecond) // let the driver fail a few reopens
		if err := v.Replug(); err != nil {
			t.Fatal(err)
		}
		// Written at once, possibly before the driver has reopened: must not be lost.
		want := "AFTER-" + string(rune('0'+i))
		if err := v.Scan(want); err != nil {
			t.Fatal(err)
		}
		wantCode(t, d, want)
		if !d.Connected() {
			t.Error("Connected() = false after a code arrived")
		}
	}
}

func TestSerialUnplugMidFrame(t *testing.T) {
	v := newSim(t, scanner.PrefixNone, scanner.SuffixCR)
	o := testOpts()
	o.IdleGap = 0 // only the unplug can end the partial frame
	d := openDev(t, v.Path(), o)
	if err := v.WriteRaw([]byte("PARTIAL")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := v.Unplug(); err != nil {
		t.Fatal(err)
	}
	wantFrameErr(t, d, scanner.Incomplete, scanner.ErrIncomplete)
	if err := v.Replug(); err != nil {
		t.Fatal(err)
	}
	if err := v.Scan("NEXT"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d, "NEXT")
}

func TestSerialCloseWhileBlocked(t *testing.T) {
	v := newSim(t, scanner.PrefixNone, scanner.SuffixCR)
	d, err := scanner.Open(v.Path(), ptr(testOpts()))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := d.Next(context.Background())
		errc <- err
	}()
	time.Sleep(30 * time.Millisecond)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, scanner.ErrClosed) {
			t.Fatalf("Next after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still blocked after Close")
	}
	if _, err := d.Next(context.Background()); !errors.Is(err, scanner.ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestSerialCloseWhileUnplugged(t *testing.T) {
	v := newSim(t, scanner.PrefixNone, scanner.SuffixCR)
	d, err := scanner.Open(v.Path(), ptr(testOpts()))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Unplug(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !d.Connected() })
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSerialContextCancel(t *testing.T) {
	v := newSim(t, scanner.PrefixNone, scanner.SuffixCR)
	d := openDev(t, v.Path(), testOpts())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := d.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %v, want DeadlineExceeded", err)
	}
	// The Dev still works after a cancelled Next.
	if err := v.Scan("STILL-HERE"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d, "STILL-HERE")
}

func TestOpenValidatesBeforeIO(t *testing.T) {
	bad := []func(*scanner.Opts){
		func(o *scanner.Opts) { o.Baud = 0 },
		func(o *scanner.Opts) { o.DataBits = 9 },
		func(o *scanner.Opts) { o.StopBits = 1 }, // OnePointFiveStopBits
		func(o *scanner.Opts) { o.Parity = 99 },
		func(o *scanner.Opts) { o.Suffix = 0 },
		func(o *scanner.Opts) { o.Prefix = 7 },
		func(o *scanner.Opts) { o.MaxLen = 0 },
		func(o *scanner.Opts) { o.IdleGap = -1 },
		func(o *scanner.Opts) { o.ReopenMin, o.ReopenMax = time.Second, time.Millisecond },
	}
	for i, f := range bad {
		o := scanner.DefaultOpts
		f(&o)
		// The path does not exist: a validation error must come first.
		_, err := scanner.Open("/nonexistent/tty", &o)
		if err == nil || strings.Contains(err.Error(), "nonexistent") {
			t.Errorf("case %d: Open = %v, want a validation error", i, err)
		}
	}
	if _, err := scanner.Open("/nonexistent/tty", nil); err == nil || !strings.Contains(err.Error(), "/nonexistent/tty") {
		t.Errorf("Open(missing) = %v", err)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]scanner.Suffix{"cr": scanner.SuffixCR, "LF": scanner.SuffixLF, "crlf": scanner.SuffixCRLF, "etx": scanner.SuffixETX} {
		if got, err := scanner.ParseSuffix(in); err != nil || got != want {
			t.Errorf("ParseSuffix(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := scanner.ParseSuffix("tab"); err == nil {
		t.Error("ParseSuffix(tab) succeeded")
	}
	for in, want := range map[string]scanner.Prefix{"none": scanner.PrefixNone, "STX": scanner.PrefixSTX} {
		if got, err := scanner.ParsePrefix(in); err != nil || got != want {
			t.Errorf("ParsePrefix(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := scanner.ParsePrefix("soh"); err == nil {
		t.Error("ParsePrefix(soh) succeeded")
	}
	if !bytes.Equal(scanner.SuffixCRLF.Bytes(), []byte("\r\n")) {
		t.Error("SuffixCRLF.Bytes")
	}
}

func ptr[T any](v T) *T { return &v }

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5s")
}
