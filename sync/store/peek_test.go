//go:build unix

package store

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// TestSentWhileIdle: the peek sees a message or a close waiting on a quiet
// connection, without taking the message, and sees nothing on one that is
// quiet; through TLS too, whose socket it looks at.
func TestSentWhileIdle(t *testing.T) {
	pair := func(t *testing.T) (client, server net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		client, err = net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server = <-accepted
		t.Cleanup(func() { client.Close(); server.Close() })
		return client, server
	}
	eventually := func(t *testing.T, c net.Conn, want bool) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); sentWhileIdle(c) != want; time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("sentWhileIdle stays %v", !want)
			}
		}
	}

	t.Run("quiet", func(t *testing.T) {
		c, _ := pair(t)
		for range 3 {
			if sentWhileIdle(c) {
				t.Fatal("a quiet connection looks sent to")
			}
		}
	})
	t.Run("message", func(t *testing.T) {
		c, s := pair(t)
		s.Write([]byte("E"))
		eventually(t, c, true)
		if !sentWhileIdle(c) {
			t.Fatal("a second look does not see it")
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 'E' {
			t.Fatalf("the message was taken by the look: %q, %v", b, err)
		}
		if sentWhileIdle(c) {
			t.Fatal("read, and still looks sent to")
		}
	})
	t.Run("a read parked", func(t *testing.T) {
		// pgx can leave a background read waiting on an idle connection.
		c, s := pair(t)
		parked := make(chan struct{})
		go func() {
			close(parked)
			c.Read(make([]byte, 1))
		}()
		<-parked
		time.Sleep(10 * time.Millisecond)
		looked := make(chan bool, 1)
		go func() { looked <- sentWhileIdle(c) }()
		select {
		case <-looked:
		case <-time.After(2 * time.Second):
			s.Write([]byte("E")) // let the test end
			t.Fatal("the look waits behind the parked read")
		}
	})
	t.Run("closed", func(t *testing.T) {
		c, s := pair(t)
		s.Close()
		eventually(t, c, true)
	})
	t.Run("tls", func(t *testing.T) {
		c, s := pair(t)
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		if sentWhileIdle(tc) {
			t.Fatal("a quiet TLS connection looks sent to")
		}
		s.Close()
		eventually(t, tc, true)
	})
}
