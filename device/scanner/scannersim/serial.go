package scannersim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"campusgate/device/scanner"
)

// ErrUnplugged is returned by writes while the emulated scanner is unplugged.
var ErrUnplugged = errors.New("scannersim: unplugged")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("scannersim: closed")

// Serial is an emulated serial scanner: a pseudo-terminal whose slave side is
// reachable through a stable symlink (dir/scanner0), the way udev gives a USB
// scanner a /dev/serial/by-id/ name. The real driver opens that path.
type Serial struct {
	link   string
	prefix scanner.Prefix
	suffix scanner.Suffix

	mu     sync.Mutex
	master *os.File
	slave  *os.File // held open so bytes written before the driver opens are buffered, as on a UART
	closed bool
}

// NewSerial creates the pseudo-terminal and the symlink dir/scanner0.
func NewSerial(dir string, p scanner.Prefix, s scanner.Suffix) (*Serial, error) {
	if len(p.Bytes()) == 0 && p != scanner.PrefixNone {
		return nil, fmt.Errorf("scannersim: invalid prefix %v", p)
	}
	if len(s.Bytes()) == 0 {
		return nil, fmt.Errorf("scannersim: invalid suffix %v", s)
	}
	v := &Serial{link: filepath.Join(dir, "scanner0"), prefix: p, suffix: s}
	if err := v.plug(); err != nil {
		return nil, err
	}
	return v, nil
}

// Path is the stable path the driver should open.
func (v *Serial) Path() string { return v.link }

func (v *Serial) plug() error {
	m, s, err := pty.Open()
	if err != nil {
		return fmt.Errorf("scannersim: open pty: %w", err)
	}
	// Raw mode before any byte is written: the line discipline translates input as it
	// arrives (ICRNL would turn the CR terminator into LF), not when it is read.
	if err := makeRaw(s); err != nil {
		m.Close()
		s.Close()
		return fmt.Errorf("scannersim: raw mode on %s: %w", s.Name(), err)
	}
	tmp := v.link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(s.Name(), tmp); err != nil {
		m.Close()
		s.Close()
		return fmt.Errorf("scannersim: symlink %s: %w", v.link, err)
	}
	if err := os.Rename(tmp, v.link); err != nil {
		_ = os.Remove(tmp)
		m.Close()
		s.Close()
		return fmt.Errorf("scannersim: symlink %s: %w", v.link, err)
	}
	v.master, v.slave = m, s
	return nil
}

func makeRaw(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ierr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		ierr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err != nil {
		return err
	}
	return ierr
}

// Scan sends code framed with the configured prefix and suffix, in one write as a
// scanner sends one burst.
func (v *Serial) Scan(code string) error {
	b := make([]byte, 0, len(code)+3)
	b = append(b, v.prefix.Bytes()...)
	b = append(b, code...)
	b = append(b, v.suffix.Bytes()...)
	return v.WriteRaw(b)
}

// WriteRaw sends bytes as they are: garbage, a code without terminator, invalid
// UTF-8, an over-long code, half a frame.
func (v *Serial) WriteRaw(p []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.closed:
		return ErrClosed
	case v.master == nil:
		return ErrUnplugged
	}
	if _, err := v.master.Write(p); err != nil {
		return fmt.Errorf("scannersim: write: %w", err)
	}
	return nil
}

// Garbage sends line noise with no terminator (a baud-rate mismatch looks like this).
func (v *Serial) Garbage(n int) error {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0x80 | (i*37)&0x7f)
	}
	return v.WriteRaw(b)
}

// Unplug removes the symlink and hangs up the pseudo-terminal, as a USB scanner
// pulled from its socket: the driver's read fails and reopening the path fails.
func (v *Serial) Unplug() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	return v.unplugLocked()
}

func (v *Serial) unplugLocked() error {
	if v.master == nil {
		return nil
	}
	rerr := os.Remove(v.link)
	if errors.Is(rerr, os.ErrNotExist) {
		rerr = nil
	}
	err := errors.Join(v.master.Close(), v.slave.Close(), rerr)
	v.master, v.slave = nil, nil
	if err != nil {
		return fmt.Errorf("scannersim: unplug: %w", err)
	}
	return nil
}

// Replug creates a new pseudo-terminal (as the kernel makes a new ttyACM) and
// points the symlink at it. It is a no-op if plugged in.
func (v *Serial) Replug() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if v.master != nil {
		return nil
	}
	return v.plug()
}

// Close unplugs for good.
func (v *Serial) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	return v.unplugLocked()
}
