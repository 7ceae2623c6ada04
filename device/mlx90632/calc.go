package mlx90632

import "math"

// Calib holds the factory calibration constants read from EEPROM at start-up.
// The 32-bit ones are stored as two words, least significant first.
type Calib struct {
	PR, PG, PT, PO int32 // ambient: reference, gain, 2nd-order, offset
	Ea, Eb         int32 // ambient sensitivity for the object calculation
	Fa, Fb, Ga     int32 // object gain and its ambient / object temperature coefficients
	Gb, Ka         int16 // ambient and IR beta
	Ha, Hb         int16 // customer calibration (gain, offset)
}

// refCh is ResCtrlRef of channels 1..3 (datasheet: 12 for all three).
const refCh = 12.0

// PreAmbient is the ambient pre-processing step of DSPv5.
func (c *Calib) PreAmbient(ambNew, ambOld int16) float64 {
	kGb := float64(c.Gb) / 1024
	vr := float64(ambOld) + kGb*(float64(ambNew)/refCh)
	return (float64(ambNew) / refCh) / vr * 524288
}

// PreObject is the object pre-processing step. The two object words are
// averaged in integer arithmetic first, truncating towards zero as the
// reference implementation does, so results agree to the last digit.
func (c *Calib) PreObject(objNew, objOld, ambNew, ambOld int16) float64 {
	kKa := float64(c.Ka) / 1024
	vr := float64(ambOld) + kKa*(float64(ambNew)/refCh)
	avg := (int32(objNew) + int32(objOld)) / 2
	return (float64(avg) / refCh) / vr * 524288
}

// Ambient returns the ambient temperature in °C from PreAmbient's result.
func (c *Calib) Ambient(pre float64) float64 {
	asub := float64(c.PT) / 17592186044416.0
	bsub := pre - float64(c.PR)/256
	return bsub/float64(c.PG)*1048576 + asub*bsub*bsub + float64(c.PO)/256
}

// tadut is the die temperature the object calculation uses. The reference takes
// the pre-processed values as 32-bit integers, which truncates them.
func (c *Calib) tadut(preAmb float64) float64 {
	return (float64(int32(preAmb))-float64(c.Eb)/256)/(float64(c.Ea)/65536) + 25
}

func pow4(x float64) float64 { x *= x; return x * x }

// Object returns the object temperature in °C for a surface of the given
// emissivity, assuming the surroundings are at the sensor's own temperature.
func (c *Calib) Object(preObj, preAmb, emissivity float64) float64 {
	ta := c.tadut(preAmb)
	return c.iterate(preObj, ta, pow4(ta+273.15), emissivity)
}

// ObjectReflected is Object when the surroundings the surface reflects are at
// reflected °C rather than at the sensor's temperature.
func (c *Calib) ObjectReflected(preObj, preAmb, reflected, emissivity float64) float64 {
	ta := c.tadut(preAmb)
	tr4 := pow4(reflected + 273.15)
	tr4 -= (tr4 - pow4(ta+273.15)) / emissivity
	return c.iterate(preObj, ta, tr4, emissivity)
}

// iterate refines the object temperature: the gain depends on the object
// temperature itself, so DSPv5 starts at 25 °C and iterates five times.
func (c *Calib) iterate(preObj, ta, background4, emissivity float64) float64 {
	obj := float64(int32(preObj))
	ha := float64(c.Ha) / 16384
	hb := float64(c.Hb) / 1024
	gb := float64(c.Fb) * (ta - 25) / 68719476736.0
	t := 25.0
	for range 5 {
		ga := float64(c.Ga) * (t - 25) / 68719476736.0
		alpha := float64(c.Fa) * 1e10 * ha * (1 + ga + gb) / 70368744177664.0
		fa := obj / (emissivity * (alpha / 1e10))
		t = math.Sqrt(math.Sqrt(fa+background4)) - 273.15 - hb
	}
	return t
}
