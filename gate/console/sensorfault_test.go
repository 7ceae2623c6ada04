package console_test

// Sensor faults over time, end to end: the real MLX90614 driver on the
// emulated chip (which speaks the SMBus protocol byte for byte), the real
// gate flow and journal, the real relay driver on a simulated GPIO pin, and
// the guard console's status API. Whatever the chip does, no admission is
// made on a reading the gate has found faulty, and the relay never moves for
// one.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/device/gpiosim"
	"campusgate/device/indicator"
	"campusgate/device/mlx90614"
	"campusgate/device/mlx90614/mlx90614sim"
	"campusgate/device/relay"
	"campusgate/device/scanner"
	"campusgate/gate"
	"campusgate/gate/console"
	"campusgate/gate/journal"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

type chanScanner chan string

func (c chanScanner) Next(ctx context.Context) (scanner.Code, error) {
	select {
	case s := <-c:
		return scanner.Code{Text: s}, nil
	case <-ctx.Done():
		return scanner.Code{}, ctx.Err()
	}
}

type noLights struct{}

func (noLights) Show(indicator.Signal) error { return nil }

type box struct {
	t      *testing.T
	chip   *mlx90614sim.Chip
	pin    *gpiosim.Pin
	flow   *gate.Flow
	j      *journal.Journal
	srv    *console.Server
	scan   chanScanner
	events <-chan gate.Event
	next   int // the next person's number
}

func newBox(t *testing.T, mod func(*gate.Config)) *box {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	b := &box{t: t, chip: mlx90614sim.New(mlx90614.DefaultAddr), pin: gpiosim.New("GPIO17", 17, nil), scan: make(chanScanner, 1), next: 1}
	b.chip.SetNoise(2) // a real chip's words jitter by a few LSB
	b.chip.SetAmbient(physic.ZeroCelsius + 24*physic.Celsius)
	do := mlx90614.DefaultOpts
	do.Logger = log
	therm, err := mlx90614.New(b.chip, &do)
	if err != nil {
		t.Fatal(err)
	}
	ro := relay.DefaultOpts
	ro.Pulse, ro.Logger = 5*time.Millisecond, log
	rel, err := relay.New(b.pin, &ro)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gate.DefaultConfig()
	cfg.GateID, cfg.Journal = "north-1", "unused"
	cfg.Identity.AllowPlainIDs = true
	cfg.Identity.DuplicateWindow = gate.Duration{}
	tc := &cfg.Temperature
	tc.ReadInterval = gate.Duration{Duration: time.Millisecond}
	tc.PresenceTimeout = gate.Duration{Duration: 300 * time.Millisecond}
	tc.MeasureTimeout = gate.Duration{Duration: 300 * time.Millisecond}
	tc.RetestPause = gate.Duration{Duration: 5 * time.Millisecond}
	tc.Calibration = gate.Calibration{OffsetC: 0.5}
	tc.Sensor.ProbeInterval = gate.Duration{Duration: 10 * time.Millisecond}
	cfg.Guard.Timeout = gate.Duration{Duration: 300 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	if b.j, err = journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Opts{GateID: cfg.GateID, Logger: log}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.j.Close() })
	today := time.Now().Format(time.DateOnly)
	var people []journal.Person
	for i := 1; i <= 200; i++ {
		people = append(people, journal.Person{ID: fmt.Sprintf("p%03d", i), Role: "pupil", Grade: "1", Class: "1-1",
			CardID: fmt.Sprintf("CARD%04d", i), HealthDate: today, Health: "green"})
	}
	if err := b.j.ReplaceRoster(1, people); err != nil {
		t.Fatal(err)
	}
	b.flow, err = gate.New(cfg, gate.Devices{Thermometer: therm, SensorName: "mlx90614", Scanner: b.scan, Gate: rel, Lights: noLights{}},
		b.j, &gate.Opts{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	b.srv = console.New(b.flow, b.j, console.Opts{GateID: cfg.GateID, Logger: log})
	ev, cancelSub := b.flow.Subscribe()
	b.events = ev
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = b.flow.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait(); cancelSub() })
	return b
}

// opens counts the relay's energisations on the pin (active high).
func (b *box) opens() int {
	n, prev := 0, gpio.Low
	for _, l := range b.pin.Levels() {
		if l == gpio.High && prev != gpio.High {
			n++
		}
		prev = l
	}
	return n
}

type status struct {
	Current gate.Event         `json:"current"`
	Health  map[string]string  `json:"health"`
	Sensor  *gate.SensorStatus `json:"sensor"`
}

// status is GET /api/status from the box's own screen.
func (b *box) status() status {
	b.t.Helper()
	r := httptest.NewRequest("GET", "/api/status", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	b.srv.ServeHTTP(w, r)
	var s status
	if err := json.Unmarshal(w.Body.Bytes(), &s); w.Code != 200 || err != nil || s.Sensor == nil {
		b.t.Fatalf("status %d %s: %v", w.Code, w.Body, err)
	}
	return s
}

// waitSensor waits for the flow's judgement of the sensor (the idle probes
// run every 10 ms).
func (b *box) waitSensor(want gate.SensorState) gate.SensorStatus {
	b.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := b.flow.SensorStatus()
		if st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("sensor %s, want %s", st, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// visit is one person at the gate: what the flow did with them.
type visit struct {
	referred gate.Reason // the reason the guard was called, if they were
	final    gate.Event
	entry    journal.Entry
}

// present sends the next person with a forehead at surfaceC to the gate and
// waits for the decision; guard, if not nil, acts when the person is referred.
// The person then steps away and the sensor sees the room.
func (b *box) present(surfaceC float64, guard func()) visit {
	b.t.Helper()
	b.chip.SetObject(gate.FromCelsius(surfaceC))
	b.scan <- fmt.Sprintf("CARD%04d", b.next)
	b.next++
	var v visit
	timeout := time.After(10 * time.Second)
	for v.final.State == "" {
		select {
		case ev := <-b.events:
			switch ev.State {
			case gate.StateReferred:
				v.referred = ev.Reason
				if guard != nil {
					guard()
				}
			case gate.StateAdmitted, gate.StateDenied:
				v.final = ev
			}
		case <-timeout:
			b.t.Fatal("no decision")
		}
	}
	l, err := b.j.Last(1)
	if err != nil || len(l) != 1 || l[0].Seq != v.final.Seq {
		b.t.Fatalf("journal: %v %v, want the decision's entry %d", l, err, v.final.Seq)
	}
	v.entry = l[0]
	b.chip.SetObject(physic.ZeroCelsius + 24*physic.Celsius)
	// The person walks through: the relay's pulse ends before the next one, so
	// every opening is its own edge on the pin.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if l := b.pin.Levels(); len(l) == 0 || l[len(l)-1] == gpio.Low {
			break
		}
		if time.Now().After(deadline) {
			b.t.Fatal("the relay did not release")
		}
	}
	return v
}

// handheld is the guard typing a handheld thermometer's reading into the console.
func (b *box) handheld(c float64) func() {
	return func() {
		r := httptest.NewRequest("POST", "/api/guard", strings.NewReader(fmt.Sprintf(`{"kind":"reading","guard_id":"g7","reason":"手持测温","reading_c":%v}`, c)))
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		b.srv.ServeHTTP(w, r)
		if w.Code != 200 {
			b.t.Errorf("guard reading: %d %s", w.Code, w.Body)
		}
	}
}

func (b *box) mustAdmit(v visit) {
	b.t.Helper()
	if v.final.State != gate.StateAdmitted || v.entry.Decision != "admit" || v.referred != "" {
		b.t.Fatalf("want an admission on the sensor: %+v entry %+v", v, v.entry)
	}
}

// mustRefuse: referred to the guard for why, nobody came, refused with why.
func (b *box) mustRefuse(v visit, why gate.Reason) {
	b.t.Helper()
	if v.referred != why || v.final.State != gate.StateDenied || v.entry.Decision != "deny" || v.entry.Reason != string(why) {
		b.t.Fatalf("want a referral for %s, then a refusal: referred %q, event %+v, entry %+v", why, v.referred, v.final, v.entry)
	}
}

// The sensor disappears (every transaction NACKed) and comes back: the gate
// finds it not responding while idle, shows it on the console, refers every
// person to the guard with sensor_error and never opens; plugged back in, the
// fault clears by itself and the next person is admitted on the sensor.
func TestSensorDisappearsAndReturns(t *testing.T) {
	b := newBox(t, nil)
	b.mustAdmit(b.present(36.1, nil))
	if b.opens() != 1 {
		t.Fatalf("relay opened %d times for one admission", b.opens())
	}

	b.chip.Unplug()
	st := b.waitSensor(gate.SensorNotResponding)
	if !st.Blocks || st.Reason != gate.ReasonSensorError || !strings.HasPrefix(st.String(), "测温传感器无响应 sensor not responding: ") ||
		!strings.Contains(st.String(), "NACK") {
		t.Fatalf("status %+v: telemetry would say %q", st, st)
	}
	s := b.status()
	if s.Sensor.State != gate.SensorNotResponding || !s.Sensor.Blocks || s.Sensor.Text.ZH != "测温传感器无响应" ||
		!strings.HasPrefix(s.Health["sensor"], "测温传感器无响应 sensor not responding") {
		t.Fatalf("console status %+v", s)
	}
	if s.Current.State != gate.StateFault || s.Current.Reason != gate.ReasonSensorError {
		t.Errorf("console now %+v: want the fault shown while idle", s.Current)
	}
	for range 3 {
		start := time.Now()
		b.mustRefuse(b.present(36.1, nil), gate.ReasonSensorError)
		// Referred at once, not after the driver's retries of every read
		// (about 45 s); the margin is for a loaded CI machine or qemu.
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("a person waited %s at a dead sensor before the guard was called", d)
		}
	}
	if b.opens() != 1 {
		t.Fatalf("the relay opened while the sensor was not responding (%d openings)", b.opens())
	}

	b.chip.Replug()
	b.waitSensor(gate.SensorOK)
	if s := b.status(); s.Sensor.State != gate.SensorOK || s.Health["sensor"] != "" {
		t.Fatalf("console after the sensor came back: %+v", s)
	}
	b.mustAdmit(b.present(36.2, nil))
	if b.opens() != 2 {
		t.Fatalf("relay openings %d, want 2", b.opens())
	}
}

// The chip stops measuring with a forehead in view (its words freeze): the
// gate flags it stuck after StuckPeople people read the identical word, and
// from then on refers everyone to the guard with sensor_stuck until the chip
// measures again. The people before detection read the last real reading
// (a normal temperature): at most StuckPeople−1 of them.
func TestSensorStuckNeverAdmits(t *testing.T) {
	b := newBox(t, nil)
	for _, c := range []float64{36.1, 36.3, 35.9, 36.0} { // healthy: jittering words, people apart
		b.mustAdmit(b.present(c, nil))
	}
	if st := b.flow.SensorStatus(); st.State != gate.SensorOK {
		t.Fatalf("a healthy noisy sensor: %s", st)
	}
	before := b.opens()
	b.chip.SetObject(gate.FromCelsius(36.2))
	b.chip.Stick()
	admitted, detected := 0, false
	for i := range 8 {
		v := b.present(36.0+float64(i%3)*0.3, nil)
		switch {
		case v.final.State == gate.StateAdmitted && !detected:
			admitted++
		case v.final.State == gate.StateAdmitted:
			t.Fatalf("person %d admitted on a stuck sensor after it was detected: %+v", i, v.entry)
		default:
			b.mustRefuse(v, gate.ReasonSensorStuck)
			detected = true
		}
	}
	t.Logf("%d people admitted on the frozen word before it was detected", admitted)
	if !detected || admitted > 2 {
		t.Fatalf("detected %v after %d admissions on the frozen word, want at most 2", detected, admitted)
	}
	if b.opens() != before+admitted {
		t.Fatalf("relay openings %d, want %d: it opened for a refused person", b.opens(), before+admitted)
	}
	st := b.flow.SensorStatus()
	s := b.status()
	if st.State != gate.SensorStuck || s.Sensor.State != gate.SensorStuck || !s.Sensor.Blocks ||
		!strings.HasPrefix(s.Health["sensor"], "测温传感器读数冻结 sensor reading stuck: object 36.2") {
		t.Fatalf("status %+v console %+v", st, s)
	}

	b.chip.Unstick()
	b.waitSensor(gate.SensorOK)
	b.mustAdmit(b.present(36.1, nil))
}

// The sensor drifts low (its object reading 1.5 K under the truth, as a dirty
// window or a lost calibration): once the median of the last drift_window
// people's body temperatures is under 35.5 °C, no one is admitted on it;
// each is referred to the guard's handheld thermometer with sensor_drift, and
// the console and telemetry say "check calibration". Once it reads true again
// the median recovers and the warning clears.
func TestSensorDriftRefersToHandheld(t *testing.T) {
	b := newBox(t, func(c *gate.Config) { c.Temperature.Sensor.DriftWindow = 10 })
	for i := range 10 {
		b.mustAdmit(b.present(36.0+float64(i%4)*0.1, nil)) // body 36.5..36.8
	}
	b.chip.SetOffset(-1500 * physic.MilliKelvin) // body now reads ~35.1
	low := 0
	for b.flow.SensorStatus().State == gate.SensorOK {
		if low++; low > 6 {
			t.Fatal("no drift after 6 of 10 people read 1.5 K low")
		}
		v := b.present(36.1, b.handheld(36.6))
		if v.referred == "" {
			continue // admitted on the reading: the median was still in range
		}
		// The person whose reading moved the median is already referred.
		if v.referred != gate.ReasonSensorDrift || v.entry.Decision != "admit" || v.entry.Guard == nil ||
			v.entry.Readings[len(v.entry.Readings)-1].Sensor != "handheld" {
			t.Fatalf("visit %+v entry %+v", v, v.entry)
		}
	}
	st := b.status()
	if st.Sensor.State != gate.SensorDriftLow || !st.Sensor.Blocks ||
		!strings.HasPrefix(st.Health["sensor"], "测温传感器疑似漂移（偏低），请校准 sensor drift suspected (reads low), check calibration") {
		t.Fatalf("console %+v", st)
	}
	opens := b.opens()
	b.mustRefuse(b.present(36.1, nil), gate.ReasonSensorDrift) // nobody takes a handheld reading: refused
	if b.opens() != opens {
		t.Fatal("the relay opened on a drifting sensor's reading")
	}
	v := b.present(36.1, b.handheld(36.7)) // the guard measures: admitted on the handheld reading
	if v.referred != gate.ReasonSensorDrift || v.final.State != gate.StateAdmitted || v.entry.Guard == nil ||
		v.entry.Readings[len(v.entry.Readings)-1].Sensor != "handheld" || b.opens() != opens+1 {
		t.Fatalf("handheld path: %+v %+v", v, v.entry)
	}
	// A fever still reads as one on a low sensor: retested and refused, not referred.
	if v := b.present(38.5, nil); v.final.Reason != gate.ReasonFever || v.referred != "" || b.opens() != opens+1 {
		t.Fatalf("fever on a drifting sensor: %+v", v)
	}

	// Cleaned and recalibrated: people are referred until their readings bring
	// the median back; the one whose reading does is admitted on it.
	b.chip.SetOffset(0)
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("the drift warning did not clear")
		}
		v := b.present(36.1, nil)
		if v.referred == "" {
			b.mustAdmit(v)
			break
		}
		b.mustRefuse(v, gate.ReasonSensorDrift)
	}
	if st := b.flow.SensorStatus(); st.State != gate.SensorOK {
		t.Fatalf("admitted while %s", st)
	}
	b.mustAdmit(b.present(36.1, nil))
}
