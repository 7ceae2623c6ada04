package scanner_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"campusgate/device/scanner"
	"campusgate/device/scanner/scannersim"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOpts() scanner.Opts {
	o := scanner.DefaultOpts
	o.IdleGap = 60 * time.Millisecond
	o.ReopenMin = 5 * time.Millisecond
	o.ReopenMax = 30 * time.Millisecond
	o.Logger = quietLog()
	return o
}

func newSim(t testing.TB, p scanner.Prefix, s scanner.Suffix) *scannersim.Serial {
	t.Helper()
	v, err := scannersim.NewSerial(t.TempDir(), p, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func openDev(t testing.TB, path string, o scanner.Opts) *scanner.Dev {
	t.Helper()
	d, err := scanner.Open(path, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

type nexter interface {
	Next(ctx context.Context) (scanner.Code, error)
}

func next(t testing.TB, d nexter) (scanner.Code, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.Next(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("Next: timed out")
	}
	return c, err
}

func wantCode(t testing.TB, d nexter, want string) {
	t.Helper()
	c, err := next(t, d)
	if err != nil {
		t.Fatalf("Next: %v, want %q", err, want)
	}
	if c.Text != want {
		t.Fatalf("Next = %q, want %q", c.Text, want)
	}
}

func wantFrameErr(t testing.TB, d nexter, kind scanner.FrameErrorKind, sentinel error) {
	t.Helper()
	_, err := next(t, d)
	var fe *scanner.FrameError
	if !errors.As(err, &fe) {
		t.Fatalf("Next: %v, want *FrameError %v", err, kind)
	}
	if fe.Kind != kind || !errors.Is(err, sentinel) {
		t.Fatalf("Next: %v (kind %v), want kind %v", err, fe.Kind, kind)
	}
}
