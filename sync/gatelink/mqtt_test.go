package gatelink

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// scriptedConn is a Conn whose publishes never finish, but for the one
// numbered fail, which fails at once, and those after it, which succeed.
type scriptedConn struct {
	mu   sync.Mutex
	n    int
	fail int
	lost chan struct{}
}

type scriptedToken struct {
	done chan struct{}
	err  error
}

func (t *scriptedToken) Done() <-chan struct{} { return t.done }
func (t *scriptedToken) Error() error          { return t.err }

func (c *scriptedConn) Publish(string, byte, bool, []byte) Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	t := &scriptedToken{done: make(chan struct{})}
	if c.n == c.fail {
		t.err = errors.New("publish was broken by timeout")
	}
	if c.n >= c.fail {
		close(t.done)
	}
	return t
}

func (c *scriptedConn) Subscribe(map[string]byte) <-chan error {
	ok := make(chan error, 1)
	ok <- nil
	return ok
}

func (c *scriptedConn) Lost() <-chan struct{} { return c.lost }
func (c *scriptedConn) Close()                {}

// TestFailedPublishBehindAStuckOne: a publish that fails while an older
// one still waits for the broker ends the session, which connects again.
func TestFailedPublishBehindAStuckOne(t *testing.T) {
	j := openJournal(t)
	dials := make(chan struct{}, 10)
	dial := func(context.Context, Will, func(string, []byte)) (Conn, error) {
		dials <- struct{}{}
		// The online status first, then the telemetry: the second fails.
		return &scriptedConn{fail: 2, lost: make(chan struct{})}, nil
	}
	l, err := New(Opts{School: "hz-001", Gate: "north-1", Dial: dial, Store: j, Logger: quiet,
		AckTimeout: 200 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runLink(t, l)
	for i := range 2 {
		select {
		case <-dials:
		case <-time.After(5 * time.Second):
			t.Fatalf("dial %d never came: the failed publish did not end the session", i+1)
		}
	}
}
