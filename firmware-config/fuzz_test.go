package firmwareconfig

import (
	"bytes"
	"math"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"campusgate/gate"

	"github.com/BurntSushi/toml"
)

var kinds = []string{"boards", "sensors", "scanners"}

// parseKind is LoadBoard, LoadSensor or LoadScanner on data.
func parseKind(kind string, data []byte) (any, error) {
	switch kind {
	case "boards":
		return parseBoard(data, "fuzz.toml", "fuzz")
	case "sensors":
		return parseSensor(data, "fuzz.toml", "fuzz")
	}
	return parseScanner(data, "fuzz.toml", "fuzz")
}

var nameLine = regexp.MustCompile(`(?m)^name\s*=.*$`)

// FuzzProfile: a profile file loads and passes its checks or is refused with
// an error, never a panic; what loads comes back the same when written out
// and loaded again. The seeds are the built-in profiles.
func FuzzProfile(f *testing.F) {
	for i, kind := range kinds {
		for _, n := range Names(kind) {
			b, err := builtin.ReadFile(kind + "/" + n + ".toml")
			if err != nil {
				f.Fatal(err)
			}
			f.Add(nameLine.ReplaceAll(b, []byte(`name = "fuzz"`)), uint8(i))
		}
	}
	f.Add([]byte("name = \"fuzz\"\nchip = \"mlx90614\"\naddr = 0x5A\nemissivity = nan"), uint8(1))
	f.Add([]byte("name = \"fuzz\"\nkind = \"serial\"\nbaud = 9600\nprefix = \"STX \"\nsuffix = \"etx\""), uint8(2))
	f.Add([]byte("name = \"fuzz\"\ni2c_bus = \"1\"\ngpio = [17, 99]"), uint8(0))
	f.Add([]byte("name = \"fuzz\"\ni2c_bus = \"1\"\ngpio = [17]\nboot = \"../profiles.go\""), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, k uint8) {
		kind := kinds[int(k)%len(kinds)]
		p, err := parseKind(kind, data)
		if err != nil {
			return
		}
		if s, ok := p.(Sensor); ok && math.IsNaN(s.Emissivity) {
			t.Fatalf("sensor with a NaN emissivity accepted")
		}
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(p); err != nil {
			t.Fatalf("loaded %s profile does not encode: %v", kind, err)
		}
		again, err := parseKind(kind, buf.Bytes())
		if err != nil {
			t.Fatalf("written-out %s profile does not load: %v\n%s", kind, err, buf.String())
		}
		if !reflect.DeepEqual(p, again) {
			t.Fatalf("%s profile changed through a write and load:\n%+v\n%+v", kind, p, again)
		}
	})
}

// FuzzConfigWithProfiles is gated's loader (the file, with the profiles it
// names filled in): a config loads or is refused, never a panic; what loads
// re-validates, keeps every pin on its board, and loads the same again when
// written out.
func FuzzConfigWithProfiles(f *testing.F) {
	Dir = "" // the built-in profiles only
	f.Add("gate_id = \"g\"\n[devices]\nboard = \"pi-4b\"\nsensor_profile = \"mlx90632\"\nscanner_profile = \"uart-9600\"")
	f.Add("gate_id = \"g\"\n[devices]\nboard = \"pi-zero-2w\"\nscanner_profile = \"hid-wedge\"\nrelay_pin = \"GPIO4\"")
	f.Add("gate_id = \"g\"\nmode = \"checkpoint\"\n[devices]\nboard = \"pi-5\"\nrelay_pin = \"GPIO99\"")
	f.Add("gate_id = \"g\"\n[devices]\nscanner_profile = \"uart-9600\"")
	f.Add("gate_id = \"g\"\n[devices]\nsensor_profile = \"mlx90614\"\nemissivity = 0.95\n[temperature.calibration]\noffset_c = 1.0")
	f.Add("gate_id = \"g\"\n[devices]\nboard = \"../../etc/passwd\"")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := gate.ParseConfigWith(text, Apply)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded config does not re-validate: %v", err)
		}
		if c.Devices.Board != "" {
			b, err := LoadBoard(c.Devices.Board)
			if err != nil {
				t.Fatalf("loaded config names a board that does not load: %v", err)
			}
			for _, pin := range []string{c.Devices.GreenPin, c.Devices.RedPin, c.Devices.BuzzerPin} {
				if n, ok := gate.PinNumber(pin); pin != "" && (!ok || !slices.Contains(b.GPIO, n)) {
					t.Fatalf("pin %s is not on the %s", pin, b.Name)
				}
			}
		}
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(c); err != nil {
			t.Fatalf("loaded config does not encode: %v", err)
		}
		again, err := gate.ParseConfigWith(buf.String(), Apply)
		if err != nil {
			t.Fatalf("written-out config does not load: %v\n%s", err, buf.String())
		}
		if len(again.Arrival.Windows) == 0 && len(c.Arrival.Windows) == 0 {
			again.Arrival.Windows = c.Arrival.Windows
		}
		if len(again.Temperature.Calibration.Table) == 0 && len(c.Temperature.Calibration.Table) == 0 {
			again.Temperature.Calibration.Table = c.Temperature.Calibration.Table
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("config changed through a write and load:\n%+v\n%+v", c, again)
		}
	})
}
