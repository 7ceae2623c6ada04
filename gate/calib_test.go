package gate

import (
	"math"
	"testing"
	"testing/quick"
)

func TestCalibrationOffset(t *testing.T) {
	c := Calibration{OffsetC: 0.8}
	if err := c.Validate(37.3); err != nil {
		t.Fatal(err)
	}
	if got := Celsius(c.Body(FromCelsius(36.0))); math.Abs(got-36.8) > 1e-9 {
		t.Errorf("Body(36.0) = %v, want 36.8", got)
	}
}

func TestCalibrationTable(t *testing.T) {
	c := Calibration{Table: [][2]float64{{32, 35.8}, {34, 36.6}, {36, 37.4}}}
	if err := c.Validate(37.3); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want float64 }{
		{30, 33.8}, // below: offset of the first point
		{32, 35.8}, {33, 36.2}, {34, 36.6}, {35, 37.0}, {36, 37.4},
		{38, 39.4}, // above: offset of the last point
	} {
		if got := c.body(tc.in); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("body(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestCalibrationRefused(t *testing.T) {
	for name, c := range map[string]Calibration{
		"negative offset hides fever": {OffsetC: -0.5},
		"table hides fever":           {Table: [][2]float64{{35, 35.5}, {38, 37.0}}},
		"surface not increasing":      {Table: [][2]float64{{35, 36}, {35, 36.5}}},
		"body decreasing":             {Table: [][2]float64{{34, 36.9}, {35, 36.5}}},
		"absurd offset":               {OffsetC: 9},
		"absurd point":                {Table: [][2]float64{{30, 39}}},
		"NaN":                         {OffsetC: math.NaN()},
	} {
		if err := c.Validate(37.3); err == nil {
			t.Errorf("%s: %+v accepted", name, c)
		}
	}
}

// Any table that passes Validate is monotonic and keeps every feverish reading feverish.
func TestCalibrationProperty(t *testing.T) {
	f := func(a, b, c, d uint8, x, y uint16) bool {
		s0 := 30 + float64(a%40)/10
		tbl := Calibration{Table: [][2]float64{{s0, s0 + float64(b%30)/10}, {s0 + 1 + float64(c%30)/10, s0 + 1 + float64(d%50)/10}}}
		if tbl.Validate(37.3) != nil {
			return true
		}
		lo, hi := 30+float64(x%1500)/100, 30+float64(y%1500)/100
		if lo > hi {
			lo, hi = hi, lo
		}
		if tbl.body(lo) > tbl.body(hi)+1e-9 {
			return false
		}
		return hi < 37.3 || tbl.body(hi) >= 37.3-1e-9
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 20000}); err != nil {
		t.Error(err)
	}
}

func TestCalibrationSurfaceInverts(t *testing.T) {
	for _, c := range []Calibration{{OffsetC: 0.7}, {Table: [][2]float64{{32, 35.8}, {34, 36.6}, {36, 37.4}}}} {
		for b := 35.0; b < 40; b += 0.13 {
			s := c.Surface(FromCelsius(b))
			if got := Celsius(c.Body(s)); math.Abs(got-b) > 0.002 {
				t.Errorf("%+v: Body(Surface(%.2f)) = %.3f", c, b, got)
			}
		}
	}
}
