package gate

import (
	"fmt"
	"math"

	"periph.io/x/conn/v3/physic"
)

// Calibration estimates body temperature from a forehead surface reading.
//
// A forehead reads colder than the body, by an amount that depends on the sensor,
// its distance and the weather; a school calibrates against a clinical
// thermometer and writes either a fixed offset or a table here. Whatever it
// writes, the map must be monotonic and must never take a reading that is
// already at or over the fever threshold below it: Validate refuses such a
// table, so a bad calibration cannot turn a fever into an admission.
type Calibration struct {
	// OffsetC is added to the surface reading when Table is empty.
	OffsetC float64 `toml:"offset_c"`
	// Table is a list of [surface °C, body °C] points, strictly increasing in
	// surface and not decreasing in body, interpolated linearly; outside it the
	// offset of the nearest end point applies.
	Table [][2]float64 `toml:"table"`
}

// Validate checks the map is monotonic and keeps feverish readings feverish.
func (c Calibration) Validate(threshold float64) error {
	// Every comparison with a NaN is false, so each check here is written to
	// fail on one; an infinite point passes a difference check as inf-inf.
	if !(math.Abs(threshold) < 100) {
		return fmt.Errorf("calibration: fever threshold %v is not a temperature", threshold)
	}
	if !(math.Abs(c.OffsetC) <= 5) {
		return fmt.Errorf("calibration: offset_c %v outside -5..5 °C", c.OffsetC)
	}
	for i, p := range c.Table {
		if math.IsInf(p[0], 0) || !(math.Abs(p[1]-p[0]) <= 5) {
			return fmt.Errorf("calibration: table[%d] %v: body must be within 5 °C of surface", i, p)
		}
		if i == 0 {
			continue
		}
		if p[0] <= c.Table[i-1][0] {
			return fmt.Errorf("calibration: table[%d]: surface %.2f °C must be above the previous %.2f °C", i, p[0], c.Table[i-1][0])
		}
		if p[1] < c.Table[i-1][1] {
			return fmt.Errorf("calibration: table[%d]: body %.2f °C is below the previous %.2f °C (the map must not decrease)", i, p[1], c.Table[i-1][1])
		}
	}
	// The map is monotonic, so every input at or over the threshold maps at or over
	// c.body(threshold): checking that one point covers them all.
	if b := c.body(threshold); b < threshold-1e-9 {
		return fmt.Errorf("calibration: a surface reading of %.2f °C would become %.2f °C, below the fever threshold %.2f °C", threshold, b, threshold)
	}
	return nil
}

// Body returns the estimated body temperature for a surface reading.
func (c Calibration) Body(surface physic.Temperature) physic.Temperature {
	return FromCelsius(c.body(Celsius(surface)))
}

func (c Calibration) body(s float64) float64 {
	t := c.Table
	switch {
	case len(t) == 0:
		return s + c.OffsetC
	case s <= t[0][0]:
		return s + t[0][1] - t[0][0]
	case s >= t[len(t)-1][0]:
		return s + t[len(t)-1][1] - t[len(t)-1][0]
	}
	for i := 1; i < len(t); i++ {
		if s <= t[i][0] {
			a, b := t[i-1], t[i]
			return a[1] + (s-a[0])*(b[1]-a[1])/(b[0]-a[0])
		}
	}
	panic("unreachable: s is inside the table")
}

// Celsius converts a periph temperature to °C.
func Celsius(t physic.Temperature) float64 {
	return float64(t-physic.ZeroCelsius) / float64(physic.Celsius)
}

// FromCelsius converts °C to a periph temperature, to the nearest millikelvin.
func FromCelsius(c float64) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(math.Round(c*1000))*physic.MilliKelvin
}

// Surface inverts Body: the surface reading that the calibration turns into
// body. The simulator uses it to show a requested body temperature; the map is
// monotonic, so bisection finds the smallest such reading.
func (c Calibration) Surface(body physic.Temperature) physic.Temperature {
	want := Celsius(body)
	lo, hi := want-10, want+10
	for range 60 {
		mid := (lo + hi) / 2
		if c.body(mid) < want {
			lo = mid
		} else {
			hi = mid
		}
	}
	return FromCelsius(hi)
}
