// Package servicetest stands in for systemd's notify socket in tests.
package servicetest

import (
	"net"
	"path/filepath"
	"testing"
)

// Listen sets NOTIFY_SOCKET (and WATCHDOG_USEC to watchdogUsec, if not empty)
// for the test, as systemd does for a Type=notify unit, and returns what is
// sent to it, one message each.
func Listen(t testing.TB, watchdogUsec string) <-chan string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_PID", "")
	if watchdogUsec != "" {
		t.Setenv("WATCHDOG_USEC", watchdogUsec)
	}
	got := make(chan string, 256)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	return got
}
