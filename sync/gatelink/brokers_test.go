package gatelink

import (
	"sync"
	"testing"

	"campusgate/sync/broker/mosquittotest"
	"campusgate/sync/wire"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// brokerEnv is a broker with a server on it that stores what a gate sends (by
// seq) and acks it.
type brokerEnv struct {
	addr, school string
	user, pass   string // the gate's account
	count        func() (distinct, total int)
}

// eachBroker runs f against the embedded broker with an inline server, then
// against a real mosquitto with deploy/mosquitto's configuration and the
// server as its own MQTT client (skipped where mosquitto is not installed,
// required under CI=true).
func eachBroker(t *testing.T, f func(*testing.T, brokerEnv)) {
	t.Run("embedded", func(t *testing.T) {
		b := startBroker(t, "127.0.0.1:0")
		srv := newFakeServer(t, b)
		f(t, brokerEnv{addr: b.addr, school: "hz-001", count: srv.count})
	})
	t.Run("mosquitto", func(t *testing.T) {
		const gatePW, serverPW = "north-gate-password-0123", "campusd-server-password-01"
		mq := mosquittotest.Start(t, mosquittotest.Opts{School: "hz",
			Users: map[string]string{"north-1": gatePW, "campusd@hz": serverPW}})
		var mu sync.Mutex
		seen := map[uint64]int{}
		c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + mq.Addr).SetClientID("campusd@hz").
			SetUsername("campusd@hz").SetPassword(serverPW).SetProtocolVersion(4).SetOrderMatters(false))
		if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(0) })
		tok := c.Subscribe(wire.Root+"/hz/+/"+string(wire.KindEntry), 1, func(c paho.Client, m paho.Message) {
			tp, err := wire.ParseTopic(m.Topic())
			if err != nil {
				t.Errorf("topic %q: %v", m.Topic(), err)
				return
			}
			b, err := wire.DecodeEntryBatch(m.Payload(), tp.Gate)
			if err != nil {
				t.Errorf("entry batch: %v", err)
				return
			}
			mu.Lock()
			for _, e := range b.Entries {
				seen[e.Seq]++
			}
			mu.Unlock()
			c.Publish(wire.GateTopic(tp.School, tp.Gate, wire.KindAck), 0, false, wire.Encode(wire.Ack{V: 1, Epoch: b.Epoch, Ranges: b.Seqs}))
		})
		if tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		f(t, brokerEnv{addr: mq.Addr, school: "hz", user: "north-1", pass: gatePW, count: func() (d, n int) {
			mu.Lock()
			defer mu.Unlock()
			for _, k := range seen {
				d++
				n += k
			}
			return
		}})
	})
}
