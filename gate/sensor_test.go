package gate

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/physic"
)

// word is the MLX90614's RAM word as a temperature: 0.02 K a step.
func word(c float64, jitter int) physic.Temperature {
	const lsb = 20 * physic.MilliKelvin
	return (FromCelsius(c)+lsb/2)/lsb*lsb + physic.Temperature(jitter)*lsb
}

var amb24 = FromCelsius(24)

// mustBeOK fails the test if the monitor finds anything wrong.
func mustBeOK(t *testing.T, m *sensorMonitor, what string, args ...any) {
	t.Helper()
	if st := m.status(); st.State != SensorOK {
		t.Fatalf("%s: %s", fmt.Sprintf(what, args...), st)
	}
}

// A sensor that disappears is not responding after FaultReads failed reads in
// a row and comes back by itself after as many good ones, over time.
func TestSensorNotRespondingClearsItself(t *testing.T) {
	clk := clockwork.NewFakeClock()
	m := newSensorMonitor(SensorChecks{})
	nack := errors.New("mlx90614sim@0x5a: NACK")
	for i := range 2 {
		clk.Advance(10 * time.Second)
		m.read(0, 0, nack, clk.Now())
		mustBeOK(t, m, "after %d failed reads", i+1)
	}
	clk.Advance(10 * time.Second)
	down := clk.Now()
	m.read(0, 0, nack, down)
	st := m.status()
	if st.State != SensorNotResponding || !st.Blocks || st.Reason != ReasonSensorError || !st.Since.Equal(down) ||
		!strings.HasPrefix(st.String(), "测温传感器无响应 sensor not responding: 3 failed reads in a row, last: mlx90614sim@0x5a: NACK") {
		t.Fatalf("status %+v %q", st, st)
	}
	for range 20 { // a morning without the sensor
		clk.Advance(10 * time.Second)
		m.read(0, 0, nack, clk.Now())
	}
	for i := range 2 {
		clk.Advance(10 * time.Second)
		m.read(word(24, i), amb24, nil, clk.Now())
		if m.status().State != SensorNotResponding {
			t.Fatalf("cleared after %d good reads", i+1)
		}
	}
	clk.Advance(10 * time.Second)
	m.read(word(24, 0), amb24, nil, clk.Now())
	if st := m.status(); st.State != SensorOK || st.String() != "ok" || st.Blocks {
		t.Fatalf("not cleared: %+v", st)
	}
	// An ambient no box is in counts as a failed read.
	if err := m.read(word(24, 0), FromCelsius(-45), nil, clk.Now()); err == nil || !strings.Contains(err.Error(), "ambient") {
		t.Fatalf("ambient −45 °C: %v", err)
	}
}

// healthy is a real MLX90614 on a steady forehead: the word jitters by up to
// ±2 LSB from read to read.
func healthy(rng *rand.Rand, c float64) physic.Temperature { return word(c, rng.IntN(5)-2) }

// A steady 36.6 °C forehead, person after person with nobody stepping away in
// between (the worst case: no reads of the room break the run), for a whole
// school's morning many times over, never looks stuck; nor does an idle gate
// reading the wall every 10 s for a day.
func TestSensorHealthySteadyIsNotStuck(t *testing.T) {
	clk := clockwork.NewFakeClock()
	m := newSensorMonitor(SensorChecks{})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var win []physic.Temperature
		for i := range 4 { // presence, then a window of three
			o := healthy(rng, 36.6)
			clk.Advance(100 * time.Millisecond)
			m.read(o, amb24, nil, clk.Now())
			if i > 0 {
				win = append(win, o)
			}
		}
		m.person(win, 36.6, true, clk.Now())
		mustBeOK(t, m, "a healthy sensor")
	}
	for range 6 * 60 * 24 {
		clk.Advance(10 * time.Second)
		m.read(healthy(rng, 24), amb24, nil, clk.Now())
		mustBeOK(t, m, "a healthy idle sensor")
	}
}

// StuckPeople people in a row on one bit-identical word is stuck; the first
// different word clears it.
func TestSensorStuckPeople(t *testing.T) {
	clk := clockwork.NewFakeClock()
	m := newSensorMonitor(SensorChecks{})
	frozen := word(36.1, 0)
	person := func() {
		for range 4 {
			clk.Advance(100 * time.Millisecond)
			m.read(frozen, amb24, nil, clk.Now())
		}
		m.person([]physic.Temperature{frozen, frozen, frozen}, 36.6, true, clk.Now())
	}
	for i := range 2 {
		person()
		mustBeOK(t, m, "stuck after %d people", i+1)
	}
	person()
	st := m.status()
	if st.State != SensorStuck || !st.Blocks || st.Reason != ReasonSensorStuck ||
		!strings.HasPrefix(st.String(), "测温传感器读数冻结 sensor reading stuck: object 36.11 °C in 12 reads in a row (3 people)") {
		t.Fatalf("status %+v %q", st, st)
	}
	m.read(frozen, amb24, nil, clk.Now())
	if m.status().State != SensorStuck {
		t.Fatal("cleared by the same word")
	}
	m.read(frozen+20*physic.MilliKelvin, amb24, nil, clk.Now())
	if st := m.status(); st.State != SensorOK {
		t.Fatalf("not cleared by a new word: %+v", st)
	}
	// A run that breaks between people (the room read in between) resets the count.
	for range 10 {
		person()
		m.read(word(24, 0), amb24, nil, clk.Now())
		mustBeOK(t, m, "people separated by a read of the room")
	}
}

// One bit-identical word for StuckAfter and StuckReads reads is stuck even
// with nobody measured (the idle probes).
func TestSensorStuckOverTime(t *testing.T) {
	clk := clockwork.NewFakeClock()
	m := newSensorMonitor(SensorChecks{})
	frozen := word(24, 0)
	for i := range 60 { // 10 minutes of probes
		if st := m.status(); st.State != SensorOK {
			t.Fatalf("stuck after %d reads over %s", i, time.Duration(i)*10*time.Second)
		}
		m.read(frozen, amb24, nil, clk.Now())
		clk.Advance(10 * time.Second)
	}
	m.read(frozen, amb24, nil, clk.Now())
	if st := m.status(); st.State != SensorStuck || !st.Since.Equal(clk.Now()) {
		t.Fatalf("status %+v", st)
	}
	// Many reads in a short time are not enough: a low-noise chip may repeat a word for a while.
	m = newSensorMonitor(SensorChecks{})
	for range 1000 {
		clk.Advance(100 * time.Millisecond)
		m.read(frozen, amb24, nil, clk.Now())
	}
	if st := m.status(); st.State != SensorOK {
		t.Fatalf("1000 reads over 100 s: %+v", st)
	}
}

// The median of the last DriftWindow body temperatures: low blocks (fevers
// could read normal), high warns; implausible readings do not count; it clears.
func TestSensorDrift(t *testing.T) {
	clk := clockwork.NewFakeClock()
	m := newSensorMonitor(SensorChecks{})
	rng := rand.New(rand.NewPCG(3, 4))
	body := func(c float64) {
		clk.Advance(5 * time.Second)
		o := healthy(rng, c)
		m.read(o, amb24, nil, clk.Now())
		m.person([]physic.Temperature{o}, c, c >= 34, clk.Now())
	}
	for range 200 {
		body(36.3 + rng.Float64()*0.6)
	}
	for range 100 {
		body(30) // implausible: not a body temperature
	}
	if st := m.status(); st.State != SensorOK {
		t.Fatalf("a normal population: %+v", st)
	}
	for i := range 25 {
		body(35.0 + float64(i%5)*0.05)
		mustBeOK(t, m, "drift after %d low of 50", i+1)
	}
	body(35.1) // 26 of the last 50 are low
	st := m.status()
	if st.State != SensorDriftLow || !st.Blocks || st.Reason != ReasonSensorDrift ||
		!strings.HasPrefix(st.String(), "测温传感器疑似漂移（偏低），请校准 sensor drift suspected (reads low), check calibration: median body") {
		t.Fatalf("status %+v %q", st, st)
	}
	for range 26 {
		body(36.6)
	}
	if st := m.status(); st.State != SensorOK {
		t.Fatalf("recalibrated: %+v", st)
	}
	for range 26 {
		body(37.2)
	}
	if st := m.status(); st.State != SensorDriftHigh || st.Blocks || st.Reason != "" {
		t.Fatalf("reading high: %+v", st)
	}
}

func TestSensorChecksValidate(t *testing.T) {
	for _, tc := range []struct {
		s   SensorChecks
		key string
	}{
		{SensorChecks{StuckPeople: 1}, "stuck_people"},
		{SensorChecks{FaultReads: -1}, "fault_reads"},
		{SensorChecks{DriftWindow: 5}, "drift_window"},
		{SensorChecks{DriftLowC: 37, DriftHighC: 36}, "drift_low_c"},
		{SensorChecks{AmbientMinC: 10, AmbientMaxC: 5}, "ambient_min_c"},
		{SensorChecks{ProbeInterval: Duration{-time.Second}}, "probe_interval"},
	} {
		c := testConfig()
		c.Temperature.Sensor = tc.s
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%+v: %v, want an error naming %s", tc.s, err, tc.key)
		}
	}
	if c := testConfig(); c.Validate() != nil {
		t.Fatal(c.Validate())
	}
	if err := (&Config{}).Validate(); err == nil {
		t.Fatal("an empty config is valid")
	}
}
