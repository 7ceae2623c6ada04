// Package service tells systemd how a daemon is doing (sd_notify, through
// github.com/coreos/go-systemd): ready once it serves, stopping on the way
// out, and a watchdog ping only while the daemon's own check passes, so a
// daemon that is alive but stuck is restarted. Outside systemd (no
// NOTIFY_SOCKET) every call does nothing.
package service

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Ready says the daemon serves.
func Ready(log *slog.Logger) {
	if ok, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("sd_notify READY failed", "err", err)
	} else if ok {
		log.Info("told systemd: ready")
	}
}

// Stopping says the daemon is shutting down.
func Stopping() { _, _ = daemon.SdNotify(false, daemon.SdNotifyStopping) }

// Watchdog pings systemd's watchdog at half its interval while check passes,
// until ctx ends. A failing check is logged once until it passes again, and
// no ping is sent: systemd then restarts the daemon (Restart=on-failure).
func Watchdog(ctx context.Context, log *slog.Logger, check func(context.Context) error) {
	every, err := daemon.SdWatchdogEnabled(false)
	if err != nil || every <= 0 {
		return
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	failing := false
	for {
		cctx, cancel := context.WithTimeout(ctx, every/4)
		err := check(cctx)
		cancel()
		switch {
		case err == nil:
			_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			if failing {
				log.Info("watchdog check passes again")
			}
			failing = false
		case !failing:
			log.Error("watchdog check failed: not telling systemd we are alive", "err", err)
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
