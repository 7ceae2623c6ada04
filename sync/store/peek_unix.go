//go:build unix

package store

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sentWhileIdle tells whether bytes, or the end of the stream, wait unread on
// c: a peek that neither blocks nor consumes, one system call, where a ping
// would be a round trip to the server. A connection it cannot look into
// counts as quiet.
func sentWhileIdle(c net.Conn) bool {
	if u, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS: look at the socket under it
		c = u.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	waiting := false
	var b [1]byte
	// Control, not Read: Read would queue behind a read pgx may have left
	// parked on the connection (its background reader), for as long as
	// the server sends nothing. MSG_DONTWAIT needs no poller.
	err = rc.Control(func(fd uintptr) {
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		// n > 0: a message; n == 0 and no error: the server closed; an
		// error other than "nothing yet": the connection is broken.
		waiting = n > 0 || (n == 0 && err == nil) || (err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR))
	})
	return waiting || err != nil
}
