package suback

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestRefused(t *testing.T) {
	for _, c := range []struct {
		codes map[string]byte
		want  string
	}{
		{map[string]byte{"a": 0, "b": 1, "c": 2}, ""},
		{map[string]byte{"a": 1, "b": 0x80}, "subscribe b: refused by the broker (0x80)"},
		{map[string]byte{"a": 0x91}, "subscribe a: the broker has the packet id in use (0x91)"},
		{map[string]byte{"a": 0x87}, "subscribe a: refused by the broker (0x87)"},
	} {
		err := Refused(c.codes)
		if got := fmt.Sprint(err); (c.want == "" && err != nil) || (c.want != "" && !strings.Contains(got, c.want)) {
			t.Errorf("%v: %v, want %q", c.codes, err, c.want)
		}
	}
	if err := Refused(map[string]byte{"a": 0x91}); !errors.Is(err, ErrIDInUse) {
		t.Errorf("0x91: %v, want ErrIDInUse (asked for again)", err)
	}
}

// codes records the broker's answer to every SUBSCRIBE.
type codes struct {
	mochi.HookBase
	mu  sync.Mutex
	got [][]byte
}

func (h *codes) ID() string           { return "codes" }
func (h *codes) Provides(b byte) bool { return b == mochi.OnSubscribed }
func (h *codes) OnSubscribed(_ *mochi.Client, _ packets.Packet, c []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, slices.Clone(c))
}

// TestSubscribeWhileMochiResends: a client back on its persistent session,
// with messages queued for it, has its SUBSCRIBE refused by mochi with 0x91;
// Subscribe asks again until it is granted, and the retained message then
// comes.
func TestSubscribeWhileMochiResends(t *testing.T) {
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	answers := &codes{}
	for _, h := range []mochi.Hook{new(auth.AllowHook), answers} {
		if err := srv.AddHook(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	defer srv.Close()

	const topic = "campusgate/v1/hz/north-1/config"
	filters := map[string]byte{topic: 1}
	var mu sync.Mutex
	var retained int
	connect := func() mqtt.Client {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + l.Address()).SetClientID("north-1").
			SetCleanSession(false).SetProtocolVersion(4).SetAutoReconnect(false).
			SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
				if m.Retained() {
					mu.Lock()
					retained++
					mu.Unlock()
				}
			}))
		if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		return c
	}
	c := connect()
	if err := Subscribe(c, filters).Wait(nil); err != nil {
		t.Fatal(err)
	}
	c.Disconnect(0)
	for i := range 5 { // queued for the session, the newest retained
		if err := srv.Publish(topic, []byte(fmt.Sprint(i)), i == 4, 1); err != nil {
			t.Fatal(err)
		}
	}
	c = connect()
	defer c.Disconnect(0)
	if err := Subscribe(c, filters).Wait(nil); err != nil {
		t.Fatalf("subscribing again: %v", err)
	}
	answers.mu.Lock()
	got := slices.Clone(answers.got)
	answers.mu.Unlock()
	if len(got) < 3 || got[1][0] != 0x91 || got[len(got)-1][0] != 1 {
		t.Fatalf("the broker answered %v: want granted, then 0x91 (the case asked again), then granted", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := retained
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the retained message did not come after the subscription was granted")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
