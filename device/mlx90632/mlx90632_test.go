package mlx90632_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"campusgate/device/mlx90632"
	"campusgate/device/mlx90632/mlx90632sim"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

var k = mlx90632sim.Calibration

func c(t physic.Temperature) float64 { return float64(t-physic.ZeroCelsius) / float64(physic.Celsius) }
func temp(c float64) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(c*1e6)*physic.MicroKelvin
}

// The unit-test vectors of Melexis' reference library (test/TestDSP.c).
func TestLibraryVectors(t *testing.T) {
	near := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.4f, want %.4f", name, got, want)
		}
	}
	near("pre ambient", k.PreAmbient(22454, 23030), 24041.27, 0.01)
	near("pre ambient", k.PreAmbient(100, 150), 19065.018, 0.01)
	near("pre object", k.PreObject(3237, 3239, 22454, 23030), 3314.89, 0.01)
	near("pre object", k.PreObject(-32767, -32767, 22454, 23030), -33545.08, 0.01)
	near("ambient", k.Ambient(k.PreAmbient(22454, 23030)), 48.724, 0.01)
	near("ambient", k.Ambient(k.PreAmbient(100, 150)), -18.734, 0.01)
	near("ambient", k.Ambient(k.PreAmbient(32767, 32766)), 53.350, 0.01)
	obj := func(on, oo int16, refl float64) float64 {
		pa, po := k.PreAmbient(22454, 23030), k.PreObject(on, oo, 22454, 23030)
		if refl != 0 {
			return k.ObjectReflected(po, pa, refl, 1)
		}
		return k.Object(po, pa, 1)
	}
	for _, v := range []struct {
		on, oo int16
		want   float64
	}{{609, 611, 55.507}, {149, 151, 51.123}, {-149, -151, 48.171}, {32767, 32767, 212.844}, {-5000, -5000, -16.653}, {26901, 26899, 193.917}, {27105, 27095, 194.599}} {
		near("object", obj(v.on, v.oo, 0), v.want, 0.01)
	}
}

// TestReferenceLibrary checks the maths against numbers the reference C library
// computed for the same raw values and constants (testdata/README.md).
func TestReferenceLibrary(t *testing.T) {
	b, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw []map[string]float64
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) < 300 {
		t.Fatalf("only %d vectors", len(raw))
	}
	worst := 0.0
	for _, v := range raw {
		an, ao, on, oo := int16(v["amb_new"]), int16(v["amb_old"]), int16(v["obj_new"]), int16(v["obj_old"])
		pa, po := k.PreAmbient(an, ao), k.PreObject(on, oo, an, ao)
		var obj float64
		if v["reflected_c"] != 0 {
			obj = k.ObjectReflected(po, pa, v["reflected_c"], v["emissivity"])
		} else {
			obj = k.Object(po, pa, v["emissivity"])
		}
		for _, d := range []float64{k.Ambient(pa) - v["ambient_c"], obj - v["object_c"]} {
			worst = math.Max(worst, math.Abs(d))
		}
		if math.Abs(obj-v["object_c"]) > 0.01 || math.Abs(k.Ambient(pa)-v["ambient_c"]) > 0.01 {
			t.Errorf("vector %v: object %.4f ambient %.4f", v, obj, k.Ambient(pa))
		}
	}
	t.Logf("%d vectors, largest difference from the reference library %.2g °C", len(raw), worst)
}

func newDev(t testing.TB) (*mlx90632.Dev, *mlx90632sim.Chip) {
	t.Helper()
	chip := mlx90632sim.New(mlx90632.DefaultAddr)
	chip.SetPeriod(time.Millisecond)
	o := mlx90632.DefaultOpts
	o.PollInterval = time.Millisecond
	o.MeasureTimeout = 200 * time.Millisecond
	d, err := mlx90632.New(chip, &o)
	if err != nil {
		t.Fatal(err)
	}
	return d, chip
}

func TestEmulatorRoundTrip(t *testing.T) {
	d, chip := newDev(t)
	if got := d.Calib(); got != k {
		t.Fatalf("calibration read from EEPROM %+v, want %+v", got, k)
	}
	for _, amb := range []float64{18, 25, 32} {
		chip.SetAmbient(temp(amb))
		for obj := 30.0; obj <= 45; obj += 0.7 {
			chip.SetObject(temp(obj))
			o, a, err := d.Measure(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(c(o)-obj) > 0.02 || math.Abs(c(a)-amb) > 0.01 {
				t.Errorf("ambient %.2f object %.2f: read %.3f / %.3f", amb, obj, c(o), c(a))
			}
		}
	}
}

// A noisy emulated part's object readings jitter by hundredths of a degree
// around the truth, as a real one's do; never by enough to unsettle the
// gate's stable window (0.2 °C).
func TestEmulatorNoise(t *testing.T) {
	d, chip := newDev(t)
	chip.SetNoise(2)
	chip.SetObject(temp(36.5))
	seen := map[float64]bool{}
	for range 30 {
		o, _, err := d.Measure(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(c(o)-36.5) > 0.1 {
			t.Fatalf("noisy object %.3f °C, want 36.5 ± 0.1", c(o))
		}
		seen[c(o)] = true
	}
	if len(seen) < 3 {
		t.Errorf("30 noisy readings gave %d distinct values", len(seen))
	}
}

func TestEmissivityAndReflected(t *testing.T) {
	d, chip := newDev(t)
	chip.SetObject(temp(36.5))
	o1, _, _ := d.Measure(context.Background())
	if err := d.SetEmissivity(0.95); err != nil {
		t.Fatal(err)
	}
	o2, _, _ := d.Measure(context.Background())
	if c(o2) <= c(o1) {
		t.Errorf("a lower emissivity must read a warmer object: %.2f then %.2f", c(o1), c(o2))
	}
	if err := d.SetEmissivity(1.5); err == nil {
		t.Error("emissivity 1.5 accepted")
	}
}

// TestPlaybackInit checks the exact bytes of start-up and one measurement.
func TestPlaybackInit(t *testing.T) {
	chip := mlx90632sim.New(mlx90632.DefaultAddr)
	rec := &i2ctest.Record{Bus: chip}
	d, err := mlx90632.New(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	ops := rec.Ops
	if len(ops) != 5 {
		t.Fatalf("%d transactions at start-up: %+v", len(ops), ops)
	}
	want := [][]byte{{0x24, 0x0B}, {0x24, 0x0C}, {0x24, 0x81}, {0x3F, 0xFF}}
	for i, w := range want {
		if string(ops[i].W) != string(w) || ops[i].Addr != 0x3A {
			t.Errorf("op %d writes % x to %#x, want % x", i, ops[i].W, ops[i].Addr, w)
		}
	}
	if len(ops[1].R) != 72 || len(ops[2].R) != 4 {
		t.Errorf("calibration reads of %d and %d bytes", len(ops[1].R), len(ops[2].R))
	}
	if ops[4].W[0] != 0x3F || ops[4].W[1] != 0xFF || len(ops[4].W) != 4 {
		t.Errorf("data-ready clear % x", ops[4].W)
	}
	// Replay the recorded start-up against a Playback: the driver must ask for exactly the same bytes.
	pb := &i2ctest.Playback{Ops: ops, DontPanic: true}
	if _, err := mlx90632.New(pb, nil); err != nil {
		t.Fatal(err)
	}
	if err := pb.Close(); err != nil {
		t.Fatal(err)
	}
	_ = d
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	d, chip := newDev(t)
	chip.Inject(1)
	if _, _, err := d.Measure(ctx); err != nil {
		t.Errorf("one NACK must be retried: %v", err)
	}
	chip.Inject(3) // one per attempt: Retries 2 means three attempts
	if _, _, err := d.Measure(ctx); !errors.Is(err, mlx90632sim.ErrNACK) {
		t.Errorf("NACKs beyond retries: %v", err)
	}
	chip.Stuck(true)
	start := time.Now()
	if _, _, err := d.Measure(ctx); !errors.Is(err, mlx90632.ErrTimeout) || time.Since(start) > 2*time.Second {
		t.Errorf("stuck status: %v after %v", err, time.Since(start))
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	if _, _, err := d.Measure(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ctx: %v", err)
	}
	cancel()
	chip.Stuck(false)
	chip.Garbage(true)
	if _, _, err := d.Measure(ctx); !errors.Is(err, mlx90632.ErrInvalid) {
		t.Errorf("garbage RAM: %v", err)
	}
	chip.Garbage(false)
	chip.Unplug()
	if _, _, err := d.Measure(ctx); err == nil {
		t.Error("unplugged chip answered")
	}
	chip.Replug()
	if _, _, err := d.Measure(ctx); err != nil {
		t.Errorf("after replug: %v", err)
	}
	for ver, ok := range map[uint16]bool{0x8505: true, 0x0105: true, 0x0503: false, 0x8504: false} {
		part := mlx90632sim.New(mlx90632.DefaultAddr)
		part.SetEEVersion(ver)
		if _, err := mlx90632.New(part, nil); (err == nil) != ok {
			t.Errorf("EEPROM version %#04x: %v, want accepted=%v", ver, err, ok)
		}
	}
	blank := mlx90632sim.New(mlx90632.DefaultAddr)
	blank.Blank()
	if _, err := mlx90632.New(blank, nil); !errors.Is(err, mlx90632.ErrEEPROM) {
		t.Errorf("blank EEPROM: %v", err)
	}
	if _, err := mlx90632.New(mlx90632sim.New(0x3B), nil); !errors.Is(err, mlx90632sim.ErrNACK) {
		t.Errorf("wrong address: %v", err)
	}
	if _, err := mlx90632.New(chip, &mlx90632.Opts{Addr: 0x3A, Emissivity: 2, MeasureTimeout: time.Second, PollInterval: time.Millisecond}); err == nil {
		t.Error("bad opts accepted")
	}
}

func BenchmarkMeasure(b *testing.B) {
	d, _ := newDev(b)
	ctx := context.Background()
	b.ReportAllocs()
	for range b.N {
		if _, _, err := d.Measure(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCalc(b *testing.B) {
	b.ReportAllocs()
	s := 0.0
	for range b.N {
		pa := k.PreAmbient(22454, 23030)
		s += k.Object(k.PreObject(609, 611, 22454, 23030), pa, 0.98) + k.Ambient(pa)
	}
	_ = s
}
