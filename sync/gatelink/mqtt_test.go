package gatelink

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

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
