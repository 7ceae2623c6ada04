package scannersim_test

import (
	"errors"
	"os"
	"testing"

	"campusgate/device/scanner"
	"campusgate/device/scanner/scannersim"
)

func TestSerialLifecycle(t *testing.T) {
	v, err := scannersim.NewSerial(t.TempDir(), scanner.PrefixNone, scanner.SuffixCR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(v.Path()); err != nil {
		t.Fatal(err)
	}
	if err := v.Unplug(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(v.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("symlink still there after Unplug: %v", err)
	}
	if err := v.Scan("X"); !errors.Is(err, scannersim.ErrUnplugged) {
		t.Fatalf("Scan unplugged = %v", err)
	}
	if err := v.Replug(); err != nil {
		t.Fatal(err)
	}
	if err := v.Scan("X"); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Scan("X"); !errors.Is(err, scannersim.ErrClosed) {
		t.Fatalf("Scan after Close = %v", err)
	}
	if _, err := scannersim.NewSerial(t.TempDir(), scanner.PrefixNone, 0); err == nil {
		t.Fatal("NewSerial with bad suffix succeeded")
	}
}

func TestEvdevKeystrokes(t *testing.T) {
	b, err := scannersim.Keystrokes("aA", scanner.KeyEnter)
	if err != nil {
		t.Fatal(err)
	}
	// a: 2 presses; A: shift down, 2 presses, shift up; Enter: 2 presses. 3 events each.
	if want := 3 * (2 + 4 + 2) * scanner.EventSize; len(b) != want {
		t.Fatalf("%d bytes, want %d", len(b), want)
	}
	if _, err := scannersim.Keystrokes("绿码", 0); err == nil {
		t.Fatal("Keystrokes(绿码) succeeded")
	}
	v, err := scannersim.NewEvdev(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Unplug(); err != nil {
		t.Fatal(err)
	}
	if err := v.Type("x"); !errors.Is(err, scannersim.ErrUnplugged) {
		t.Fatalf("Type unplugged = %v", err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
}
