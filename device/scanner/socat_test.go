package scanner_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"campusgate/device/scanner"
)

// TestSocatPair runs the driver on one end of a pty pair linked by socat, the way
// a scanner is bench-tested against a USB-serial loopback, independent of scannersim.
func TestSocatPair(t *testing.T) {
	bin, err := exec.LookPath("socat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("socat is required in CI: apt-get install socat")
		}
		t.Skip("socat not installed")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-d", "-d", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	waitFor(t, func() bool {
		_, ea := os.Stat(a)
		_, eb := os.Stat(b)
		return ea == nil && eb == nil
	})
	o := testOpts()
	o.Prefix, o.Suffix = scanner.PrefixSTX, scanner.SuffixCRLF
	d := openDev(t, b, o)
	w, err := os.OpenFile(a, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	// One frame split over two writes with a pause inside CRLF, then two in one write.
	for _, chunk := range []string{"\x02CG1:T0042\r", "\n\x02健康码\r\n\x02V7f3a\r\n"} {
		if _, err := w.WriteString(chunk); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{"CG1:T0042", "健康码", "V7f3a"} {
		wantCode(t, d, want)
	}
}
