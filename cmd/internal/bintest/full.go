package bintest

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

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
		if os.Geteuid() != 0 {
			t.Skip("mounting a tmpfs needs root")
		}
		dir := t.TempDir()
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
			t.Skipf("mount tmpfs: %v", err)
		}
		// Registered before f starts the process, so it runs after f has stopped it.
		t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
		filler := filepath.Join(dir, "filler")
		f(t, FullDisk{Dir: dir, ENOSPC: true, Fill: func(int) {
			fl, err := os.Create(filler)
			if err != nil {
				t.Fatal(err)
			}
			defer fl.Close()
			buf := make([]byte, 64<<10)
			for {
				if _, err := fl.Write(buf); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("filling the tmpfs: %v", err)
					}
					return
				}
			}
		}, Free: func(int) {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		}})
	})
}
