package bintest

import (
	"testing"

	"campusgate/sync/store/disktest"

	"golang.org/x/sys/unix"
)

// FullDisk is a directory whose disk a test takes away from a running
// process and gives back, with the process's pid.
type FullDisk struct {
	Dir        string
	Fill, Free func(pid int)
	// ENOSPC: writes fail as on a really full disk (the tmpfs), not with
	// EFBIG (the rlimit).
	ENOSPC bool
}

// FullDisks runs f as two subtests, one for each way to fill a disk:
//
//   - rlimit: the process's RLIMIT_FSIZE set to 0 (prlimit), so every write
//     past a file's end fails with EFBIG. It needs no privileges, and SIGXFSZ,
//     which would kill a C program, is one the Go runtime ignores.
//   - tmpfs: a tmpfs of size (its mount option, "4m") filled by another file,
//     ENOSPC as on a real full disk. Mounting it needs root: it skips without.
func FullDisks(t *testing.T, size string, f func(t *testing.T, d FullDisk)) {
	t.Run("rlimit", func(t *testing.T) {
		set := func(pid int, cur uint64) {
			if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: cur, Max: unix.RLIM_INFINITY}, nil); err != nil {
				t.Fatalf("prlimit: %v", err)
			}
		}
		f(t, FullDisk{Dir: t.TempDir(), Fill: func(pid int) { set(pid, 0) }, Free: func(pid int) { set(pid, unix.RLIM_INFINITY) }})
	})
	t.Run("tmpfs", func(t *testing.T) {
		dir := t.TempDir()
		disktest.Tmpfs(t, dir, size) // unmounted after f has stopped the process
		var frees []func()
		f(t, FullDisk{Dir: dir, ENOSPC: true, Fill: func(int) { frees = append(frees, disktest.Fill(t, dir)) }, Free: func(int) {
			for _, free := range frees {
				free()
			}
			frees = nil
		}})
	})
}
