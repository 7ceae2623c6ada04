// Package mlx90632 drives the Melexis MLX90632, the medical-accuracy FIR sensor
// (±0.2 °C for objects at 35–42 °C), over I²C.
//
// The chip measures and stores raw values; the host reads the factory
// calibration from EEPROM once at start-up and computes the temperatures with
// the DSPv5 formulas in float64 (Calib). The integer steps of Melexis'
// reference library (melexis/mlx90632-library) are kept, so the results agree
// with it to far better than 0.01 °C; testdata/reference.json holds its numbers.
//
// Datasheet: https://www.melexis.com/en/documents/documentation/datasheets/datasheet-mlx90632
//
// # Caveats
//
//   - Only DSPv5 parts are supported, in medical mode; parts that can also do
//     extended range (EEPROM version 0x85xx) are used in medical mode.
//   - Emissivity is a host-side parameter; skin is about 0.98.
//   - Each Measure waits for a measurement that ends after it began: at the
//     factory refresh rate (2 Hz) that is up to 500 ms.
//   - Registers are 16-bit addressed and big-endian; 32-bit constants are two
//     words, least significant first.
package mlx90632
