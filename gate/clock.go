package gate

import (
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// buildFloor is a date this code cannot have been built before. A Pi has no
// real-time clock and boots at the last saved time or 1970; a wall clock earlier
// than this is certainly wrong (gokrazy's wait-for-clock idea).
var buildFloor = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// ClockSynced reports whether the kernel considers the wall clock synchronised
// (NTP or chrony cleared STA_UNSYNC, as timedatectl shows it) and the clock is
// not before the build floor. Entries record it, so the server knows which
// times it can trust.
func ClockSynced() bool {
	if time.Now().Before(buildFloor) {
		return false
	}
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
}

// Uptime is the time since boot, including suspend (CLOCK_BOOTTIME): a
// monotonic stamp that orders a box's entries even when its wall clock jumps.
func Uptime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// BootID is the kernel's id of this boot (random at each boot). With Uptime it
// names an instant on the box's own timeline, whatever its wall clock said.
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
