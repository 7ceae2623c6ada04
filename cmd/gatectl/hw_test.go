package main

import (
	"bytes"
	"campusgate/device/voice/voicetest"
	"campusgate/gate"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2creg"
)

func gatectl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return gatectlIn(t, "", args...)
}

// gatectlIn runs gatectl with stdin.
func gatectlIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestHwTempSimulated(t *testing.T) {
	code, out, errs := gatectl(t, "hw", "temp", "-simulate", "-n", "5", "-interval", "1ms")
	if code != 0 || !strings.Contains(out, "object  36.6") || !strings.Contains(out, "5 readings, 0 errors") || !strings.Contains(out, "read time min/avg/max") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}

func TestHwTempSimulated632(t *testing.T) {
	code, out, errs := gatectl(t, "hw", "temp", "-simulate", "-chip", "mlx90632", "-n", "2", "-interval", "1ms")
	if code != 0 || !strings.Contains(out, "object  36.60 °C") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}

func TestHwWithoutHardware(t *testing.T) {
	code, out, _ := gatectl(t, "hw", "list")
	if code != 0 || !strings.Contains(out, "I²C buses:") || !strings.Contains(out, "Serial ports:") {
		t.Fatalf("hw list: exit %d\n%s", code, out)
	}
	if len(i2creg.All()) > 0 {
		t.Skip("this machine has an I²C bus")
	}
	code, _, errs := gatectl(t, "hw", "temp")
	if code != 1 || !strings.Contains(errs, "no I²C bus on this machine") || !strings.Contains(errs, "dtparam=i2c_arm=on") {
		t.Fatalf("hw temp without a bus: exit %d: %s", code, errs)
	}
	code, _, errs = gatectl(t, "hw", "relay", "-pin", "GPIO17")
	if code != 1 || !strings.Contains(errs, "GPIO17") {
		t.Fatalf("hw relay without GPIO: exit %d: %s", code, errs)
	}
	code, _, errs = gatectl(t, "hw", "scan", "-port", "/dev/does-not-exist")
	if code != 1 || errs == "" {
		t.Fatalf("hw scan on a missing port: exit %d: %s", code, errs)
	}
}

func TestHwUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"hw"}, {"hw", "bogus"}, {"bogus"}, {"hw", "temp", "-addr", "0x1ff"}, {"hw", "temp", "-n", "0"},
		{"hw", "scan"}, {"hw", "scan", "-suffix", "tab", "-simulate"}, {"hw", "lights", "-signal", "dance", "-simulate"}, {"hw", "temp", "extra"}} {
		if code, _, _ := gatectl(t, args...); code != 2 {
			t.Errorf("gatectl %q: exit %d, want 2", args, code)
		}
	}
}

func TestHwScanSimulated(t *testing.T) {
	code, out, errs := gatectl(t, "hw", "scan", "-simulate")
	if code != 0 || !strings.Contains(out, `"CG1:PUPIL-20260001"`) || !strings.Contains(out, "健康码:绿码") || !strings.Contains(out, "bad frame") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}

func TestHwRelayAndLightsSimulated(t *testing.T) {
	code, out, errs := gatectl(t, "hw", "relay", "-simulate", "-pulse", "20ms")
	if code != 0 || !strings.Contains(out, "released after") {
		t.Fatalf("relay: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = gatectl(t, "hw", "lights", "-simulate", "-signal", "stop", "-for", "10ms")
	if code != 0 || !strings.Contains(out, "showing stop") {
		t.Fatalf("lights: exit %d\n%s\n%s", code, out, errs)
	}
}

// TestHwDisplaySimulated: every kind of screen in turn, as the emulated LCD
// shows it; an OLED; a display named nowhere.
func TestHwDisplaySimulated(t *testing.T) {
	code, out, errs := gatectl(t, "hw", "display", "-simulate", "-chip", "hd44780-pcf8574", "-each", "1ms")
	for _, want := range []string{"showing SCAN\n  |SCAN YOUR PASS  |", "|PASS 36.6C      |", "|STOP 38.2C      |", "|PLEASE WAIT     |\n  |See the guard   |"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q in\n%s\n%s", code, want, out, errs)
		}
	}
	if code, out, errs := gatectl(t, "hw", "display", "-simulate", "-chip", "ssd1306", "-height", "32", "-each", "1ms"); code != 0 || strings.Count(out, "showing") != 7 {
		t.Fatalf("oled: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := gatectl(t, "hw", "display", "-simulate"); code != 2 || !strings.Contains(errs, "give -chip") {
		t.Fatalf("no display: exit %d %s", code, errs)
	}
}

// TestRelayReleasedOnSIGTERM runs the real command, holds the relay, stops it
// the way systemd does, and reads the pin's history from the mirror file.
func TestRelayReleasedOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatectl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	log := filepath.Join(dir, "pin.log")
	cmd := exec.Command(bin, "hw", "relay", "-simulate", "-hold", "-active-low", "-pin-log", log)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(readFile(log), "Low") { // active-low: held = Low
		if time.Now().After(deadline) {
			t.Fatalf("relay never held: %q", readFile(log))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(readFile(log)), "\n")
	if last := lines[len(lines)-1]; !strings.HasSuffix(last, "High") {
		t.Fatalf("pin history %q: the relay was not released on SIGTERM", lines)
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// TestHwCheck: against the emulated box every check passes; on this machine
// (no I²C, no GPIO, no UART) each missing part fails with what to fix; a
// config.txt without the board's settings is named line by line.
func TestHwCheck(t *testing.T) {
	for _, b := range []string{"pi-zero-2w", "pi-3b-plus", "pi-4b", "pi-5", "cm4"} {
		code, out, errs := gatectl(t, "hw", "check", "-profile", b, "-sensor", "mlx90632", "-simulate")
		if code != 0 || !strings.Contains(out, "all 7 checks passed") {
			t.Errorf("%s, emulated: %d\n%s%s", b, code, out, errs)
		}
	}
	// Each scanner profile's framing goes through the real driver, from an emulated scanner framed the same way.
	for _, sc := range []string{"uart-9600", "usb-cdc-115200", "hid-wedge"} {
		code, out, errs := gatectl(t, "hw", "check", "-profile", "pi-4b", "-scanner", sc, "-simulate")
		if code != 0 || !strings.Contains(out, "all 7 checks passed") || !strings.Contains(out, "scanner (emulated") {
			t.Errorf("scanner %s, emulated: %d\n%s%s", sc, code, out, errs)
		}
	}
	boot := filepath.Join(t.TempDir(), "config.txt")
	if err := os.WriteFile(boot, []byte("dtparam=audio=on\nenable_uart=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := gatectl(t, "hw", "check", "-profile", "pi-4b", "-boot-config", boot)
	if code != 1 {
		t.Fatalf("on a machine without the hardware: exit %d\n%s", code, out)
	}
	for _, want := range []string{"FAIL  boot settings", "dtparam=i2c_arm=on,i2c_arm_baudrate=100000", "dtoverlay=disable-bt", "FAIL  I²C bus", "fix:"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "missing enable_uart=1") {
		t.Errorf("a setting config.txt has is reported missing:\n%s", out)
	}
	if code, _, errs := gatectl(t, "hw", "check", "-profile", "pi-9"); code == 0 || !strings.Contains(errs, "pi-9") {
		t.Errorf("an unknown board: %d %s", code, errs)
	}
}

// TestRelayReleaseFromConfig: gated.service's ExecStopPost releases the relay
// gated.toml names, with its polarity (an active-low board is released High),
// and refuses a config it cannot read rather than drive a guessed pin.
func TestRelayReleaseFromConfig(t *testing.T) {
	dir := t.TempDir()
	tmpl, err := os.ReadFile("../../deploy/etc/gated.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(`gate_id   = "CHANGE-ME"`, `gate_id = "north-1"`, `school_id = "CHANGE-ME"`, `school_id = "hz-001"`,
		`# relay_pin = "GPIO17"`, `relay_pin = "GPIO22"`, `# relay_active_low = true`, `relay_active_low = true`).Replace(string(tmpl))
	path := filepath.Join(dir, "gated.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "pin.log")
	code, out, errs := gatectl(t, "hw", "relay", "-release", "-simulate", "-config", path, "-pin-log", log)
	if code != 0 || !strings.Contains(out, "GPIO22") || !strings.Contains(out, "released") {
		t.Fatalf("release: %d\n%s%s", code, out, errs)
	}
	for _, l := range strings.Split(strings.TrimSpace(readFile(log)), "\n") {
		if !strings.HasSuffix(l, "GPIO22 High") {
			t.Fatalf("pin history %q: an active-low relay is released High", readFile(log))
		}
	}
	// A config gated would refuse (its gate_id still CHANGE-ME) still says which pin to release.
	broken := filepath.Join(dir, "broken.toml")
	brokenText := strings.NewReplacer(`# relay_pin = "GPIO17"`, `relay_pin = "GPIO22"`, `# relay_active_low = true`, `relay_active_low = true`).Replace(string(tmpl))
	if err := os.WriteFile(broken, []byte(brokenText), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := gate.LoadConfig(broken); err == nil {
		t.Fatal("the broken config loads")
	}
	if code, out, errs := gatectl(t, "hw", "relay", "-release", "-simulate", "-config", broken); code != 0 || !strings.Contains(out, "GPIO22") {
		t.Fatalf("release with a config broken elsewhere: %d\n%s%s", code, out, errs)
	}
	// Not TOML at all: refused, the file named, rather than a pin and polarity guessed.
	garbage := filepath.Join(dir, "garbage.toml")
	if err := os.WriteFile(garbage, []byte("relay_pin = = GPIO22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = gatectl(t, "hw", "relay", "-release", "-simulate", "-config", garbage)
	if code == 0 || !strings.Contains(errs, "garbage.toml") {
		t.Fatalf("unreadable gated.toml: %d %s, want it refused and named", code, errs)
	}
}

// hw voice plays every prompt in both languages, saying its words; to ALSA's
// null device under -simulate, through the real aplay.
func TestHwVoiceSimulated(t *testing.T) {
	voicetest.NeedAplay(t)
	code, out, errs := gatectl(t, "hw", "voice", "-simulate", "-dir", "../../firmware-config/sounds")
	if code != 0 || !strings.Contains(out, "zh-CN fever    体温异常，请到临时隔离室等候") || !strings.Contains(out, "en    pass     Temperature normal") ||
		!strings.Contains(out, "18 prompts played on null") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = gatectl(t, "hw", "voice", "-simulate", "-dir", t.TempDir())
	if code != 1 || !strings.Contains(errs, "no zh-CN prompts in") {
		t.Fatalf("hw voice without prompts: exit %d: %s", code, errs)
	}
	for _, args := range [][]string{{"-prompt", "sing"}, {"-language", "fr"}} {
		if code, _, _ := gatectl(t, append([]string{"hw", "voice", "-simulate"}, args...)...); code != 2 {
			t.Errorf("hw voice %q: exit %d, want 2", args, code)
		}
	}
}
