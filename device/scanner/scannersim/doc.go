// Package scannersim emulates QR/barcode scanners for tests and for the simulated
// gate (gated -simulate, gatectl hw scan -simulate).
//
// Serial puts a pseudo-terminal behind a stable symlink (dir/scanner0), the way
// udev names a USB CDC scanner under /dev/serial/by-id/. The real scanner driver
// opens that path through go.bug.st/serial, so everything from termios to framing
// runs for real. Unplug hangs the terminal up and removes the link; Replug makes a
// new terminal (as the kernel makes a new ttyACMn) and re-points the link.
//
// Evdev writes the struct input_event stream of a keyboard-wedge scanner into a
// FIFO, which the HID driver reads with HIDOpts.NoGrab set.
//
// Faults: WriteRaw (garbage, invalid UTF-8, half frames), Garbage, over-long codes
// via Scan, TypeNoEnter, Unplug/Replug. All methods are safe for concurrent use.
//
// Caveats: a pseudo-terminal has no baud rate, parity or modem lines, so line
// settings are accepted but not emulated; writes block when the driver stops
// reading and the terminal's buffer (4 KiB) is full.
package scannersim
