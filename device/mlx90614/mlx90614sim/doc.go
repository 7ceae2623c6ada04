// Package mlx90614sim emulates a Melexis MLX90614 infrared thermometer behind
// an i2c.Bus, speaking its SMBus protocol byte for byte: Read Word returns
// [lo, hi, PEC] with the PEC computed over the whole frame including the
// address bytes, Write Word must carry a correct PEC, EEPROM cells must be
// erased (written 0x0000) before a new value is written, and the chip does not
// answer while an EEPROM write is in progress.
//
// It serves the driver's tests and the simulated gate (gated -simulate,
// gatectl ... -simulate), so it is an ordinary package, safe for concurrent
// use, with fault injection (Inject, Unplug, Stick, SetWarmup).
//
// The emulated chip reports the object temperature set with SetObject exactly
// when the emissivity it latched at power-on equals the surface's
// (SetSurfaceEmissivity, default 1.0); otherwise it reports what a real chip
// would: the temperature whose radiation, at the latched emissivity, matches
// what it received (Stefan–Boltzmann, against the ambient temperature).
//
// Datasheet: https://www.melexis.com/en/documents/documentation/datasheets/datasheet-mlx90614
//
// # Caveats
//
// Only Read Word and Write Word of RAM (0x00–0x1F, read-only) and EEPROM
// (0x20–0x3F) are emulated; Read Flags (0xF0) and Sleep (0xFF) are answered
// with a NACK. Where the chip's behaviour is not specified the emulator picks
// one and says so: a non-zero write over a non-erased cell leaves the OR of
// both words (and is counted in Stats.EEPROMViolations); a Write Word with a
// wrong or missing PEC is not stored and not acknowledged; writes to the
// factory calibration cells are refused. The EEPROM contents other than the
// emissivity and the address are plausible factory values, not a calibration.
package mlx90614sim
