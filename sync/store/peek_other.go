//go:build !unix

package store

import "net"

// sentWhileIdle cannot look without a Unix socket peek: pgx's ping after a
// second idle is all there is.
func sentWhileIdle(net.Conn) bool { return false }
