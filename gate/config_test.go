package gate

import (
	"strings"
	"testing"
)

const goodConfig = `
gate_id = "north-1"
school_id = "hz-demo"
journal = "/tmp/j.db"

[temperature]
threshold_c = 37.3
[temperature.calibration]
table = [[32.0, 35.8], [34.0, 36.6], [36.0, 37.4]]

[roles.parent]
admit = false
green_health = true
temperature = true

[arrival]
policy = "deny"
windows = [{grade = "1", start = "07:30", end = "07:50"}, {grade = "2", start = "07:50", end = "08:10"}]
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(goodConfig)
	if err != nil {
		t.Fatal(err)
	}
	if c.GateID != "north-1" || c.Temperature.StableReadings != 3 || len(c.Arrival.Windows) != 2 || c.Roles[Pupil].Admit != true {
		t.Errorf("config = %+v", c)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for text, want := range map[string]string{
		`gate_id = "north-1"` + "\n" + `[temperature]` + "\n" + `treshold_c = 38`: "temperature.treshold_c",
		`gate_id = "North 1"`: "gate_id",
		`gate_id = "g"` + "\n" + `[temperature]` + "\n" + `threshold_c = 35`:                               "temperature.threshold_c",
		`gate_id = "g"` + "\n" + `[temperature.calibration]` + "\n" + `offset_c = -1.0`:                    "temperature.calibration",
		`gate_id = "g"` + "\n" + `[temperature]` + "\n" + `read_interval = "fast"`:                         "read_interval",
		`gate_id = "g"` + "\n" + `[arrival]` + "\n" + `windows = [{grade="1", start="8:00", end="07:00"}]`: "arrival.windows[0]",
		`gate_id = "g"` + "\n" + `[console]` + "\n" + `listen = "0.0.0.0:8080"`:                            "console.pin_hash",
		`gate_id = "g"` + "\n" + `[roles.janitor]` + "\n" + `admit = true` + "\n" + `temperature = true`:   "roles.janitor",
		`gate_id = "g"` + "\n" + `[roles.pupil]` + "\n" + `admit = true`:                                   "roles.pupil.temperature",
		`gate_id = "g"` + "\n" + `[devices]` + "\n" + `sensor = "dht22"`:                                   "devices.sensor",
		`gate_id = "g"` + "\n" + `[devices]` + "\n" + `relay_pin = "GPIO5"`:                                "devices.green_pin", // the green light's default
		`gate_id = "g"` + "\n" + `[devices]` + "\n" + `buzzer_pin = "GPIO017"`:                             "devices.buzzer_pin",
		`gate_id = = "g"`: "config",
		`gate_id = "g"` + "\n" + `[sync]` + "\n" + `broker = "tcp://s:1883"` + "\n" + `password = "x"`:                             "school_id",
		`gate_id = "g"` + "\n" + `school_id = "s"` + "\n" + `[sync]` + "\n" + `broker = "http://s:1883"` + "\n" + `password = "x"`: "sync.broker",
		`gate_id = "g"` + "\n" + `school_id = "s"` + "\n" + `[sync]` + "\n" + `broker = "tcp://s:1883"`:                            "sync.password",
		`gate_id = "g"` + "\n" + `[sync]` + "\n" + `window = 0`:                                                                    "sync.window",
		`gate_id = "report"`: "gate_id",
		`gate_id = "g"` + "\n" + `[voice]` + "\n" + `language = "fr"`:       "voice.language",
		`gate_id = "g"` + "\n" + `[voice]` + "\n" + `language = "en+zh-CN"`: "voice.language",
		`gate_id = "g"` + "\n" + `[voice]` + "\n" + `device = ""`:           "voice.device",
		`gate_id = "g"` + "\n" + `[voice]` + "\n" + `device = "hw:0 "`:      "voice.device",
		`gate_id = "g"` + "\n" + `[voice]` + "\n" + `dir = "sounds"`:        "voice.dir",
		`gate_id = "g"` + "\n" + `[voice]` + "\n" + `enable = true`:         "voice.enable",
		`gate_id = "g"` + "\n" + `[voice]` + "\n" + `enabled = "yes"`:       "voice.enabled",
	} {
		_, err := ParseConfig(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseConfig(%q) = %v, want an error naming %q", text, err, want)
		}
	}
}

// The voice is off unless turned on (a box without a speaker needs nothing),
// with the package's prompts, Chinese first.
func TestVoiceConfig(t *testing.T) {
	c, err := ParseConfig(`gate_id = "g"`)
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Voice; v.Enabled || v.Device != "default" || v.Dir != "/usr/share/campusgate/sounds" || len(v.Languages()) != 1 || v.Languages()[0] != "zh-CN" {
		t.Errorf("default voice = %+v", v)
	}
	c, err = ParseConfig(`gate_id = "g"` + "\n[voice]\nenabled = true\ndevice = \"plughw:CARD=Headphones\"\nlanguage = \"zh-CN+en\"")
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Voice.Languages(); !c.Voice.Enabled || c.Voice.Device != "plughw:CARD=Headphones" || len(l) != 2 || l[0] != "zh-CN" || l[1] != "en" {
		t.Errorf("voice = %+v, languages %v", c.Voice, l)
	}
	// The box's own: the school cannot turn it on or point it elsewhere.
	if _, err := c.Overlay("[voice]\nenabled = false"); err == nil || !strings.Contains(err.Error(), "voice cannot be set remotely") {
		t.Errorf("Overlay of [voice]: %v", err)
	}
}
