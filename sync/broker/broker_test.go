package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/sync/internal/logtest"
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
	westPass   = "west-gate-password-01234"
)

// testUsers are the accounts every broker under test has: two gates of
// school hz, one of school sz, two campusd instances and the district.
var testUsers = []struct {
	user, pass string
	acc        Account
}{
	{"north-1", gatePass, Account{Role: RoleGate, School: "hz", Gate: "north-1"}},
	{"south-1", south, Account{Role: RoleGate, School: "hz", Gate: "south-1"}},
	{"west-1", westPass, Account{Role: RoleGate, School: "sz", Gate: "west-1"}},
	{"campusd@hz", serverPass, Account{Role: RoleServer}},
	{"campusd-2@hz", serverPass, Account{Role: RoleServer}},
	{"district@hz", distPass, Account{Role: RoleDistrict}},
}

func testAccounts(t testing.TB) *Accounts {
	t.Helper()
	a := &Accounts{Cost: bcrypt.MinCost} // the race detector makes the default cost take a second
	for _, u := range testUsers {
		if err := a.Add(u.user, u.pass, u.acc); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// target is a broker under test: the embedded one or a mosquitto.
type target struct {
	addr string
	tls  *tls.Config // client side, nil for plain TCP
	b    *Broker     // the embedded broker, nil for mosquitto
}

func startEmbedded(t testing.TB) (*Broker, target) {
	t.Helper()
	b, err := Start(context.Background(), Opts{Listen: "127.0.0.1:0", Auth: testAccounts(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, target{addr: b.Addr(), b: b}
}

// settle waits until the embedded broker has finished with a closed
// clean-session connection. mochi v2.7.9 tears such a connection down by
// client id (its subscriptions, then its registry entry), so the teardown
// can remove the subscriptions of a new connection that took the same id in
// the meantime. Gates use persistent sessions, which are not torn down.
func (tg target) settle(id string) {
	if tg.b == nil || id == "" {
		return
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		cl, ok := tg.b.srv.Clients.Get(id)
		if !ok || cl.Closed() && !cl.Properties.Clean {
			return
		}
	}
}

// dial says how a test client connects.
type dial struct {
	user, pass, id string
	will           string // topic of a retained QoS 1 "offline" Last Will
	persistent     bool   // clean session off
	cert           *tls.Certificate
}

type msg struct {
	payload  string
	retained bool
}

type client struct {
	c      paho.Client
	id     string
	settle func(id string)
	mu     sync.Mutex
	conn   net.Conn
	got    map[string][]msg
}

func (tg target) connect(d dial) (*client, error) {
	cl := &client{got: map[string][]msg{}, id: d.id, settle: tg.settle}
	scheme := "tcp://"
	if tg.tls != nil {
		scheme = "ssl://"
	}
	o := paho.NewClientOptions().AddBroker(scheme + tg.addr).SetClientID(d.id).SetUsername(d.user).SetPassword(d.pass).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetCleanSession(!d.persistent).
		SetProtocolVersion(4).               // MQTT 3.1.1 only: paho would retry a refused login as MQTT 3.1
		SetDefaultPublishHandler(cl.record). // messages of a resumed session, which this paho client never subscribed to
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			var c net.Conn
			var err error
			if tg.tls != nil {
				cfg := tg.tls.Clone()
				if d.cert != nil {
					cfg.Certificates = []tls.Certificate{*d.cert}
				}
				c, err = tls.Dial("tcp", u.Host, cfg)
			} else {
				c, err = net.Dial("tcp", u.Host)
			}
			cl.mu.Lock()
			cl.conn = c
			cl.mu.Unlock()
			return c, err
		})
	if d.will != "" {
		o.SetWill(d.will, string(wire.Encode(wire.Status{V: 1, State: "offline", At: time.Now()})), 1, true)
	}
	cl.c = paho.NewClient(o)
	tok := cl.c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return nil, fmt.Errorf("connect %s as %s: timeout", d.user, d.id)
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("connect %s as %s: %w", d.user, d.id, err)
	}
	return cl, nil
}

func (tg target) mustConnect(t testing.TB, d dial) *client {
	t.Helper()
	c, err := tg.connect(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

func (c *client) record(_ paho.Client, m paho.Message) {
	c.mu.Lock()
	c.got[m.Topic()] = append(c.got[m.Topic()], msg{string(m.Payload()), m.Retained()})
	c.mu.Unlock()
}

func (c *client) close() {
	c.c.Disconnect(0)
	if c.settle != nil {
		c.settle(c.id)
	}
}

// kill closes the TCP connection without DISCONNECT, as a dead Wi-Fi would.
func (c *client) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn.Close()
}

// sub subscribes at QoS 1 and reports whether the broker granted it.
func (c *client) sub(t testing.TB, filter string) bool {
	t.Helper()
	tok := c.c.Subscribe(filter, 1, c.record)
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

func (c *client) mustSub(t testing.TB, filter string) {
	t.Helper()
	if !c.sub(t, filter) {
		t.Fatalf("subscription to %s refused", filter)
	}
}

// pub publishes at QoS 1 and waits for the PUBACK.
func (c *client) pub(t testing.TB, topic, payload string, retained bool) {
	t.Helper()
	tok := c.c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: no PUBACK (%v)", topic, tok.Error())
	}
}

func (c *client) msgs(topic string) []msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]msg(nil), c.got[topic]...)
}

func (c *client) has(topic, payload string) bool {
	for _, m := range c.msgs(topic) {
		if m.payload == payload {
			return true
		}
	}
	return false
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
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fence waits until c has received payload on topic. Brokers keep one
// publisher's QoS 1 messages to one subscriber in order, so whatever the
// publisher sent before the fence and c has not received by then, c will
// never receive: tests of refusals need no sleeps.
func fence(t testing.TB, c *client, topic, payload string) {
	t.Helper()
	eventually(t, "fence "+payload+" on "+topic, func() bool { return c.has(topic, payload) })
}

func gt(gate string, k wire.Kind) string { return wire.GateTopic("hz", gate, k) }

// checkACL runs the access rules against a broker. The embedded broker and
// mosquitto with deploy/mosquitto's files must both pass; so the assertions
// look at what is delivered, not at how a refusal is signalled.
func checkACL(t *testing.T, tg target) {
	north := dial{user: "north-1", pass: gatePass, id: "north-1"}
	srvDial := dial{user: "campusd@hz", pass: serverPass, id: "campusd@hz"}

	t.Run("wrong password and unknown user refused", func(t *testing.T) {
		for _, d := range []dial{
			{user: "north-1", pass: "wrong-password-000000", id: "north-1"},
			{user: "north-1", pass: "", id: "north-1"},
			{user: "nobody", pass: gatePass, id: "nobody"},
			{user: "", pass: "", id: "anonymous"},
		} {
			if c, err := tg.connect(d); err == nil {
				c.close()
				t.Errorf("connected as %q with password %q", d.user, d.pass)
			}
		}
	})

	t.Run("gate publishes only its own uplink", func(t *testing.T) {
		srv := tg.mustConnect(t, srvDial)
		srv.mustSub(t, wire.Root+"/#")
		g := tg.mustConnect(t, north)
		for _, k := range wire.Uplink {
			g.pub(t, gt("north-1", k), "own "+string(k), false)
			fence(t, srv, gt("north-1", k), "own "+string(k))
		}
		forged := []string{
			gt("south-1", wire.KindEntry),                   // another gate's entries
			gt("south-1", wire.KindStatus),                  // another gate's status
			wire.GateTopic("sz", "north-1", wire.KindEntry), // its id under another school
			gt("north-1", wire.KindAck),                     // acking itself
			gt("north-1", wire.KindCmd),                     // commanding itself
			gt("south-1", wire.KindCmd),                     // commanding another gate
			wire.ReportTopic("hz"),                          // the district report
			wire.Root + "/hz/north-1/entry/extra",           // deeper levels
			"campusgate/v2/hz/north-1/entry",                // another tree
			"elsewhere",
		}
		for i, topic := range forged {
			// Accepted and dropped: the connection stays (MQTT 3.1.1 cannot
			// say no), and a retained forgery is not kept either.
			g.pub(t, topic, fmt.Sprint("forged ", i), i%2 == 0)
		}
		g.pub(t, gt("north-1", wire.KindEntry), "fence", false)
		fence(t, srv, gt("north-1", wire.KindEntry), "fence")
		for _, topic := range forged {
			if m := srv.msgs(topic); len(m) != 0 {
				t.Errorf("forged publish on %s delivered: %v", topic, m)
			}
		}
		if !g.c.IsConnectionOpen() {
			t.Error("gate disconnected after a refused publish (it would resend it on every reconnect)")
		}
		// No forged retained message is kept for later subscribers.
		late := tg.mustConnect(t, dial{user: "campusd-2@hz", pass: serverPass, id: "campusd-2@hz"})
		late.mustSub(t, gt("south-1", wire.KindStatus))
		late.mustSub(t, gt("north-1", wire.KindAck))
		srv.pub(t, gt("north-1", wire.KindAck), "fence", false)
		fence(t, late, gt("north-1", wire.KindAck), "fence")
		if m := late.msgs(gt("south-1", wire.KindStatus)); len(m) != 0 {
			t.Errorf("forged retained status kept: %v", m)
		}
	})

	t.Run("gate reads only its own downlink", func(t *testing.T) {
		srv := tg.mustConnect(t, srvDial)
		g := tg.mustConnect(t, north)
		for _, k := range wire.Downlink {
			g.mustSub(t, gt("north-1", k))
		}
		// Refused subscriptions: SUBACK 0x80 (embedded) or granted and empty.
		refused := map[string]string{ // filter → a topic it would match
			gt("south-1", wire.KindCmd):                      gt("south-1", wire.KindCmd),
			gt("south-1", wire.KindAck):                      gt("south-1", wire.KindAck),
			wire.Root + "/hz/+/roster":                       gt("south-1", wire.KindRoster),
			wire.Root + "/#":                                 gt("south-1", wire.KindKeys),
			wire.Root + "/hz/north-1/+":                      gt("north-1", wire.KindEntry),
			wire.Root + "/hz/north-1/#":                      gt("north-1", wire.KindAlert),
			gt("north-1", wire.KindTelemetry):                gt("north-1", wire.KindTelemetry),
			wire.ReportTopic("hz"):                           wire.ReportTopic("hz"),
			wire.GateTopic("sz", "north-1", wire.KindConfig): wire.GateTopic("sz", "north-1", wire.KindConfig),
			"#": "elsewhere",
		}
		for f := range refused {
			g.sub(t, f)
		}
		for _, probe := range refused {
			srv.pub(t, probe, "probe", false)
		}
		for _, k := range wire.Downlink {
			srv.pub(t, gt("north-1", k), "own "+string(k), false)
		}
		for _, k := range wire.Downlink {
			fence(t, g, gt("north-1", k), "own "+string(k))
		}
		for f, probe := range refused {
			if m := g.msgs(probe); len(m) != 0 {
				t.Errorf("gate subscribed to %s and received %s: %v", f, probe, m)
			}
		}
	})

	t.Run("district reads reports only, publishes nothing", func(t *testing.T) {
		srv := tg.mustConnect(t, srvDial)
		srv.mustSub(t, wire.Root+"/#")
		d := tg.mustConnect(t, dial{user: "district@hz", pass: distPass, id: "district@hz"})
		d.mustSub(t, wire.Root+"/+/report/daily")
		for _, f := range []string{wire.Root + "/+/+/entry", wire.Root + "/#", gt("north-1", wire.KindRoster)} {
			d.sub(t, f)
		}
		srv.pub(t, gt("north-1", wire.KindEntry), "probe", false)
		srv.pub(t, gt("north-1", wire.KindRoster), "probe", false)
		srv.pub(t, wire.ReportTopic("hz"), "report", true)
		fence(t, d, wire.ReportTopic("hz"), "report")
		for _, topic := range []string{gt("north-1", wire.KindEntry), gt("north-1", wire.KindRoster)} {
			if m := d.msgs(topic); len(m) != 0 {
				t.Errorf("district received %s: %v", topic, m)
			}
		}
		// A per-school subscription, made later, gets the retained report.
		d.mustSub(t, wire.ReportTopic("hz"))
		eventually(t, "retained report", func() bool {
			for _, m := range d.msgs(wire.ReportTopic("hz")) {
				if m.retained && m.payload == "report" {
					return true
				}
			}
			return false
		})
		// The district cannot publish, not even a report.
		d.pub(t, wire.ReportTopic("sz"), "forged", false)
		d.pub(t, gt("north-1", wire.KindCmd), "forged", false)
		d.pub(t, wire.ReportTopic("hz"), "forged", false)
		// Two publishers: the brokers route a PUBLISH before or just after
		// acking it, so a forgery routed at all is ahead of srv's fence (or
		// a few microseconds behind, which can only hide a failure).
		srv.pub(t, wire.ReportTopic("hz"), "fence", false)
		fence(t, srv, wire.ReportTopic("hz"), "fence")
		for _, topic := range []string{wire.ReportTopic("sz"), gt("north-1", wire.KindCmd), wire.ReportTopic("hz")} {
			if srv.has(topic, "forged") {
				t.Errorf("district published on %s", topic)
			}
		}
	})

	t.Run("retained downlink reaches a gate that subscribes later", func(t *testing.T) {
		srv := tg.mustConnect(t, srvDial)
		srv.pub(t, gt("north-1", wire.KindConfig), `{"v":1,"threshold":37.3}`, true)
		g := tg.mustConnect(t, north)
		// mochi v2.7.9 can drop the subscription of a client id that reconnects
		// while its previous clean session is still being torn down (north-1
		// was connected in the subtests before): subscribe again each second,
		// which a real gate's persistent session never needs.
		deadline, next := time.Now().Add(10*time.Second), time.Now()
		for len(g.msgs(gt("north-1", wire.KindConfig))) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("timed out waiting for the retained config")
			}
			if time.Now().After(next) {
				g.mustSub(t, gt("north-1", wire.KindConfig))
				next = time.Now().Add(time.Second)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if m := g.msgs(gt("north-1", wire.KindConfig))[0]; !m.retained {
			t.Errorf("config delivered without the retained flag: %+v", m)
		}
		srv.pub(t, gt("north-1", wire.KindConfig), "", true) // clear it
	})

	t.Run("Last Will: retained offline status", func(t *testing.T) {
		srv := tg.mustConnect(t, srvDial)
		srv.mustSub(t, wire.Root+"/+/+/status")
		d := north
		d.will, d.persistent = gt("north-1", wire.KindStatus), true
		g, err := tg.connect(d)
		if err != nil {
			t.Fatal(err)
		}
		g.pub(t, gt("north-1", wire.KindStatus), string(wire.Encode(wire.Status{V: 1, State: "online", At: time.Now()})), true)
		g.kill() // no DISCONNECT: the broker must publish the will
		offline := func(c *client, wantRetained bool) func() bool {
			return func() bool {
				for _, m := range c.msgs(gt("north-1", wire.KindStatus)) {
					if s, err := wire.DecodeStatus([]byte(m.payload)); err == nil && s.State == "offline" && (m.retained || !wantRetained) {
						return true
					}
				}
				return false
			}
		}
		eventually(t, "offline status from the will", offline(srv, false))
		late := tg.mustConnect(t, dial{user: "campusd-2@hz", pass: serverPass, id: "campusd-2@hz"})
		late.mustSub(t, wire.Root+"/+/+/status")
		eventually(t, "retained offline status for a later subscriber", offline(late, true))
		g.c.Disconnect(0)
	})

	t.Run("a forged Last Will is refused or never published", func(t *testing.T) {
		srv := tg.mustConnect(t, srvDial)
		srv.mustSub(t, gt("south-1", wire.KindStatus))
		srv.mustSub(t, gt("north-1", wire.KindAck))
		d := north
		d.will = gt("south-1", wire.KindStatus)
		if g, err := tg.connect(d); err == nil {
			g.kill()
		}
		time.Sleep(200 * time.Millisecond) // the will, if any, would be on its way
		srv.pub(t, gt("north-1", wire.KindAck), "fence", false)
		fence(t, srv, gt("north-1", wire.KindAck), "fence")
		if m := srv.msgs(gt("south-1", wire.KindStatus)); len(m) != 0 {
			t.Errorf("north-1's will published on south-1's status: %v", m)
		}
	})

	t.Run("no account can take a gate's client id", func(t *testing.T) {
		s := tg.mustConnect(t, dial{user: "south-1", pass: south, id: "south-1"})
		// Embedded broker: refused. mosquitto: use_username_as_clientid
		// replaces the client id with the user name. Either way south-1
		// stays connected.
		for _, d := range []dial{
			{user: "north-1", pass: gatePass, id: "south-1"},
			{user: "district@hz", pass: distPass, id: "south-1"},
		} {
			if c, err := tg.connect(d); err == nil {
				c.close()
			}
		}
		time.Sleep(100 * time.Millisecond)
		if !s.c.IsConnectionOpen() {
			t.Error("gate south-1 was knocked off by another account using its client id")
		}
	})

	t.Run("QoS 1 downlink queued while the gate is offline", func(t *testing.T) {
		srv := tg.mustConnect(t, srvDial)
		d := north
		d.persistent = true
		g, err := tg.connect(d)
		if err != nil {
			t.Fatal(err)
		}
		g.mustSub(t, gt("north-1", wire.KindAck))
		g.close()
		srv.pub(t, gt("north-1", wire.KindAck), "while offline", false)
		g = tg.mustConnect(t, d) // a new paho client: the broker's session, not paho's memory
		eventually(t, "ack queued while offline", func() bool { return g.has(gt("north-1", wire.KindAck), "while offline") })
	})
}

// checkShared: two campusd instances share $share/campusd/.../entry; each
// message reaches exactly one of them, and both get some.
func checkShared(t *testing.T, tg target) {
	var servers []*client
	for _, user := range []string{"campusd@hz", "campusd-2@hz"} {
		s := tg.mustConnect(t, dial{user: user, pass: serverPass, id: user})
		s.mustSub(t, wire.SharedFilter("campusd", wire.KindEntry))
		servers = append(servers, s)
	}
	g := tg.mustConnect(t, dial{user: "north-1", pass: gatePass, id: "north-1"})
	const n = 40
	for i := range n {
		g.pub(t, gt("north-1", wire.KindEntry), fmt.Sprint(i), false)
	}
	eventually(t, "all delivered", func() bool { return servers[0].total()+servers[1].total() >= n })
	time.Sleep(100 * time.Millisecond) // and no more
	seen := map[string]int{}
	for _, s := range servers {
		for _, m := range s.msgs(gt("north-1", wire.KindEntry)) {
			seen[m.payload]++
		}
	}
	for i := range n {
		if seen[fmt.Sprint(i)] != 1 {
			t.Errorf("message %d delivered %d times", i, seen[fmt.Sprint(i)])
		}
	}
	if a, b := servers[0].total(), servers[1].total(); a == 0 || b == 0 {
		t.Errorf("split %d + %d: not shared", a, b)
	}
}

func TestEmbeddedACL(t *testing.T) {
	_, tg := startEmbedded(t)
	checkACL(t, tg)
}

func TestEmbeddedSharedSubscription(t *testing.T) {
	_, tg := startEmbedded(t)
	checkShared(t, tg)
}

// The embedded broker refuses, at CONNECT, what mosquitto can only rewrite.
func TestEmbeddedConnectRules(t *testing.T) {
	b, tg := startEmbedded(t)
	for _, c := range []struct {
		why string
		d   dial
	}{
		{"client id is not the gate's user name", dial{user: "north-1", pass: gatePass, id: "someone-else"}},
		{"gate without a client id", dial{user: "north-1", pass: gatePass, id: ""}},
		{"district with a gate-shaped client id", dial{user: "district@hz", pass: distPass, id: "north-2"}},
		{"server with a gate-shaped client id", dial{user: "campusd@hz", pass: serverPass, id: "campusd-1"}},
		{"will on another gate's status", dial{user: "north-1", pass: gatePass, id: "north-1", will: gt("south-1", wire.KindStatus)}},
		{"will on its own entry topic", dial{user: "north-1", pass: gatePass, id: "north-1", will: gt("north-1", wire.KindEntry)}},
		{"district with a will", dial{user: "district@hz", pass: distPass, id: "district@hz", will: wire.ReportTopic("hz")}},
	} {
		if cl, err := tg.connect(c.d); err == nil {
			cl.close()
			t.Errorf("%s: connected", c.why)
		}
	}
	// What campusd does: user@school-instance, and a broker-assigned id.
	tg.mustConnect(t, dial{user: "campusd@hz", pass: serverPass, id: "campusd@hz-host1"})
	tg.mustConnect(t, dial{user: "campusd@hz", pass: serverPass, id: ""})
	if s := b.Stats(); s.ConnectDenied != 7 || s.AuthFailures != 0 {
		t.Errorf("stats %+v, want 7 connections denied", s)
	}
}

// A gate account of another school is refused when the broker serves one.
func TestEmbeddedOneSchool(t *testing.T) {
	b, err := Start(context.Background(), Opts{Listen: "127.0.0.1:0", Auth: testAccounts(t), School: "hz", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tg := target{addr: b.Addr()}
	if c, err := tg.connect(dial{user: "west-1", pass: westPass, id: "west-1"}); err == nil {
		c.close()
		t.Error("a gate of school sz connected to school hz's broker")
	}
	tg.mustConnect(t, dial{user: "north-1", pass: gatePass, id: "north-1"})
}

// Refusals are counted; the log has one line per client per minute.
func TestEmbeddedDenialsCountedAndRateLimited(t *testing.T) {
	rec := &recorder{}
	b, err := Start(context.Background(), Opts{Listen: "127.0.0.1:0", Auth: testAccounts(t), Logger: rec.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tg := target{addr: b.Addr()}
	g := tg.mustConnect(t, dial{user: "north-1", pass: gatePass, id: "north-1"})
	const n = 50
	for range n {
		g.pub(t, gt("south-1", wire.KindEntry), "forged", false)
	}
	g.sub(t, gt("south-1", wire.KindCmd))
	if c, err := tg.connect(dial{user: "south-1", pass: "wrong-password-00000", id: "south-1"}); err == nil {
		c.close()
	}
	s := b.Stats()
	if s.PublishDenied != n || s.ReadDenied != 1 || s.AuthFailures != 1 || s.LogsSuppressed != n {
		t.Errorf("stats %+v, want %d publishes and 1 read denied, 1 auth failure, %d lines suppressed", s, n, n)
	}
	lines := rec.lines()
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want 2 (north-1 once, south-1 once):\n%v", len(lines), lines)
	}
	want := `level=WARN msg="MQTT publish dropped" client=north-1 user=north-1 role=gate topic=campusgate/v1/hz/south-1/entry reason="another gate's topic"`
	if lines[0] != want {
		t.Errorf("log line\n%s\nwant\n%s", lines[0], want)
	}
}

// recorder keeps the warning and error lines of a text handler, without
// times and remote addresses. It is safe for concurrent use.
type recorder struct{ logtest.Buffer }

func (r *recorder) logger() *slog.Logger {
	return r.Logger(&slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "remote" {
				return slog.Attr{}
			}
			return a
		}})
}

func (r *recorder) lines() []string {
	return strings.Split(strings.TrimSuffix(r.String(), "\n"), "\n")
}

// A reconnect storm of 200 gates costs no bcrypt: each gate's first login
// did it.
func TestEmbeddedReconnectStorm(t *testing.T) {
	n := 200
	if raceEnabled {
		n = 50 // see raceEnabled
	}
	a := &Accounts{Cost: bcrypt.MinCost}
	for i := range n {
		g := fmt.Sprintf("g-%03d", i)
		if err := a.Add(g, "password-of-"+g, Account{Role: RoleGate, School: "hz", Gate: g}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Start(context.Background(), Opts{Listen: "127.0.0.1:0", Auth: a, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tg := target{addr: b.Addr()}
	storm := func() time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				g := fmt.Sprintf("g-%03d", i)
				c, err := tg.connect(dial{user: g, pass: "password-of-" + g, id: g, persistent: true})
				if err != nil {
					errs <- err
					return
				}
				c.c.Disconnect(0)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	cold := storm()
	warm := storm()
	t.Logf("%d gates: first connections %v, reconnect storm %v", n, cold, warm)
	if got := a.bcrypts.Load(); got != int64(n) {
		t.Errorf("%d bcrypt checks for 2×%d connections, want %d", got, n, n)
	}
	if s := b.Stats(); s.Sessions != int64(n) {
		t.Errorf("%d sessions known, want %d (persistent sessions stay)", s.Sessions, n)
	}
}

func TestEmbeddedKeepsRetainedAndQueuedMessages(t *testing.T) {
	b, _ := startEmbedded(t)
	if got := b.srv.Options.Capabilities.MaximumMessageExpiryInterval; got != 0 {
		t.Errorf("messages expire after %d s: retained keys and queued acks would be deleted", got)
	}
}

func TestStartOptions(t *testing.T) {
	ctx := context.Background()
	for _, o := range []Opts{
		{Listen: "127.0.0.1:0"}, // no Auth
		{Listen: "127.0.0.1:0", Auth: &Accounts{}, School: "h z"},
		{Listen: "127.0.0.1:0", Auth: &Accounts{}, TLS: &tls.Config{}},         // no server certificate
		{Listen: "127.0.0.1:0", Auth: &Accounts{}, TLS: newPKI(t).serverTLS()}, // client certificates, no School
		{Listen: "256.0.0.1:0", Auth: &Accounts{}},
	} {
		if b, err := Start(ctx, o); err == nil {
			b.Close()
			t.Errorf("Start(%+v) succeeded", o)
		}
	}
}

func TestCloseAndContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b, err := Start(ctx, Opts{Listen: "127.0.0.1:0", Auth: testAccounts(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	tg := target{addr: b.Addr()}
	c := tg.mustConnect(t, dial{user: "north-1", pass: gatePass, id: "north-1"})
	cancel()
	eventually(t, "client disconnected by the context's end", func() bool { return !c.c.IsConnectionOpen() })
	if conn, err := net.DialTimeout("tcp", tg.addr, time.Second); err == nil {
		conn.Close()
		t.Error("still listening after the context ended")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := Start(ctx, Opts{Listen: "127.0.0.1:0", Auth: testAccounts(t)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a done context: %v", err)
	}
}

func TestCheckTable(t *testing.T) {
	gate := Account{Role: RoleGate, School: "hz", Gate: "north-1"}
	srv := Account{Role: RoleServer}
	dist := Account{Role: RoleDistrict}
	for _, c := range []struct {
		acc   Account
		topic string
		write bool
		ok    bool
	}{
		{gate, gt("north-1", wire.KindEntry), true, true},
		{gate, gt("north-1", wire.KindTelemetry), true, true},
		{gate, gt("north-1", wire.KindAck), true, false},
		{gate, gt("north-1", wire.KindAck), false, true},
		{gate, gt("north-1", wire.KindEntry), false, false},
		{gate, gt("north-2", wire.KindEntry), true, false},
		{gate, wire.Root + "/hz/+/ack", false, false},
		{gate, wire.Root + "/hz/north-1/#", false, false},
		{gate, "$share/g/" + gt("north-1", wire.KindAck), false, false},
		{srv, wire.Root + "/#", false, true},
		{srv, wire.SharedFilter("campusd", wire.KindEntry), false, true},
		{srv, "$share/campusd/#", false, false},
		{srv, "$share//" + wire.Root + "/#", false, false},
		{srv, "$share/campusd/" + gt("north-1", wire.KindEntry), true, false},
		{srv, gt("north-1", wire.KindCmd), true, true},
		{srv, "$SYS/#", false, false},
		{srv, "#", false, false},
		{dist, wire.Root + "/+/report/daily", false, true},
		{dist, wire.ReportTopic("hz"), false, true},
		{dist, wire.ReportTopic("hz"), true, false},
		{dist, wire.Root + "/#", false, false},
		{dist, wire.Root + "/#/report/daily", false, false},
		{dist, wire.Root + "/+/report/+", false, false},
		{Account{}, wire.Root + "/#", false, false},
	} {
		if why := check(c.acc, c.topic, c.write); (why == "") != c.ok {
			t.Errorf("%v write=%v %s: allowed=%v (%s), want %v", c.acc.Role, c.write, c.topic, why == "", why, c.ok)
		}
	}
}
