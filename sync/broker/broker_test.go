package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"campusgate/sync/wire"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"
)

var quiet = slog.New(slog.DiscardHandler)

const (
	gatePass   = "north-gate-password-0123"
	south      = "south-gate-password-0123"
	serverPass = "campusd-server-password-01"
	distPass   = "district-password-012345"
)

func testAccounts(t testing.TB) *Accounts {
	t.Helper()
	a := &Accounts{Cost: bcrypt.MinCost} // the race detector makes the default cost take seconds
	for _, u := range []struct {
		user, pass string
		acc        Account
	}{
		{"north-1", gatePass, Account{Role: RoleGate, School: "hz", Gate: "north-1"}},
		{"south-1", south, Account{Role: RoleGate, School: "hz", Gate: "south-1"}},
		{"campusd@hz", serverPass, Account{Role: RoleServer}},
		{"district@hz", distPass, Account{Role: RoleDistrict}},
	} {
		if err := a.Add(u.user, u.pass, u.acc); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// target is a broker under test: the embedded one or a mosquitto.
type target struct{ addr string }

func startEmbedded(t testing.TB) target {
	t.Helper()
	b, err := Start(context.Background(), Opts{Listen: "127.0.0.1:0", Auth: testAccounts(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return target{addr: b.Addr()}
}

type client struct {
	c    paho.Client
	conn net.Conn
	mu   sync.Mutex
	got  map[string][][]byte
}

func (tg target) connect(user, pass, id string, will string) (*client, error) {
	cl := &client{got: map[string][][]byte{}}
	o := paho.NewClientOptions().AddBroker("tcp://" + tg.addr).SetClientID(id).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetCleanSession(true).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.Dial("tcp", u.Host)
			cl.conn = c
			return c, err
		})
	if will != "" {
		o.SetWill(will, string(wire.Encode(wire.Status{V: 1, State: "offline", At: time.Now()})), 1, true)
	}
	cl.c = paho.NewClient(o)
	tok := cl.c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect %s: %v", user, tok.Error())
	}
	return cl, nil
}

func (c *client) sub(t testing.TB, filter string) bool {
	t.Helper()
	tok := c.c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		c.mu.Lock()
		c.got[m.Topic()] = append(c.got[m.Topic()], m.Payload())
		c.mu.Unlock()
	})
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatalf("subscribe %s: no SUBACK", filter)
	}
	if tok.Error() != nil {
		return false
	}
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		if code == 0x80 {
			return false
		}
	}
	return true
}

func (c *client) pub(topic, payload string) {
	tok := c.c.Publish(topic, 1, false, payload)
	tok.WaitTimeout(5 * time.Second)
}

func (c *client) count(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got[topic])
}

func (c *client) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.got {
		n += len(v)
	}
	return n
}

func eventually(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkACL runs the access rules against a broker; the embedded broker and
// mosquitto with deploy/mosquitto's files must both pass.
func checkACL(t *testing.T, tg target) {
	if _, err := tg.connect("north-1", "wrong-password-000000", "north-1", ""); err == nil {
		t.Error("wrong password accepted")
	}
	srv, err := tg.connect("campusd@hz", serverPass, "campusd@hz", "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.c.Disconnect(0)
	if !srv.sub(t, wire.SharedFilter("campusd", wire.KindEntry)) || !srv.sub(t, wire.Root+"/+/+/status") {
		t.Fatal("server subscriptions refused")
	}
	north, err := tg.connect("north-1", gatePass, "north-1", wire.GateTopic("hz", "north-1", wire.KindStatus))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { north.c.Disconnect(0) }()
	// Its own entries arrive; entries under another gate's id do not. (mochi
	// disconnects a gate whose QoS 1 publish is refused, mosquitto drops the
	// message: either way nothing is delivered; reconnect after each.)
	north.pub(wire.GateTopic("hz", "north-1", wire.KindEntry), `{"v":1}`)
	eventually(t, "own entry delivered", func() bool { return srv.count(wire.GateTopic("hz", "north-1", wire.KindEntry)) == 1 })
	for _, forged := range []string{wire.GateTopic("hz", "south-1", wire.KindEntry), wire.GateTopic("hz", "north-1", wire.KindAck)} {
		north.c.Publish(forged, 1, false, `{"forged":true}`).WaitTimeout(time.Second)
		north.c.Disconnect(0)
		if north, err = tg.connect("north-1", gatePass, "north-1", wire.GateTopic("hz", "north-1", wire.KindStatus)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := srv.count(wire.GateTopic("hz", "south-1", wire.KindEntry)); n != 0 {
		t.Errorf("a gate published as another gate: %d messages", n)
	}
	// Subscriptions: own downlink yes, another gate's no, wildcards no.
	if !north.sub(t, wire.GateTopic("hz", "north-1", wire.KindAck)) {
		t.Error("gate could not subscribe to its own acks")
	}
	// A refused subscription gets the failure code (embedded broker) or is
	// granted but never delivers (mosquitto 2 with MQTT 3.1.1): probe by
	// publishing as the server on a topic the filter would match.
	denied := func(c *client, filter, probe string) {
		t.Helper()
		c.sub(t, filter)
		srv.pub(probe, `{"probe":true}`)
		time.Sleep(150 * time.Millisecond)
		if n := c.count(probe); n != 0 {
			t.Errorf("subscribed to %s, received %d messages on %s", filter, n, probe)
		}
	}
	for f, probe := range map[string]string{
		wire.GateTopic("hz", "south-1", wire.KindCmd):   wire.GateTopic("hz", "south-1", wire.KindCmd),
		wire.Root + "/hz/+/ack":                         wire.GateTopic("hz", "south-1", wire.KindAck),
		wire.Root + "/#":                                wire.GateTopic("hz", "south-1", wire.KindRoster),
		wire.GateTopic("hz", "north-1", wire.KindEntry): wire.GateTopic("hz", "north-1", wire.KindEntry),
	} {
		denied(north, f, probe)
	}
	// And what a gate may read, it receives.
	srv.pub(wire.GateTopic("hz", "north-1", wire.KindAck), `{"v":1}`)
	// (≥ 1: paho hands a message to every matching route, and the probes added some)
	eventually(t, "own ack delivered", func() bool { return north.count(wire.GateTopic("hz", "north-1", wire.KindAck)) >= 1 })
	// The district reads reports only.
	dist, err := tg.connect("district@hz", distPass, "district@hz", "")
	if err != nil {
		t.Fatal(err)
	}
	defer dist.c.Disconnect(0)
	if !dist.sub(t, wire.Root+"/+/report/daily") {
		t.Error("district could not subscribe to the reports")
	}
	denied(dist, wire.Root+"/+/+/entry", wire.GateTopic("hz", "north-1", wire.KindEntry))
	srv.pub(wire.ReportTopic("hz"), `{"v":1}`)
	eventually(t, "report delivered to the district", func() bool { return dist.count(wire.ReportTopic("hz")) == 1 })
	// Last Will: the gate's connection dies without DISCONNECT.
	north.conn.Close()
	eventually(t, "offline status from the will", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for _, p := range srv.got[wire.GateTopic("hz", "north-1", wire.KindStatus)] {
			if s, err := wire.DecodeStatus(p); err == nil && s.State == "offline" {
				return true
			}
		}
		return false
	})
}

func TestEmbeddedACL(t *testing.T) {
	tg := startEmbedded(t)
	checkACL(t, tg)
	if _, err := tg.connect("north-1", gatePass, "someone-else", ""); err == nil {
		t.Error("gate connected under another client id")
	}
	if _, err := tg.connect("north-1", gatePass, "north-1", wire.GateTopic("hz", "south-1", wire.KindStatus)); err == nil {
		t.Error("gate connected with a will on another gate's status")
	}
}

func TestSharedSubscriptionSplitsTheLoad(t *testing.T) {
	tg := startEmbedded(t)
	var servers []*client
	for i := range 2 {
		s, err := tg.connect("campusd@hz", serverPass, fmt.Sprint("campusd-", i), "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.c.Disconnect(0)
		if !s.sub(t, wire.SharedFilter("campusd", wire.KindEntry)) {
			t.Fatal("shared subscription refused")
		}
		servers = append(servers, s)
	}
	north, err := tg.connect("north-1", gatePass, "north-1", "")
	if err != nil {
		t.Fatal(err)
	}
	defer north.c.Disconnect(0)
	const n = 40
	for i := range n {
		north.pub(wire.GateTopic("hz", "north-1", wire.KindEntry), fmt.Sprint(i))
	}
	eventually(t, "all delivered once", func() bool { return servers[0].total()+servers[1].total() == n })
	time.Sleep(100 * time.Millisecond)
	if a, b := servers[0].total(), servers[1].total(); a+b != n || a == 0 || b == 0 {
		t.Fatalf("split %d + %d, want %d in all, shared", a, b, n)
	}
}

func TestAccountsFileAndCache(t *testing.T) {
	a := testAccounts(t)
	path := filepath.Join(t.TempDir(), "accounts.json")
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	b := &Accounts{Cost: bcrypt.MinCost}
	if err := b.Load(path); err != nil {
		t.Fatal(err)
	}
	if acc, ok := b.Authenticate("north-1", gatePass); !ok || acc.Gate != "north-1" {
		t.Fatalf("loaded account: %+v %v", acc, ok)
	}
	start := time.Now()
	for range 200 { // a reconnect storm: bcrypt once
		if _, ok := b.Authenticate("north-1", gatePass); !ok {
			t.Fatal("cached login refused")
		}
	}
	t.Logf("200 repeated logins in %v", time.Since(start))
	if err := b.Add("north-1", "a-new-password-for-north", Account{Role: RoleGate, School: "hz", Gate: "north-1"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Authenticate("north-1", gatePass); ok {
		t.Fatal("old password still accepted from the cache")
	}
	for _, bad := range []struct {
		user string
		acc  Account
	}{
		{"north-1", Account{Role: RoleGate, School: "hz", Gate: "south-1"}},
		{"report", Account{Role: RoleGate, School: "hz", Gate: "report"}},
		{"x", Account{Role: "admin"}},
	} {
		if err := b.Add(bad.user, "long-enough-password-1", bad.acc); err == nil {
			t.Errorf("account %+v accepted", bad)
		}
	}
	if err := b.Add("ok-user", "short", Account{Role: RoleServer}); err == nil {
		t.Error("short password accepted")
	}
}
