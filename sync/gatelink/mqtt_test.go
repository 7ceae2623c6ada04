package gatelink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

type fakeMessage struct {
	topic   string
	payload []byte
}

func (m fakeMessage) Duplicate() bool   { return false }
func (m fakeMessage) Qos() byte         { return 1 }
func (m fakeMessage) Retained() bool    { return false }
func (m fakeMessage) Topic() string     { return m.topic }
func (m fakeMessage) MessageID() uint16 { return 0 }
func (m fakeMessage) Payload() []byte   { return m.payload }
func (m fakeMessage) Ack()              {}

var _ mqtt.Message = fakeMessage{}

// TestEarlyMessagesKeptInOrder: what paho delivers before the link has
// subscribed reaches the link's handler first and in order, up to maxEarly;
// more is dropped and said so, never silently.
func TestEarlyMessagesKeptInOrder(t *testing.T) {
	var logs bytes.Buffer
	p := &pahoConn{lost: make(chan struct{}), log: slog.New(slog.NewTextHandler(&logs, nil))}
	for i := range maxEarly + 5 {
		p.deliver(nil, fakeMessage{topic: "t", payload: fmt.Appendf(nil, "%d", i)})
	}
	var got []string
	p.take(func(_ string, payload []byte) { got = append(got, string(payload)) })
	p.deliver(nil, fakeMessage{topic: "t", payload: []byte("after")})
	if len(got) != maxEarly+1 {
		t.Fatalf("handled %d messages, want %d", len(got), maxEarly+1)
	}
	for i, s := range got[:maxEarly] {
		if s != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: out of order", i, s)
		}
	}
	if got[maxEarly] != "after" {
		t.Fatalf("the message after Subscribe came as %q", got[maxEarly])
	}
	if !strings.Contains(logs.String(), "dropped=5") {
		t.Fatalf("the 5 dropped were not told:\n%s", logs.String())
	}
}

// scriptedConn is a Conn whose publishes never finish, but for the one
// numbered fail, which fails at once.
type scriptedConn struct {
	mu    sync.Mutex
	n     int
	fail  int
	lost  chan struct{}
	close func()
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
		close(t.done)
	}
	return t
}

func (c *scriptedConn) Subscribe(map[string]byte, func(string, []byte)) <-chan error {
	ok := make(chan error, 1)
	ok <- nil
	return ok
}

func (c *scriptedConn) Lost() <-chan struct{} { return c.lost }
func (c *scriptedConn) Close()                { c.close() }

// TestFailedPublishBehindAStuckOne: a publish that fails while an older
// one still waits for the broker ends the session, which connects again.
func TestFailedPublishBehindAStuckOne(t *testing.T) {
	j := openJournal(t)
	dials := make(chan struct{}, 10)
	dial := func(context.Context, Will) (Conn, error) {
		dials <- struct{}{}
		// The online status first, then the telemetry: the second fails.
		return &scriptedConn{fail: 2, lost: make(chan struct{}), close: func() {}}, nil
	}
	l, err := New(Opts{School: "hz-001", Gate: "north-1", Dial: dial, Store: j, Logger: quiet,
		AckTimeout: 200 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i := range 2 {
		select {
		case <-dials:
		case <-time.After(5 * time.Second):
			t.Fatalf("dial %d never came: the failed publish did not end the session", i+1)
		}
	}
}
