package gate

import (
	"campusgate/device/display"
	"campusgate/device/scanner"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Duration is a time.Duration written as "500ms" or "2s" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Role is who a person is at school.
type Role string

// The roles of the schools' notices: pupils, staff, visitors, and parents (who in
// principle do not enter).
const (
	Pupil   Role = "pupil"
	Staff   Role = "staff"
	Visitor Role = "visitor"
	Parent  Role = "parent"
)

// Roles lists every role in display order.
var Roles = []Role{Pupil, Staff, Visitor, Parent}

// RolePolicy is what one role must show at the gate.
type RolePolicy struct {
	Admit       bool `toml:"admit"`        // false: refused at the gate (parents, by default)
	GreenHealth bool `toml:"green_health"` // a green health status is required
	DailyPass   bool `toml:"daily_pass"`   // today's family morning report / daily pass is required
	Temperature bool `toml:"temperature"`  // a valid temperature is required (it always is for an admission by the box)
}

// TempConfig is the temperature step.
type TempConfig struct {
	ThresholdC      float64     `toml:"threshold_c"`      // fever at or over this body temperature
	PresenceDeltaC  float64     `toml:"presence_delta_c"` // a forehead is an object this much warmer than ambient
	StableReadings  int         `toml:"stable_readings"`  // window of readings that must agree
	StableSpreadC   float64     `toml:"stable_spread_c"`  // within this spread
	ReadInterval    Duration    `toml:"read_interval"`    // between readings
	PresenceTimeout Duration    `toml:"presence_timeout"` // waiting for a forehead
	MeasureTimeout  Duration    `toml:"measure_timeout"`  // waiting for a stable reading
	RetestPause     Duration    `toml:"retest_pause"`     // before a fever retest
	Retries         int         `toml:"retries"`          // implausible or failed measurements retried before the guard is called
	MinValidC       float64     `toml:"min_valid_c"`      // plausible body temperature range
	MaxValidC       float64     `toml:"max_valid_c"`      //
	Calibration     Calibration `toml:"calibration"`      //
	// Sensor are the checks of the sensor over time: not responding, stuck,
	// drifting (gate/sensor.go); zero values are the defaults.
	Sensor SensorChecks `toml:"sensor"`
}

// Window is a staggered arrival window for one grade (错时分段上学).
type Window struct {
	Grade string `toml:"grade"`
	Start string `toml:"start"` // "07:30", local time
	End   string `toml:"end"`
}

// Config is a gate's whole configuration. Load validates all of it before the
// gate touches any device, and a gate refuses to start on a bad one.
type Config struct {
	GateID   string `toml:"gate_id"`
	SchoolID string `toml:"school_id"`
	Journal  string `toml:"journal"`  // path of the bbolt journal
	Language string `toml:"language"` // zh-CN (default) or en

	Temperature TempConfig          `toml:"temperature"`
	Roles       map[Role]RolePolicy `toml:"roles"`
	Identity    IdentityConfig      `toml:"identity"`
	Arrival     ArrivalConfig       `toml:"arrival"`
	Report      MorningReportConfig `toml:"morning_report"`
	// Mode "gate" (the default) admits through the turnstile; "checkpoint" is
	// the midday temperature check (午间体温检测) at a desk or with a
	// handheld: identity and temperature only, nothing to open, each reading
	// journalled as kind "midday".
	Mode     string             `toml:"mode"`
	AntiPass AntiPassbackConfig `toml:"anti_passback"`
	Guard    GuardConfig        `toml:"guard"`
	Devices  DeviceConfig       `toml:"devices"`
	Voice    VoiceConfig        `toml:"voice"`
	Console  ConsoleConfig      `toml:"console"`
	Sync     SyncConfig         `toml:"sync"`
}

// The modes of a box (Config.Mode).
const (
	ModeGate       = "gate"       // admits through the turnstile
	ModeCheckpoint = "checkpoint" // the midday check: nothing to open
)

// Checkpoint says whether the box is a midday checkpoint, with no turnstile.
func (c *Config) Checkpoint() bool { return c.Mode == ModeCheckpoint }

// SyncConfig is the link to the school server. With no broker the gate runs
// on its own: it admits and journals as always, and nothing leaves the box.
type SyncConfig struct {
	Broker         string   `toml:"broker"`          // tcp://server:1883 or ssl://server:8883; "" = no sync
	Username       string   `toml:"username"`        // default: gate_id
	Password       string   `toml:"password"`        // or password_file (better: not in the config file)
	PasswordFile   string   `toml:"password_file"`   // first line
	CAFile         string   `toml:"ca_file"`         // the school's CA, for ssl://
	CertFile       string   `toml:"cert_file"`       // client certificate, when the broker asks for one
	KeyFile        string   `toml:"key_file"`        //
	KeepAlive      Duration `toml:"keepalive"`       // a dead link is noticed within 1.5 × this
	Batch          int      `toml:"batch"`           // entries per message
	Window         int      `toml:"window"`          // messages awaiting the broker's PUBACK (4× as many may await the server's ack)
	AckTimeout     Duration `toml:"ack_timeout"`     // resend after this
	TelemetryEvery Duration `toml:"telemetry_every"` //
	CommandKey     string   `toml:"command_key"`     // the school server's command public key (PEM); "" = commands refused
}

// IdentityConfig is the identity step.
type IdentityConfig struct {
	AllowPlainIDs   bool     `toml:"allow_plain_ids"`  // printed campus cards: roster ids without a signature, low assurance
	DuplicateWindow Duration `toml:"duplicate_window"` // a second scan of the same code within this is ignored
	ScanTimeout     Duration `toml:"scan_timeout"`     // a person who scanned must reach the sensor within this
}

// MorningReportConfig is what the gate does about the family morning health
// report (家庭每日晨报) for the roles with daily_pass: a pupil with no report
// today, or whose report shows symptoms, is refused ("deny") or let in and
// flagged for the head teacher and the nurse ("flag"). A report of a fever or
// of contact with a high-risk area (red) is always refused.
type MorningReportConfig struct {
	Policy string `toml:"policy"` // "deny" or "flag"
}

// ArrivalConfig is the staggered arrival schedule.
type ArrivalConfig struct {
	Policy  string   `toml:"policy"` // "warn" (admit and flag) or "deny"
	Windows []Window `toml:"windows"`
}

// AntiPassbackConfig pairs an entry gate with an exit gate.
type AntiPassbackConfig struct {
	Enabled   bool   `toml:"enabled"`
	Direction string `toml:"direction"` // "in" or "out": which way this gate lets people through
}

// GuardConfig is how long a referral waits for the guard.
type GuardConfig struct {
	Timeout Duration `toml:"timeout"`
}

// DeviceConfig names the hardware: profiles by name (firmware-config/), and
// any of their values set here instead.
type DeviceConfig struct {
	Board          string `toml:"board"`           // board profile: pi-4b, pi-5, pi-zero-2w, pi-3b-plus, cm4
	SensorProfile  string `toml:"sensor_profile"`  // sensor profile: mlx90614, mlx90632
	ScannerProfile string `toml:"scanner_profile"` // scanner profile: uart-9600, usb-cdc-115200, hid-wedge

	Sensor        string   `toml:"sensor"` // mlx90614 or mlx90632
	Bus           string   `toml:"bus"`    // I²C bus name ("" = first)
	Addr          uint16   `toml:"addr"`   // 0 = the chip's default
	Emissivity    float64  `toml:"emissivity"`
	ScannerPort   string   `toml:"scanner_port"` // serial scanner
	ScannerHID    string   `toml:"scanner_hid"`  // or keyboard-wedge scanner
	ScannerBaud   int      `toml:"scanner_baud"`
	ScannerPrefix string   `toml:"scanner_prefix"` // none or stx
	ScannerSuffix string   `toml:"scanner_suffix"` // cr, lf, crlf or etx
	RelayPin      string   `toml:"relay_pin"`
	RelayLow      bool     `toml:"relay_active_low"`
	Pulse         Duration `toml:"relay_pulse"`
	GreenPin      string   `toml:"green_pin"`
	RedPin        string   `toml:"red_pin"`
	BuzzerPin     string   `toml:"buzzer_pin"`
	Quiet         bool     `toml:"quiet"`
	// Display is the box's small display, on Bus; nil: none. The board
	// profile's [display] supplies it when the file has no [devices.display].
	Display *display.Config `toml:"display"`
}

// VoiceConfig is the spoken prompts of a box with a speaker (device/voice):
// off unless turned on, so that a box without one needs nothing and says
// nothing. The buzzer is devices.quiet's.
type VoiceConfig struct {
	Enabled  bool   `toml:"enabled"`
	Device   string `toml:"device"`   // the ALSA PCM: "default", "plughw:CARD=Headphones", "hw:1,0"
	Language string `toml:"language"` // zh-CN, en, or zh-CN+en (Chinese, then English)
	Dir      string `toml:"dir"`      // the prompts, DIR/LANG/NAME.wav; the package installs them here
}

// Languages are the prompts' languages, in the order they are spoken.
func (v VoiceConfig) Languages() []string { return strings.Split(v.Language, "+") }

// ConsoleConfig is the guard console.
type ConsoleConfig struct {
	Listen  string `toml:"listen"`   // 127.0.0.1:8080 by default
	PINHash string `toml:"pin_hash"` // bcrypt hash of the guard PIN, required when Listen is not loopback
}

// DefaultConfig is what a gate runs with when the file says nothing else.
func DefaultConfig() Config {
	return Config{
		Journal:  "/var/lib/campusgate/journal.db",
		Language: "zh-CN",
		Temperature: TempConfig{
			ThresholdC:      37.3,
			PresenceDeltaC:  1.5,
			StableReadings:  3,
			StableSpreadC:   0.2,
			ReadInterval:    Duration{100 * time.Millisecond},
			PresenceTimeout: Duration{15 * time.Second},
			MeasureTimeout:  Duration{5 * time.Second},
			RetestPause:     Duration{2 * time.Second},
			Retries:         2,
			MinValidC:       34,
			MaxValidC:       43,
		},
		Roles: map[Role]RolePolicy{
			Pupil:   {Admit: true, Temperature: true},
			Staff:   {Admit: true, GreenHealth: true, Temperature: true},
			Visitor: {Admit: true, GreenHealth: true, Temperature: true},
			Parent:  {Admit: false, GreenHealth: true, Temperature: true},
		},
		Identity: IdentityConfig{DuplicateWindow: Duration{10 * time.Second}, ScanTimeout: Duration{30 * time.Second}},
		Arrival:  ArrivalConfig{Policy: "warn"},
		Report:   MorningReportConfig{Policy: "deny"},
		Mode:     ModeGate,
		AntiPass: AntiPassbackConfig{Direction: "in"},
		Guard:    GuardConfig{Timeout: Duration{2 * time.Minute}},
		Devices: DeviceConfig{
			Sensor: "mlx90614", Emissivity: 0.98, ScannerBaud: 9600,
			RelayPin: "GPIO17", Pulse: Duration{500 * time.Millisecond},
			GreenPin: "GPIO5", RedPin: "GPIO6", BuzzerPin: "GPIO13",
		},
		Voice:   VoiceConfig{Device: "default", Language: "zh-CN", Dir: "/usr/share/campusgate/sounds"},
		Console: ConsoleConfig{Listen: "127.0.0.1:8080"},
		Sync: SyncConfig{KeepAlive: Duration{10 * time.Second}, Batch: 50, Window: 8,
			AckTimeout: Duration{20 * time.Second}, TelemetryEvery: Duration{30 * time.Second}},
	}
}

// LoadConfig reads and validates a TOML file over DefaultConfig. An unknown key
// is an error that names it: a misspelt threshold must not silently fall back
// to a default.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(string(b))
}

// PinNumber is the BCM GPIO number of a pin named GPIOn (or n); false for
// other names (a header position, a chip's own line name).
func PinNumber(name string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(name)), "GPIO"))
	return n, err == nil && n >= 0
}

// ParseConfig is LoadConfig on a string.
func ParseConfig(text string) (Config, error) { return ParseConfigWith(text, nil) }

// LoadConfigWith is LoadConfig with profiles: apply (gated's is
// firmwareconfig.Apply) fills in what the file names by profile, told which
// keys the file itself defines, before the whole is validated.
func LoadConfigWith(path string, apply func(c *Config, defined func(key ...string) bool) error) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return ParseConfigWith(string(b), apply)
}

// ParseConfigWith is LoadConfigWith on a string.
func ParseConfigWith(text string, apply func(c *Config, defined func(key ...string) bool) error) (Config, error) {
	c := DefaultConfig()
	md, err := toml.Decode(text, &c)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("config: unknown key %s", strings.Join(keys, ", "))
	}
	if apply != nil {
		if err := apply(&c, md.IsDefined); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// RemoteSections are the parts of the configuration the school may set from
// the server. The rest (identity, journal, devices, console, sync) belongs to
// the box: a message must never be able to point the gate at another broker,
// another journal or another pin.
var RemoteSections = []string{"temperature", "roles", "identity", "arrival", "morning_report", "anti_passback", "guard"}

// Overlay applies a TOML document from the school onto c and validates the
// result. Only RemoteSections may appear in it; maps (roles) and lists
// (arrival windows) given in it replace c's.
func (c Config) Overlay(text string) (Config, error) {
	var probe map[string]any
	md, err := toml.Decode(text, &probe)
	if err != nil {
		return c, fmt.Errorf("config from the school: %w", err)
	}
	allowed := map[string]bool{}
	for _, s := range RemoteSections {
		allowed[s] = true
	}
	for _, k := range md.Keys() {
		if top := k[0]; !allowed[top] {
			return c, fmt.Errorf("config from the school: %s cannot be set remotely (only %s)", k.String(), strings.Join(RemoteSections, ", "))
		}
	}
	out := c
	// toml decodes a list into the slice it finds when that has room: each
	// slice the document may set needs a copy of its own, or a shorter
	// calibration table from the school is written over the box's file config
	// (even when the document is then refused).
	out.Roles = maps.Clone(c.Roles)
	out.Temperature.Calibration.Table = slices.Clone(c.Temperature.Calibration.Table)
	out.Arrival.Windows = slices.Clone(c.Arrival.Windows)
	if _, ok := probe["roles"]; ok {
		out.Roles = map[Role]RolePolicy{}
	}
	if arr, ok := probe["arrival"].(map[string]any); ok {
		if _, ok := arr["windows"]; ok {
			out.Arrival.Windows = nil
		}
	}
	md, err = toml.Decode(text, &out)
	if err != nil {
		return c, fmt.Errorf("config from the school: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return c, fmt.Errorf("config from the school: unknown key %s", und[0].String())
	}
	if err := out.Validate(); err != nil {
		return c, err
	}
	return out, nil
}

// within is lo <= v <= hi, false for NaN. A check written as v < lo || v > hi
// passes a NaN (TOML's nan), and a NaN fever threshold would admit every fever.
func within(v, lo, hi float64) bool { return v >= lo && v <= hi }

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks every setting and names the key of the first bad one.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, a...)))
	}
	if !idPattern.MatchString(c.GateID) {
		bad("gate_id", "%q must be 1-63 lowercase letters, digits, - or _ (it becomes an MQTT topic level)", c.GateID)
	}
	if c.SchoolID != "" && !idPattern.MatchString(c.SchoolID) {
		bad("school_id", "%q must be lowercase letters, digits, - or _", c.SchoolID)
	}
	if c.Journal == "" {
		bad("journal", "a path is required")
	}
	if c.Language != "zh-CN" && c.Language != "en" {
		bad("language", "%q: zh-CN or en", c.Language)
	}
	t := c.Temperature
	if !within(t.ThresholdC, 36.5, 39) {
		bad("temperature.threshold_c", "%.2f outside 36.5..39 °C", t.ThresholdC)
	}
	if !(t.PresenceDeltaC > 0 && t.PresenceDeltaC <= 10) {
		bad("temperature.presence_delta_c", "%.2f outside 0..10 °C", t.PresenceDeltaC)
	}
	if t.StableReadings < 1 || t.StableReadings > 50 {
		bad("temperature.stable_readings", "%d outside 1..50", t.StableReadings)
	}
	if !(t.StableSpreadC > 0 && t.StableSpreadC <= 2) {
		bad("temperature.stable_spread_c", "%.2f outside 0..2 °C", t.StableSpreadC)
	}
	for key, d := range map[string]Duration{
		"temperature.read_interval": t.ReadInterval, "temperature.presence_timeout": t.PresenceTimeout,
		"temperature.measure_timeout": t.MeasureTimeout, "temperature.retest_pause": t.RetestPause,
		"identity.scan_timeout": c.Identity.ScanTimeout, "guard.timeout": c.Guard.Timeout,
		"devices.relay_pulse": c.Devices.Pulse, "sync.keepalive": c.Sync.KeepAlive,
		"sync.ack_timeout": c.Sync.AckTimeout, "sync.telemetry_every": c.Sync.TelemetryEvery,
	} {
		if d.Duration <= 0 {
			bad(key, "%v must be positive", d.Duration)
		}
	}
	if c.Identity.DuplicateWindow.Duration < 0 {
		bad("identity.duplicate_window", "must not be negative")
	}
	if t.Retries < 0 || t.Retries > 10 {
		bad("temperature.retries", "%d outside 0..10", t.Retries)
	}
	if !(t.MinValidC < t.MaxValidC && within(t.MinValidC, 30, 45) && within(t.MaxValidC, 30, 45)) {
		bad("temperature.min_valid_c/max_valid_c", "%.1f..%.1f must be a range within 30..45 °C", t.MinValidC, t.MaxValidC)
	}
	if t.ThresholdC >= t.MaxValidC {
		bad("temperature.threshold_c", "%.2f must be below max_valid_c %.2f", t.ThresholdC, t.MaxValidC)
	}
	t.Sensor.validate(bad)
	if err := t.Calibration.Validate(t.ThresholdC); err != nil {
		bad("temperature.calibration", "%v", err)
	}
	for r, p := range c.Roles {
		if !slices.Contains(Roles, r) {
			bad("roles."+string(r), "unknown role (pupil, staff, visitor, parent)")
		}
		if p.Admit && !p.Temperature {
			bad("roles."+string(r)+".temperature", "every admitted role must have its temperature taken")
		}
	}
	if c.Arrival.Policy != "warn" && c.Arrival.Policy != "deny" {
		bad("arrival.policy", "%q: warn or deny", c.Arrival.Policy)
	}
	if c.Report.Policy != "deny" && c.Report.Policy != "flag" {
		bad("morning_report.policy", "%q: deny or flag", c.Report.Policy)
	}
	if c.Mode != ModeGate && c.Mode != ModeCheckpoint {
		bad("mode", "%q: gate or checkpoint", c.Mode)
	}
	seen := map[string]bool{}
	for i, w := range c.Arrival.Windows {
		key := fmt.Sprintf("arrival.windows[%d]", i)
		s, err1 := time.Parse("15:04", w.Start)
		e, err2 := time.Parse("15:04", w.End)
		if err1 != nil || err2 != nil || !e.After(s) {
			bad(key, "start %q and end %q must be HH:MM with end after start", w.Start, w.End)
		}
		if w.Grade == "" || seen[w.Grade] {
			bad(key+".grade", "%q must be given once per grade", w.Grade)
		}
		seen[w.Grade] = true
	}
	if c.AntiPass.Direction != "in" && c.AntiPass.Direction != "out" {
		bad("anti_passback.direction", "%q: in or out", c.AntiPass.Direction)
	}
	if c.Devices.Sensor != "mlx90614" && c.Devices.Sensor != "mlx90632" {
		bad("devices.sensor", "%q: mlx90614 or mlx90632", c.Devices.Sensor)
	}
	if !within(c.Devices.Emissivity, 0.1, 1) {
		bad("devices.emissivity", "%.3f outside 0.1..1", c.Devices.Emissivity)
	}
	if _, err := scanner.ParsePrefix(c.Devices.ScannerPrefix); err != nil {
		bad("devices.scanner_prefix", "%v", err)
	}
	if _, err := scanner.ParseSuffix(c.Devices.ScannerSuffix); c.Devices.ScannerSuffix != "" && err != nil {
		bad("devices.scanner_suffix", "%v", err)
	}
	if c.Devices.ScannerPort != "" && c.Devices.ScannerHID != "" {
		bad("devices.scanner_hid", "give scanner_port or scanner_hid, not both")
	}
	if d := c.Devices.Display; d != nil {
		if err := d.Check(); err != nil {
			errs = append(errs, fmt.Errorf("config: devices.display.%w", err))
		} else if c.Devices.Addr != 0 && d.Address() == c.Devices.Addr {
			// Both on the same bus: neither would answer sensibly.
			bad("devices.display.addr", "0x%02x is the sensor's address (devices.addr)", d.Address())
		}
	}
	// One pin driving the relay and a light would open the gate with the light.
	used := map[string]string{} // pin → the key that took it
	for _, p := range []struct{ key, pin string }{{"relay_pin", c.Devices.RelayPin}, {"green_pin", c.Devices.GreenPin},
		{"red_pin", c.Devices.RedPin}, {"buzzer_pin", c.Devices.BuzzerPin}} {
		if p.pin == "" || (p.key == "relay_pin" && c.Checkpoint()) {
			continue
		}
		k := p.pin
		if n, ok := PinNumber(p.pin); ok {
			k = strconv.Itoa(n)
		}
		if other, ok := used[strings.ToUpper(k)]; ok {
			bad("devices."+p.key, "%s is already devices.%s", p.pin, other)
		}
		used[strings.ToUpper(k)] = p.key
	}
	c.Voice.validate(bad)
	if c.Console.Listen == "" {
		bad("console.listen", "an address is required (127.0.0.1:8080)")
	} else if !loopback(c.Console.Listen) && c.Console.PINHash == "" {
		bad("console.pin_hash", "required when the console listens beyond this box (%s)", c.Console.Listen)
	}
	c.validateSync(bad)
	return errors.Join(errs...)
}

// Check is Validate for the voice alone (gatectl hw voice's flags).
func (v VoiceConfig) Check() error {
	var errs []error
	v.validate(func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	})
	return errors.Join(errs...)
}

func (v VoiceConfig) validate(bad func(key, format string, args ...any)) {
	if v.Language != "zh-CN" && v.Language != "en" && v.Language != "zh-CN+en" {
		bad("voice.language", "%q: zh-CN, en or zh-CN+en", v.Language)
	}
	// aplay -D takes it as one argument; a space or a control character is a
	// paste gone wrong, and would only be found at the first person.
	if v.Device == "" || strings.ContainsFunc(v.Device, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		bad("voice.device", "%q: an ALSA PCM name such as default or plughw:CARD=Headphones", v.Device)
	}
	if !filepath.IsAbs(v.Dir) {
		bad("voice.dir", "%q: an absolute path (the package's is /usr/share/campusgate/sounds)", v.Dir)
	}
}

func (c *Config) validateSync(bad func(key, format string, args ...any)) {
	sc := c.Sync
	if c.GateID == "report" {
		bad("gate_id", "%q is reserved (the district report topic)", c.GateID)
	}
	if sc.Batch < 1 || sc.Batch > 200 {
		bad("sync.batch", "%d outside 1..200", sc.Batch)
	}
	if sc.Window < 1 || sc.Window > 64 {
		bad("sync.window", "%d outside 1..64", sc.Window)
	}
	if sc.Broker == "" {
		return
	}
	if c.SchoolID == "" {
		bad("school_id", "required with sync.broker (it is part of every topic)")
	}
	u, err := url.Parse(sc.Broker)
	switch {
	case err != nil || u.Host == "":
		bad("sync.broker", "%q: want tcp://host:1883 or ssl://host:8883", sc.Broker)
	case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "mqtt" && u.Scheme != "mqtts":
		bad("sync.broker", "%q: scheme %q, want tcp, ssl, mqtt or mqtts", sc.Broker, u.Scheme)
	}
	if sc.Password != "" && sc.PasswordFile != "" {
		bad("sync.password_file", "give password or password_file, not both")
	}
	if (sc.CertFile == "") != (sc.KeyFile == "") {
		bad("sync.cert_file", "cert_file and key_file go together")
	}
	if sc.Password == "" && sc.PasswordFile == "" && sc.CertFile == "" {
		bad("sync.password", "the broker needs a password, a password_file or a client certificate")
	}
}

func loopback(addr string) bool {
	return strings.HasPrefix(addr, "127.") || strings.HasPrefix(addr, "localhost:") || strings.HasPrefix(addr, "[::1]:")
}
