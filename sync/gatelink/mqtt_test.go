package gatelink

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
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

// readOrder records the types of the packets the broker reads from clients.
type readOrder struct {
	mochi.HookBase
	mu    sync.Mutex
	types []byte
}

func (h *readOrder) ID() string           { return "read-order" }
func (h *readOrder) Provides(b byte) bool { return b == mochi.OnPacketRead }
func (h *readOrder) OnPacketRead(_ *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.types = append(h.types, pk.FixedHeader.Type)
	return pk, nil
}

// TestSubscribeSentFirst: Subscribe has sent the SUBSCRIBE when it returns,
// so what is published next reaches the broker after it, and the server's
// answers (the acks of a gate's first batches) are not dropped for want of
// the subscription. Sent from the goroutine that waits for the SUBACK, it
// went out behind a drain's first batches: BenchmarkDrain through mosquitto
// took 600 ms instead of 15, its first acks lost and resent after the ack
// timeout.
func TestSubscribeSentFirst(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	order := &readOrder{}
	if err := b.srv.AddHook(order, nil); err != nil {
		t.Fatal(err)
	}
	dial, err := PahoDialer(PahoOpts{Broker: "tcp://" + b.addr, ClientID: "north-1"})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 { // a goroutine would lose the race only some of the time
		conn, err := dial(context.Background(), Will{}, func(string, []byte) {})
		if err != nil {
			t.Fatal(err)
		}
		order.mu.Lock()
		order.types = nil
		order.mu.Unlock()
		subscribed := conn.Subscribe(map[string]byte{"campusgate/v1/hz-001/north-1/ack": 0})
		tok := conn.Publish("campusgate/v1/hz-001/north-1/entry", 1, false, []byte("{}"))
		<-tok.Done()
		if err := <-subscribed; err != nil {
			t.Fatal(err)
		}
		order.mu.Lock()
		var got []byte
		for _, ty := range order.types {
			if ty == packets.Subscribe || ty == packets.Publish {
				got = append(got, ty)
			}
		}
		order.mu.Unlock()
		conn.Close()
		if len(got) != 2 || got[0] != packets.Subscribe {
			t.Fatalf("round %d: the broker read packets of types %v (8 SUBSCRIBE, 3 PUBLISH): the SUBSCRIBE must come first", round, got)
		}
	}
}
