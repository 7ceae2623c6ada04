package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"campusgate/device/board"
	"campusgate/device/scanner"
	"campusgate/device/scanner/scannersim"
)

// codeSource is what hw scan and the simulated gate need of either scanner kind.
type codeSource interface {
	Next(ctx context.Context) (scanner.Code, error)
	Close() error
}

func hwScan(ctx context.Context, e *env, args []string) error {
	fset := e.flags("hw scan")
	port := fset.String("port", "", "serial port of the scanner (/dev/ttyAMA0, /dev/ttyACM0, /dev/serial/by-id/...)")
	hid := fset.String("hid", "", "input device of a keyboard-wedge scanner (/dev/input/by-id/...-event-kbd)")
	baud := fset.Int("baud", scanner.DefaultOpts.Baud, "serial baud rate")
	suffix := fset.String("suffix", "cr", "frame terminator: cr, lf, crlf, etx")
	prefix := fset.String("prefix", "none", "frame start: none or stx")
	n := fset.Int("n", 0, "stop after this many frames (0: until Ctrl-C)")
	simulate := fset.Bool("simulate", false, "use an emulated scanner on a pseudo-terminal that scans a few sample codes")
	if err := parse(fset, args); err != nil {
		return err
	}
	opts := scanner.DefaultOpts
	opts.Baud = *baud
	opts.Logger = e.log
	var err error
	if opts.Suffix, err = scanner.ParseSuffix(*suffix); err != nil {
		fmt.Fprintf(e.errw, "gatectl hw scan: %v\n", err)
		return errUsage
	}
	if opts.Prefix, err = scanner.ParsePrefix(*prefix); err != nil {
		fmt.Fprintf(e.errw, "gatectl hw scan: %v\n", err)
		return errUsage
	}

	var src codeSource
	switch {
	case *simulate:
		dir, err := os.MkdirTemp("", "gatectl-scan")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		v, err := scannersim.NewSerial(dir, opts.Prefix, opts.Suffix)
		if err != nil {
			return fmt.Errorf("emulated scanner: %w", err)
		}
		defer v.Close()
		d, err := scanner.Open(v.Path(), &opts)
		if err != nil {
			return err
		}
		src = d
		go func() {
			for _, c := range []string{"CG1:PUPIL-20260001", "健康码:绿码 staff-0042", "VISITOR-7f3a"} {
				time.Sleep(100 * time.Millisecond)
				_ = v.Scan(c) // the demo ends on its own if the pty is gone
			}
			_ = v.WriteRaw([]byte{0xff, 0xfe, '\r'})
		}()
		if *n == 0 {
			*n = 4
		}
	case *port != "" && *hid != "":
		fmt.Fprintln(e.errw, "gatectl hw scan: give -port or -hid, not both")
		return errUsage
	case *port != "":
		d, err := scanner.Open(*port, &opts)
		if err != nil {
			return board.Explain(err)
		}
		src = d
	case *hid != "":
		ho := scanner.DefaultHIDOpts
		ho.Logger = e.log
		d, err := scanner.OpenHID(*hid, &ho)
		if err != nil {
			return board.Explain(err)
		}
		src = d
	default:
		fmt.Fprintln(e.errw, "gatectl hw scan: give -port PATH or -hid PATH (gatectl hw list shows them), or -simulate")
		return errUsage
	}
	defer src.Close()
	fmt.Fprintln(e.out, "waiting for scans; Ctrl-C to stop")
	for i := 0; *n == 0 || i < *n; i++ {
		c, err := src.Next(ctx)
		var fe *scanner.FrameError
		switch {
		case errors.As(err, &fe):
			fmt.Fprintf(e.out, "bad frame: %v\n", err)
			continue
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		}
		fmt.Fprintf(e.out, "%s  %q (%d bytes)\n", c.At.Format("15:04:05.000"), c.Text, len(c.Text))
	}
	return nil
}
