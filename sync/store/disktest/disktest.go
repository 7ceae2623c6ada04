// Package disktest makes a small disk for a test to fill: a tmpfs mounted
// on a directory, and a file that takes all its space. Mounting needs root:
// without it the test is skipped.
package disktest

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of size (its mount option: "1m", "16m") on dir, and
// unmounts it at t's end (after what t registers later, such as a process
// or a tablespace on it).
func Tmpfs(t testing.TB, dir, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
}

// Fill writes a file in dir until its disk is full (ENOSPC), and returns
// what frees the space again.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	// A name of its own: a disk can be filled again after it freed space
	// (a restart), and each filler is freed.
	f, err := os.CreateTemp(dir, "filler-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	filler := f.Name()
	for buf := make([]byte, 64<<10); ; {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	return func() {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	}
}
