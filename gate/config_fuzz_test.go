package gate

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"
)

// configSeeds are gated's files as they are written, and the corners a
// loader gets wrong: TOML's nan and inf, a table the school shortens, keys
// outside what the school may set.
var configSeeds = []string{
	goodConfig,
	`gate_id = "g"`,
	`gate_id = "g"` + "\n[temperature]\nthreshold_c = nan",
	`gate_id = "g"` + "\n[temperature]\nmin_valid_c = nan\nmax_valid_c = nan",
	`gate_id = "g"` + "\n[temperature]\npresence_delta_c = nan\nstable_spread_c = -nan",
	`gate_id = "g"` + "\n[devices]\nemissivity = nan",
	`gate_id = "g"` + "\n[temperature]\nthreshold_c = inf",
	`gate_id = "g"` + "\nmode = \"checkpoint\"\n[devices]\nrelay_pin = \"GPIO5\"",
	`gate_id = "g"` + "\n[temperature.calibration]\ntable = [[36.0, nan]]",
	`gate_id = "g"` + "\nschool_id = \"s\"\n[sync]\nbroker = \"ssl://s:8883\"\ncert_file = \"c\"\nkey_file = \"k\"",
	"[temperature.calibration]\ntable = [[34.0, 36.6]]",
	"[temperature]\nthreshold_c = 37.5\n[roles.pupil]\nadmit = false",
	"[[arrival.windows]]\ngrade = \"3\"\nstart = \"08:00\"\nend = \"08:20\"",
	"journal = \"/tmp/other.db\"",
	"[sync]\nbroker = \"tcp://evil:1883\"",
	"[devices]\nrelay_pin = \"GPIO22\"",
	`gate_id = "g"` + "\n[voice]\nenabled = true\nlanguage = \"zh-CN+en\"\ndevice = \"plughw:CARD=Headphones\"",
	"[voice]\nenabled = true",
	"gate_id = 1",
	"[temperature\n",
}

// finite reports whether every float in the config is a number: a NaN
// compares false with every bound, so a range check written as "x < lo || x >
// hi" lets it through, and a NaN fever threshold admits every fever.
func finite(c Config) bool {
	t := c.Temperature
	for _, v := range []float64{t.ThresholdC, t.PresenceDeltaC, t.StableSpreadC, t.MinValidC, t.MaxValidC,
		t.Calibration.OffsetC, c.Devices.Emissivity} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	for _, p := range t.Calibration.Table {
		if math.IsNaN(p[0]) || math.IsNaN(p[1]) || math.IsInf(p[0], 0) || math.IsInf(p[1], 0) {
			return false
		}
	}
	return true
}

// FuzzParseConfig: a config file loads and validates or is refused with an
// error, never a panic; what loads is finite, still valid, and comes back the
// same when written out and loaded again.
func FuzzParseConfig(f *testing.F) {
	for _, s := range configSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseConfig(text)
		if err != nil {
			return
		}
		if !finite(c) {
			t.Fatalf("accepted a config with a NaN or infinite setting: %+v", c.Temperature)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded config does not re-validate: %v", err)
		}
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(c); err != nil {
			t.Fatalf("loaded config does not encode: %v", err)
		}
		again, err := ParseConfig(buf.String())
		if err != nil {
			t.Fatalf("written-out config does not load: %v\n%s", err, buf.String())
		}
		if !reflect.DeepEqual(normal(c), normal(again)) {
			t.Fatalf("config changed through a write and load:\n%+v\n%+v", c, again)
		}
	})
}

// normal makes empty lists nil: TOML writes both the same way.
func normal(c Config) Config {
	if len(c.Arrival.Windows) == 0 {
		c.Arrival.Windows = nil
	}
	if len(c.Temperature.Calibration.Table) == 0 {
		c.Temperature.Calibration.Table = nil
	}
	return c
}

// FuzzOverlay: a document from the school is applied or refused, never a
// panic; a refusal leaves the gate's config as it was, an acceptance is valid
// and finite, and neither ever changes the box's own settings (or the file's
// config it was laid over, which gated keeps to lay the next document on).
func FuzzOverlay(f *testing.F) {
	base, err := ParseConfig(goodConfig)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range configSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		file, _ := ParseConfig(goodConfig)
		out, err := file.Overlay(text)
		if !reflect.DeepEqual(file, base) {
			t.Fatalf("Overlay changed the config it was given:\n%+v\n%+v", file.Temperature, base.Temperature)
		}
		if err != nil {
			if !reflect.DeepEqual(out, base) {
				t.Fatalf("refused document changed the config: %v", err)
			}
			return
		}
		if !finite(out) {
			t.Fatalf("accepted a document with a NaN or infinite setting: %+v", out.Temperature)
		}
		if err := out.Validate(); err != nil {
			t.Fatalf("overlaid config does not re-validate: %v", err)
		}
		box := func(c Config) []any {
			return []any{c.GateID, c.SchoolID, c.Journal, c.Language, c.Mode, c.Devices, c.Console, c.Sync}
		}
		if !reflect.DeepEqual(box(out), box(base)) {
			t.Fatalf("the school changed the box's own settings:\n%+v\n%+v", box(out), box(base))
		}
	})
}
