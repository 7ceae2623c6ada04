package gate

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"periph.io/x/conn/v3/physic"
)

// SensorChecks are the gate's checks of the thermometer over time (see
// sensorMonitor). Zero values take the defaults in brackets.
type SensorChecks struct {
	// FaultReads consecutive failed reads (NACK, bad PEC, error flag, an
	// implausible ambient) mark the sensor not responding [3]; as many
	// successful reads in a row clear it.
	FaultReads int `toml:"fault_reads"`
	// ProbeInterval is how often the idle gate reads the sensor, so a sensor
	// that disappears is reported before the next person, and one that
	// returns clears by itself [10s].
	ProbeInterval Duration `toml:"probe_interval"`
	// StuckPeople: this many people in a row whose whole stable window read
	// one bit-identical object temperature, the same as the person before,
	// mark the sensor stuck [3].
	StuckPeople int `toml:"stuck_people"`
	// StuckAfter: an object temperature bit-identical over this long (and at
	// least StuckReads reads) marks the sensor stuck too [10m].
	StuckAfter Duration `toml:"stuck_after"`
	StuckReads int      `toml:"stuck_reads"` // [30]
	// DriftWindow is how many of the last body temperatures the sensor gave
	// make the population median [50]; with the window full, a median below
	// DriftLowC [35.5] or above DriftHighC [37.0] is a drift warning.
	DriftWindow int     `toml:"drift_window"`
	DriftLowC   float64 `toml:"drift_low_c"`
	DriftHighC  float64 `toml:"drift_high_c"`
	// AmbientMinC..AmbientMaxC is the ambient a gate box can be in [-30..60 °C];
	// outside it a read counts as failed (a sensor that reads nonsense).
	AmbientMinC float64 `toml:"ambient_min_c"`
	AmbientMaxC float64 `toml:"ambient_max_c"`
}

func (s SensorChecks) withDefaults() SensorChecks {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.FaultReads, 3)
	def(&s.StuckPeople, 3)
	def(&s.StuckReads, 30)
	def(&s.DriftWindow, 50)
	deff(&s.DriftLowC, 35.5)
	deff(&s.DriftHighC, 37.0)
	deff(&s.AmbientMinC, -30)
	deff(&s.AmbientMaxC, 60)
	if s.ProbeInterval.Duration == 0 {
		s.ProbeInterval.Duration = 10 * time.Second
	}
	if s.StuckAfter.Duration == 0 {
		s.StuckAfter.Duration = 10 * time.Minute
	}
	return s
}

func (s SensorChecks) validate(bad func(key, format string, args ...any)) {
	for _, kv := range []struct {
		k string
		v int
	}{{"fault_reads", s.FaultReads}, {"stuck_people", s.StuckPeople}, {"stuck_reads", s.StuckReads}} {
		if kv.v < 0 || kv.v > 1000 {
			bad("temperature.sensor."+kv.k, "%d outside 0..1000", kv.v)
		}
	}
	if s.StuckPeople == 1 {
		bad("temperature.sensor.stuck_people", "1 would call every second person stuck: at least 2")
	}
	if s.DriftWindow < 0 || s.DriftWindow > 1000 || (s.DriftWindow > 0 && s.DriftWindow < 10) {
		bad("temperature.sensor.drift_window", "%d: 10..1000 people (0: 50)", s.DriftWindow)
	}
	d := s.withDefaults()
	if d.DriftLowC >= d.DriftHighC || d.DriftLowC < 30 || d.DriftHighC > 40 {
		bad("temperature.sensor.drift_low_c/drift_high_c", "%.1f..%.1f must be a range within 30..40 °C", d.DriftLowC, d.DriftHighC)
	}
	if d.AmbientMinC >= d.AmbientMaxC {
		bad("temperature.sensor.ambient_min_c/ambient_max_c", "%.1f..%.1f is not a range", d.AmbientMinC, d.AmbientMaxC)
	}
	if s.ProbeInterval.Duration < 0 || s.StuckAfter.Duration < 0 {
		bad("temperature.sensor", "probe_interval and stuck_after must not be negative")
	}
}

// SensorState is the thermometer's health as the gate judges it.
type SensorState string

// Sensor states, from the worst.
const (
	SensorNotResponding SensorState = "not_responding" // reads fail: no one is admitted on temperature
	SensorStuck         SensorState = "stuck"          // the readings do not change: no one is admitted on temperature
	SensorDriftLow      SensorState = "drift_low"      // the median of body readings is low: fevers could hide, handheld check
	SensorDriftHigh     SensorState = "drift_high"     // the median is high: a warning (fails safe: more retests)
	SensorOK            SensorState = "ok"
)

var sensorText = map[SensorState]Text{
	SensorNotResponding: {"测温传感器无响应", "sensor not responding"},
	SensorStuck:         {"测温传感器读数冻结", "sensor reading stuck"},
	SensorDriftLow:      {"测温传感器疑似漂移（偏低），请校准", "sensor drift suspected (reads low), check calibration"},
	SensorDriftHigh:     {"测温传感器疑似漂移（偏高），请校准", "sensor drift suspected (reads high), check calibration"},
	SensorOK:            {"正常", "ok"},
}

// SensorStatus is what the guard console and the telemetry show of the sensor.
type SensorStatus struct {
	State  SensorState `json:"state"`
	Text   Text        `json:"text"`
	Detail string      `json:"detail,omitempty"` // the last error, the stuck value, the median
	Since  time.Time   `json:"since,omitzero"`
	// Blocks: no one is admitted on this sensor's temperature; the gate refers
	// each person to the guard's handheld thermometer, with Reason.
	Blocks bool   `json:"blocks"`
	Reason Reason `json:"reason,omitempty"`
}

// String is the telemetry's word for the sensor: "ok", or the fault in
// Chinese and English with the detail.
func (s SensorStatus) String() string {
	if s.State == SensorOK || s.State == "" {
		return "ok"
	}
	out := s.Text.ZH + " " + s.Text.EN
	if s.Detail != "" {
		out += ": " + s.Detail
	}
	return out
}

// stuckMinRun is the fewest identical reads that make StuckPeople people
// stuck: three people at the default stable window of three and one read to
// see the forehead. With a stable window of one, one read a person would
// otherwise let a ±2 LSB jitter repeat by chance (1 in 25 for three people);
// twelve identical reads by chance are 1 in 5¹¹.
const stuckMinRun = 12

// sensorMonitor judges the sensor from every read the flow makes and every
// stable window it accepts. It is told the time; it has no clock of its own.
//
//   - Not responding: FaultReads failed reads in a row; cleared by as many
//     good reads in a row.
//   - Stuck: a real MLX90614's object word jitters by a few LSB (0.02 K) from
//     read to read even on a steady forehead, and two people seldom give the
//     same word. So StuckPeople people in a row, each with a stable window of
//     one bit-identical object temperature equal to the person before's (and
//     nothing different read in between, such as the room; at least
//     stuckMinRun reads in all), or
//     one bit-identical object temperature for StuckAfter and StuckReads
//     reads, is a sensor that stopped measuring. Cleared by the first read
//     with a different object temperature.
//   - Drift: the median of the last DriftWindow body temperatures (one per
//     accepted stable window) below DriftLowC or above DriftHighC. It clears
//     when the median is back in range.
type sensorMonitor struct {
	mu  sync.Mutex
	cfg SensorChecks

	fails, goods int
	lastErr      string
	downSince    time.Time // zero: responding

	same      physic.Temperature // the object temperature of the current run of identical reads
	sameN     int
	sameSince time.Time
	people    int // people in a row on the value same
	stuck     bool
	stuckAt   time.Time

	bodies   []float64
	sorted   []float64   // bodies sorted, for the median (kept to be used again)
	drift    SensorState // SensorOK, SensorDriftLow or SensorDriftHigh
	driftAt  time.Time
	median   float64
	anyReads bool
}

func newSensorMonitor(c SensorChecks) *sensorMonitor {
	return &sensorMonitor{cfg: c.withDefaults(), drift: SensorOK}
}

func (m *sensorMonitor) configure(c SensorChecks) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg = c.withDefaults()
}

func (m *sensorMonitor) checks() SensorChecks {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// read records one read of the sensor; it returns err, or an error for an
// ambient no gate box can be in.
func (m *sensorMonitor) read(obj, amb physic.Temperature, err error, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		if a := Celsius(amb); a < m.cfg.AmbientMinC || a > m.cfg.AmbientMaxC {
			err = fmt.Errorf("gate: sensor: ambient %.2f °C outside %.0f..%.0f °C", a, m.cfg.AmbientMinC, m.cfg.AmbientMaxC)
		}
	}
	m.anyReads = true
	if err != nil {
		m.fails++
		m.goods = 0
		m.lastErr = err.Error()
		if m.fails >= m.cfg.FaultReads && m.downSince.IsZero() {
			m.downSince = now
		}
		return err
	}
	m.goods++
	m.fails = 0
	if !m.downSince.IsZero() && m.goods >= m.cfg.FaultReads {
		m.downSince = time.Time{}
	}
	if m.sameN == 0 || obj != m.same {
		m.same, m.sameN, m.sameSince, m.people = obj, 1, now, 0
		m.stuck = false
		return nil
	}
	m.sameN++
	if !m.stuck && m.sameN >= m.cfg.StuckReads && now.Sub(m.sameSince) >= m.cfg.StuckAfter.Duration {
		m.stuck, m.stuckAt = true, now
	}
	return nil
}

// person records one accepted stable window: the object temperatures read in
// it and the body temperature the gate made of them (a fever's retest is a
// second window). Implausible bodies count for stuck, not for drift.
func (m *sensorMonitor) person(window []physic.Temperature, body float64, plausible bool, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	identical := len(window) > 0 && m.sameN >= len(window)
	for _, o := range window {
		identical = identical && o == m.same
	}
	// The run of identical reads (kept by read) covers this whole window: the
	// person read the same word as the one before, unless the run started
	// within this window.
	if identical {
		m.people++
		if !m.stuck && m.people >= m.cfg.StuckPeople && m.sameN >= stuckMinRun {
			m.stuck, m.stuckAt = true, now
		}
	} else {
		m.people = 0
	}
	if !plausible {
		return // not a body temperature: it says nothing of the population
	}
	m.bodies = append(m.bodies, body)
	if n := m.cfg.DriftWindow; len(m.bodies) > n {
		m.bodies = slices.Delete(m.bodies, 0, len(m.bodies)-n)
	}
	if len(m.bodies) < m.cfg.DriftWindow {
		return
	}
	// Sorted in a slice kept for it: this runs for every person, on the way
	// to the decision.
	m.sorted = append(m.sorted[:0], m.bodies...)
	slices.Sort(m.sorted)
	s, n := m.sorted, len(m.sorted)
	m.median = (s[(n-1)/2] + s[n/2]) / 2
	state := SensorOK
	switch {
	case m.median < m.cfg.DriftLowC:
		state = SensorDriftLow
	case m.median > m.cfg.DriftHighC:
		state = SensorDriftHigh
	}
	if state != m.drift {
		m.drift, m.driftAt = state, now
	}
}

// status is the worst of what the monitor knows.
func (m *sensorMonitor) status() SensorStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := func(s SensorState, detail string, since time.Time, reason Reason) SensorStatus {
		return SensorStatus{State: s, Text: sensorText[s], Detail: detail, Since: since, Blocks: reason != "", Reason: reason}
	}
	switch {
	case !m.downSince.IsZero():
		return st(SensorNotResponding, fmt.Sprintf("%d failed reads in a row, last: %s", m.fails, m.lastErr), m.downSince, ReasonSensorError)
	case m.stuck:
		return st(SensorStuck, fmt.Sprintf("object %.2f °C in %d reads in a row (%d people)", Celsius(m.same), m.sameN, m.people), m.stuckAt, ReasonSensorStuck)
	case m.drift == SensorDriftLow:
		return st(SensorDriftLow, fmt.Sprintf("median body %.2f °C of the last %d people, below %.1f °C", m.median, len(m.bodies), m.cfg.DriftLowC), m.driftAt, ReasonSensorDrift)
	case m.drift == SensorDriftHigh:
		return st(SensorDriftHigh, fmt.Sprintf("median body %.2f °C of the last %d people, above %.1f °C", m.median, len(m.bodies), m.cfg.DriftHighC), m.driftAt, "")
	}
	return st(SensorOK, "", time.Time{}, "")
}
