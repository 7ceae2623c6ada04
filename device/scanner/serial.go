package scanner

import (
	"context"
	"fmt"
	"time"

	"go.bug.st/serial"
)

// Dev is a QR/barcode scanner on a serial port (UART or USB CDC-ACM).
type Dev struct {
	path string
	opts Opts
	e    *engine
}

// Stale input is drained until the line has been quiet this long after open...
const flushQuiet = 30 * time.Millisecond

// ...but for no longer than this, so a scanner streaming junk cannot block Open.
const flushMax = 300 * time.Millisecond

// Open opens the scanner on the serial port at path. nil opts means DefaultOpts.
//
// Bytes already waiting in the port (a half-sent code from before the program
// started, power-up noise) are discarded, so the first code Next returns was
// scanned after Open. When the port goes away (USB unplug), the driver reopens the
// same path with backoff; use a stable path such as /dev/serial/by-id/... for that.
func Open(path string, opts *Opts) (*Dev, error) {
	if opts == nil {
		opts = &DefaultOpts
	}
	o := *opts
	if err := o.validate(); err != nil {
		return nil, err
	}
	lo, hi, _ := validateReopen(o.ReopenMin, o.ReopenMax)
	o.ReopenMin, o.ReopenMax = lo, hi
	fr, err := NewFramer(o.Prefix, o.Suffix, o.MaxLen, o.IdleGap)
	if err != nil {
		return nil, err
	}
	mode := &serial.Mode{BaudRate: o.Baud, DataBits: o.DataBits, Parity: o.Parity, StopBits: o.StopBits}
	open := func() (conn, error) {
		p, err := serial.Open(path, mode)
		if err != nil {
			return nil, fmt.Errorf("scanner: open %s: %w", path, err)
		}
		return &serialConn{p: p}, nil
	}
	c, err := open()
	if err != nil {
		return nil, err
	}
	sc := c.(*serialConn)
	if err := sc.flush(); err != nil {
		_ = sc.close()
		return nil, fmt.Errorf("scanner: flush %s: %w", path, err)
	}
	d := &Dev{path: path, opts: o}
	d.e = newEngine(path, c, open, fr, o.Logger, lo, hi)
	return d, nil
}

// Next blocks until the next code, a *FrameError (not fatal: call Next again),
// ctx is done, or the Dev is closed (ErrClosed). A port that went away is reopened
// in the background and Next keeps waiting.
func (d *Dev) Next(ctx context.Context) (Code, error) { return d.e.next(ctx) }

// Close stops the reader and closes the port. Next then returns ErrClosed.
func (d *Dev) Close() error { return d.e.shutdown() }

// Halt does nothing: a scanner has no output to stop. It exists for symmetry with other drivers.
func (d *Dev) Halt() error { return nil }

// Connected reports whether the port is currently open (false while reopening).
func (d *Dev) Connected() bool { return d.e.connected.Load() }

func (d *Dev) String() string {
	par := "N"
	switch d.opts.Parity {
	case serial.OddParity:
		par = "O"
	case serial.EvenParity:
		par = "E"
	case serial.MarkParity:
		par = "M"
	case serial.SpaceParity:
		par = "S"
	}
	stop := 1
	if d.opts.StopBits == serial.TwoStopBits {
		stop = 2
	}
	return fmt.Sprintf("scanner(%s %d %d%s%d prefix=%v suffix=%v)", d.path, d.opts.Baud, d.opts.DataBits, par, stop, d.opts.Prefix, d.opts.Suffix)
}

type serialConn struct {
	p       serial.Port
	timeout time.Duration
}

func (c *serialConn) setTimeout(t time.Duration) error {
	if t == c.timeout {
		return nil
	}
	if err := c.p.SetReadTimeout(t); err != nil {
		return err
	}
	c.timeout = t
	return nil
}

func (c *serialConn) read(p []byte, deadline time.Time) (int, error) {
	t := serial.NoTimeout
	if !deadline.IsZero() {
		// The port's timer has millisecond-ish resolution; round up so the Framer
		// sees the deadline passed and does not spin.
		t = max(time.Until(deadline)+time.Millisecond, time.Millisecond)
	}
	if err := c.setTimeout(t); err != nil {
		return 0, err
	}
	n, err := c.p.Read(p)
	if err != nil {
		return n, err
	}
	return n, nil
}

func (c *serialConn) close() error { return c.p.Close() }

// flush drops what the kernel buffered before Open and what trickles in right after
// (a USB CDC device can deliver its last packet a moment after TCFLSH).
func (c *serialConn) flush() error {
	if err := c.p.ResetInputBuffer(); err != nil {
		return err
	}
	// NoTimeout is the port's initial setting.
	c.timeout = serial.NoTimeout
	if err := c.setTimeout(flushQuiet); err != nil {
		return err
	}
	var buf [256]byte
	for start := time.Now(); time.Since(start) < flushMax; {
		n, err := c.p.Read(buf[:])
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
	return nil
}
