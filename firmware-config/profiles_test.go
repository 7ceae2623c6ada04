package firmwareconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"campusgate/device/display"
	"campusgate/gate"
)

// TestAllProfilesLoad: every built-in profile parses and passes its checks,
// and every board's boot fragment turns on I²C at 100 kHz.
func TestAllProfilesLoad(t *testing.T) {
	Dir = "" // the built-in ones only
	for _, kind := range []string{"boards", "sensors", "scanners"} {
		names := Names(kind)
		if len(names) == 0 {
			t.Fatalf("no %s", kind)
		}
		for _, n := range names {
			var err error
			switch kind {
			case "boards":
				var b Board
				b, err = LoadBoard(n)
				if err == nil {
					frag, ferr := b.BootFragment()
					if ferr != nil || !strings.Contains(frag, "i2c_arm_baudrate=100000") {
						t.Errorf("%s: boot fragment %q %v", n, frag, ferr)
					}
				}
			case "sensors":
				_, err = LoadSensor(n)
			case "scanners":
				_, err = LoadScanner(n)
			}
			if err != nil {
				t.Errorf("%s/%s: %v", kind, n, err)
			}
		}
	}
	for _, want := range []string{"pi-zero-2w", "pi-3b-plus", "pi-4b", "pi-5", "cm4"} {
		if _, err := LoadBoard(want); err != nil {
			t.Errorf("board %s: %v", want, err)
		}
	}
}

// TestApply: a gated.toml naming profiles gets their values, keeps its own,
// and is refused with the key named when a pin is not the board's or a
// profile is unknown or broken.
func TestApply(t *testing.T) {
	Dir = t.TempDir()
	base := "gate_id = \"north-1\"\njournal = \"/tmp/j.db\"\n"
	cfg, err := gate.ParseConfigWith(base+`
[devices]
board = "pi-4b"
sensor_profile = "mlx90632"
scanner_profile = "uart-9600"
green_pin = "GPIO22"
`, Apply)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Devices
	if d.Sensor != "mlx90632" || d.Addr != 0x3A || d.Bus != "1" || d.ScannerPort != "/dev/ttyAMA0" || d.ScannerBaud != 9600 ||
		d.RelayPin != "GPIO17" || d.GreenPin != "GPIO22" || len(cfg.Temperature.Calibration.Table) == 0 {
		t.Fatalf("applied: %+v %+v", d, cfg.Temperature.Calibration)
	}
	for name, text := range map[string]string{
		"devices.relay_pin":       "[devices]\nboard = \"pi-4b\"\nrelay_pin = \"GPIO2\"\n", // I²C's SDA
		"devices.board":           "[devices]\nboard = \"pi-9\"\n",
		"devices.green_pin":       "[devices]\nboard = \"pi-4b\"\ngreen_pin = \"GPIO17\"\n", // the relay's default
		"devices.sensor_profile":  "[devices]\nsensor_profile = \"../../etc/passwd\"\n",
		"devices.scanner_profile": "[devices]\nscanner_profile = \"uart-9600\"\n", // its UART needs a board
	} {
		if _, err := gate.ParseConfigWith(base+text, Apply); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A box's own profile: found first, and checked like the built-in ones.
	if err := os.MkdirAll(filepath.Join(Dir, "boards"), 0o755); err != nil {
		t.Fatal(err)
	}
	custom := "name = \"carrier-x\"\ntitle = \"Our carrier\"\ni2c_bus = \"3\"\ngpio = [5, 6, 7, 8]\n[defaults]\nrelay_pin = \"GPIO5\"\n"
	if err := os.WriteFile(filepath.Join(Dir, "boards", "carrier-x.toml"), []byte(custom), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err = gate.ParseConfigWith(base+"[devices]\nboard = \"carrier-x\"\ngreen_pin = \"GPIO6\"\nred_pin = \"GPIO7\"\nbuzzer_pin = \"GPIO8\"\n", Apply)
	if err != nil || cfg.Devices.Bus != "3" {
		t.Fatalf("a box's own board: %+v %v", cfg.Devices, err)
	}
	// A box's sensor profile whose calibration would bring a fever under the threshold in force: refused.
	if err := os.MkdirAll(filepath.Join(Dir, "sensors"), 0o755); err != nil {
		t.Fatal(err)
	}
	cool := "name = \"cool\"\nchip = \"mlx90614\"\naddr = 0x5A\nemissivity = 0.98\n[calibration]\ntable = [[32.0, 35.0], [38.0, 37.0]]\n"
	if err := os.WriteFile(filepath.Join(Dir, "sensors", "cool.toml"), []byte(cool), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := gate.ParseConfigWith(base+"[devices]\nsensor_profile = \"cool\"\n", Apply); err == nil || !strings.Contains(err.Error(), "temperature.calibration") {
		t.Errorf("a calibration that cools fevers: %v", err)
	}
	if err := os.WriteFile(filepath.Join(Dir, "boards", "broken.toml"), []byte("name = \"broken\"\ngpio = [5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBoard("broken"); err == nil || !strings.Contains(err.Error(), "broken.toml") {
		t.Errorf("a broken profile: %v", err)
	}
	if err := os.WriteFile(filepath.Join(Dir, "boards", "typo.toml"), []byte("name = \"typo\"\ni2c_bus = \"1\"\ngpio = [5]\nrelay_pni = \"GPIO5\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBoard("typo"); err == nil || !strings.Contains(err.Error(), "relay_pni") {
		t.Errorf("a misspelt key: %v", err)
	}
}

// TestBoardDisplay: a board's optional [display] is checked at load, the key
// named when it is wrong, and may not sit on the sensor's address.
func TestBoardDisplay(t *testing.T) {
	const board = "name = \"box\"\ni2c_bus = \"1\"\ngpio = [5, 6]\n"
	b, err := parseBoard([]byte(board), "box.toml", "box")
	if err != nil || b.Display != nil {
		t.Fatalf("no display: %+v %v", b.Display, err)
	}
	for text, want := range map[string]display.Config{
		"[display]\nchip = \"ssd1306\"\n":                           {Chip: "ssd1306"},
		"[display]\nchip = \"ssd1306\"\naddr = 0x3D\nheight = 32\n": {Chip: "ssd1306", Addr: 0x3D, Height: 32},
		"[display]\nchip = \"hd44780-pcf8574\"\naddr = 0x27\n":      {Chip: "hd44780-pcf8574", Addr: 0x27},
	} {
		b, err := parseBoard([]byte(board+text), "box.toml", "box")
		if err != nil || b.Display == nil || *b.Display != want {
			t.Errorf("%q: %+v %v", text, b.Display, err)
		}
	}
	for text, key := range map[string]string{
		"[display]\nchip = \"st7789\"\n":                        "box.toml: display.chip \"st7789\"",
		"[display]\nchip = \"ssd1306\"\nheight = 48\n":          "box.toml: display.height 48",
		"[display]\nchip = \"hd44780-pcf8574\"\naddr = 0x100\n": "box.toml: display.addr 0x100",
		"[display]\nchip = \"hd44780-pcf8574\"\nheight = 64\n":  "box.toml: display.height",
		"[display]\nchip = \"ssd1306\"\nwidth = 128\n":          "box.toml: unknown key display.width",
		"[display]\nkind = \"ssd1306\"\n":                       "box.toml: unknown key display.kind",
	} {
		if _, err := parseBoard([]byte(board+text), "box.toml", "box"); err == nil || !strings.HasPrefix(err.Error(), key) {
			t.Errorf("%q: %v, want %s…", text, err, key)
		}
	}
	Dir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(Dir, "boards"), 0o755); err != nil {
		t.Fatal(err)
	}
	clash := "name = \"clash\"\ni2c_bus = \"1\"\ngpio = [5, 6, 13, 17]\n[display]\nchip = \"ssd1306\"\naddr = 0x5A\n"
	if err := os.WriteFile(filepath.Join(Dir, "boards", "clash.toml"), []byte(clash), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "gate_id = \"north-1\"\njournal = \"/tmp/j.db\"\n[devices]\nboard = \"clash\"\nsensor_profile = \"mlx90614\"\n"
	if _, err := gate.ParseConfigWith(base, Apply); err == nil || !strings.Contains(err.Error(), "devices.display.addr: 0x5a is the sensor's address") {
		t.Errorf("a display on the sensor's address: %v", err)
	}
	c, err := gate.ParseConfigWith(strings.Replace(base, "mlx90614", "mlx90632", 1), Apply)
	if err != nil || c.Devices.Display == nil || *c.Devices.Display != (display.Config{Chip: "ssd1306", Addr: 0x5A}) {
		t.Errorf("a display beside the sensor: %+v %v", c.Devices.Display, err)
	}
	// The box's file names its own display: it wins over the board's, and is
	// checked naming its key.
	own := strings.Replace(base, "mlx90614", "mlx90632", 1) + "[devices.display]\nchip = \"hd44780-pcf8574\"\nblank_after = \"2m\"\n"
	c, err = gate.ParseConfigWith(own, Apply)
	if err != nil || c.Devices.Display == nil || *c.Devices.Display != (display.Config{Chip: "hd44780-pcf8574", BlankAfter: 2 * time.Minute}) {
		t.Errorf("the file's own display: %+v %v", c.Devices.Display, err)
	}
	if _, err := gate.ParseConfigWith(strings.Replace(own, "2m", "1s", 1), Apply); err == nil || !strings.Contains(err.Error(), "devices.display.blank_after 1s outside") {
		t.Errorf("blank_after 1s: %v", err)
	}
}
