// Package mlx90614 reads the Melexis MLX90614 infrared thermometer over SMBus
// (I²C with a Packet Error Code): the object temperature the gate takes from a
// forehead, the chip's own (ambient) temperature, and the emissivity setting
// kept in its EEPROM.
//
// Datasheet: https://www.melexis.com/en/documents/documentation/datasheets/datasheet-mlx90614
// — sections "SMBus compatible 2-wire protocol" (Read Word, Write Word, PEC),
// "RAM" (0x06 Ta, 0x07 Tobj1, 0x08 Tobj2), "EEPROM" (0x24 emissivity) and
// "EEPROM write" (erase with 0x0000 first; write time 5 ms).
//
// Every read checks the PEC, the error flag (bit 15) and the chip's measuring
// range (Ta −40…125 °C, To −70…380 °C) so that a noisy cable, a chip that is
// still starting, or a floating bus never turns into a plausible temperature.
// A read that fails any check is tried again Opts.Retries times; the error that
// is finally returned wraps the last attempt's cause (errors.Is works with
// ErrPEC, ErrErrorFlag, ErrInvalid and the bus's own errors) and names the
// register.
//
// # Caveats
//
// A new emissivity (SetEmissivity) is written to EEPROM at once but the chip
// only uses it after a power cycle: until then readings are computed with the
// old value. Melexis has also described parts where changing the emissivity
// calls for a matching change of another, factory calibration cell; this driver
// writes cell 0x04 only, so check the application note for your part before
// relying on an emissivity below 1.0. SetEmissivity does not write when the
// cell already holds the value, because EEPROM endurance is limited and a power
// cut between the erase and the write leaves the cell at 0x0000.
//
// The chip speaks SMBus, whose maximum clock is 100 kHz: run the bus at
// 100 kHz or slower (on a Raspberry Pi, dtparam=i2c_arm_baudrate=100000, the
// default). The driver never calls SetSpeed, because on Linux that changes
// every I²C bus of the host. If reads fail now and then with PEC errors on a
// Raspberry Pi, try a lower clock: the BCM283x I²C controller is known to
// mishandle clock stretching.
//
// The first readings after power-on are not valid until the chip has finished
// its first measurement. The driver throws away the first Opts.Discard readings
// of each temperature register after New, and again after a read failed on the
// bus (the sensor may have been unplugged and powered up again). This counts
// reads, not time: a chip that has just been powered needs some hundreds of
// milliseconds (see the datasheet's power-up timing for its filter settings)
// before even the discarded reads are worth making.
//
// A chip whose PWM output was enabled in EEPROM must first be switched to SMBus
// by holding SCL low for over a millisecond, which a Linux I²C adapter cannot
// do; the factory default is SMBus.
//
// Nothing in the protocol tells a frozen sensor from a steady forehead: a
// reading that never changes passes every check here.
package mlx90614
