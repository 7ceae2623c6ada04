package service

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"campusgate/cmd/internal/service/servicetest"
)

// TestNotify: with a NOTIFY_SOCKET (as systemd gives a Type=notify service)
// the daemon says READY, pings the watchdog while its check passes, stops
// pinging when it fails, and says STOPPING.
func TestNotify(t *testing.T) {
	got := servicetest.Listen(t, "200000")
	log := slog.New(slog.DiscardHandler)
	Ready(log)
	if m := <-got; m != "READY=1" {
		t.Fatalf("got %q", m)
	}
	var healthy atomic.Bool
	healthy.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Watchdog(ctx, log, func(context.Context) error {
		if healthy.Load() {
			return nil
		}
		return errors.New("stuck")
	})
	if m := <-got; m != "WATCHDOG=1" {
		t.Fatalf("got %q", m)
	}
	healthy.Store(false)
	drain := time.After(300 * time.Millisecond)
	for done := false; !done; {
		select {
		case <-got:
		case <-drain:
			done = true
		}
	}
	select {
	case m := <-got:
		t.Fatalf("a ping while the check fails: %q", m)
	case <-time.After(400 * time.Millisecond):
	}
	Stopping()
	if m := <-got; !strings.HasPrefix(m, "STOPPING=1") {
		t.Fatalf("got %q", m)
	}
}
