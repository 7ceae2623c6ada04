// Package broker is campusd's embedded MQTT broker (github.com/mochi-mqtt/
// server/v2) with the school's accounts and access rules:
//
//	account   publish                                   subscribe
//	gate G    campusgate/v1/{S}/G/{entry,alert,         campusgate/v1/{S}/G/{ack,roster,keys,
//	of school S         status,telemetry}               revocations,config,cmd}
//	server    anything under campusgate/v1/              anything under campusgate/v1/, and
//	                                                    $share/{group}/campusgate/v1/...
//	district  nothing                                   campusgate/v1/+/report/daily and
//	                                                    campusgate/v1/{S}/report/daily
//
// A gate's client id must be its user name (so no gate can take over another's
// session), and its Last Will may only be its own status topic.
//
// Caveats: MQTT 3.1.1 has no way to tell a publisher its PUBLISH was refused;
// mochi disconnects a client whose QoS 1 publish is refused (mosquitto drops
// the message instead). Either way it is not delivered, and it is counted and
// logged (at most once a minute per client). Refused subscriptions get the
// failure return code.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"campusgate/sync/wire"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Opts configures Start.
type Opts struct {
	Listen string        // default 127.0.0.1:1883
	TLS    *tls.Config   // serve TLS instead of plain TCP
	Auth   Authenticator // required
	Logger *slog.Logger
}

// Stats are the broker's refusal counters.
type Stats struct {
	AuthFailures, PublishDenied, SubscribeDenied int64
}

// Broker is the running embedded broker.
type Broker struct {
	srv  *mqtt.Server
	ln   *listeners.TCP
	hook *aclHook
	once sync.Once
}

// Start listens and serves until Close.
func Start(_ context.Context, o Opts) (*Broker, error) {
	if o.Auth == nil {
		return nil, errors.New("broker: an Authenticator is required")
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:1883"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	// mochi logs every connection at info; the school server's log wants
	// only its warnings.
	mlog := slog.New(levelFloor{o.Logger.Handler(), slog.LevelWarn})
	srv := mqtt.New(&mqtt.Options{Logger: mlog, InlineClient: false})
	hook := &aclHook{auth: o.Auth, log: o.Logger, accounts: map[*mqtt.Client]Account{}, warned: map[string]time.Time{}}
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	ln := listeners.NewTCP(listeners.Config{ID: "mqtt", Address: o.Listen, TLSConfig: o.TLS})
	if err := srv.AddListener(ln); err != nil {
		return nil, fmt.Errorf("broker: listen %s: %w", o.Listen, err)
	}
	go func() { _ = srv.Serve() }()
	return &Broker{srv: srv, ln: ln, hook: hook}, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.ln.Address() }

// Stats returns the refusal counters.
func (b *Broker) Stats() Stats {
	return Stats{AuthFailures: b.hook.authFail.Load(), PublishDenied: b.hook.pubDenied.Load(), SubscribeDenied: b.hook.subDenied.Load()}
}

// Close stops the broker.
func (b *Broker) Close() error {
	var err error
	b.once.Do(func() { err = b.srv.Close() })
	return err
}

type aclHook struct {
	mqtt.HookBase
	auth Authenticator
	log  *slog.Logger

	mu       sync.Mutex
	accounts map[*mqtt.Client]Account // by connection, not client id: a takeover's old connection leaves after the new one arrives
	warned   map[string]time.Time

	authFail, pubDenied, subDenied atomic.Int64
}

func (h *aclHook) ID() string { return "campusgate-acl" }

func (h *aclHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnDisconnect
}

func (h *aclHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(cl.Properties.Username)
	acc, ok := h.auth.Authenticate(user, string(pk.Connect.Password))
	why := ""
	switch {
	case !ok:
		why = "wrong user name or password"
	case acc.Role == RoleGate && cl.ID != user:
		why = fmt.Sprintf("client id %q is not the gate's user name", cl.ID)
	case acc.Role == RoleGate && pk.Connect.WillFlag && pk.Connect.WillTopic != wire.GateTopic(acc.School, acc.Gate, wire.KindStatus):
		why = fmt.Sprintf("last will on %q, not the gate's own status topic", pk.Connect.WillTopic)
	case acc.Role == RoleDistrict && pk.Connect.WillFlag:
		why = "district accounts publish nothing, not even a will"
	}
	if why != "" {
		h.authFail.Add(1)
		h.warn(cl.ID, "MQTT connection refused", "client", cl.ID, "user", user, "remote", cl.Net.Remote, "why", why)
		return false
	}
	h.mu.Lock()
	h.accounts[cl] = acc
	h.mu.Unlock()
	return true
}

func (h *aclHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.mu.Lock()
	delete(h.accounts, cl)
	h.mu.Unlock()
}

func (h *aclHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	h.mu.Lock()
	acc, ok := h.accounts[cl]
	h.mu.Unlock()
	if !ok {
		return false // a client on its way out: nothing to report
	}
	if allowed(acc, topic, write) {
		return true
	}
	what := "subscribe"
	if write {
		what = "publish"
		h.pubDenied.Add(1)
	} else {
		h.subDenied.Add(1)
	}
	h.warn(cl.ID, "MQTT "+what+" refused", "client", cl.ID, "user", string(cl.Properties.Username), "topic", topic, "role", acc.Role)
	return false
}

// allowed is the access table in the package documentation.
func allowed(acc Account, topic string, write bool) bool {
	switch acc.Role {
	case RoleServer:
		if rest, ok := strings.CutPrefix(topic, "$share/"); ok && !write {
			_, filter, found := strings.Cut(rest, "/")
			return found && strings.HasPrefix(filter, wire.Root+"/")
		}
		return strings.HasPrefix(topic, wire.Root+"/")
	case RoleGate:
		t, err := wire.ParseTopic(topic)
		if err != nil || t.School != acc.School || t.Gate != acc.Gate {
			return false
		}
		if write {
			return t.Kind.IsUplink()
		}
		return t.Kind.IsDownlink()
	case RoleDistrict:
		if write {
			return false
		}
		rest, ok := strings.CutPrefix(topic, wire.Root+"/")
		if !ok {
			return false
		}
		school, tail, _ := strings.Cut(rest, "/")
		return tail == wire.ReportLevel+"/daily" && (school == "+" || wire.ValidID(school) == nil)
	}
	return false
}

// warn logs at most once a minute per client.
func (h *aclHook) warn(client, msg string, args ...any) {
	h.mu.Lock()
	last, seen := h.warned[client]
	now := time.Now()
	if seen && now.Sub(last) < time.Minute {
		h.mu.Unlock()
		return
	}
	if len(h.warned) > 10_000 {
		clear(h.warned)
	}
	h.warned[client] = now
	h.mu.Unlock()
	h.log.Warn(msg, args...)
}

// levelFloor drops records below a level.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (l levelFloor) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.Handler.Enabled(ctx, lv)
}
func (l levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{l.Handler.WithAttrs(a), l.min}
}
func (l levelFloor) WithGroup(g string) slog.Handler {
	return levelFloor{l.Handler.WithGroup(g), l.min}
}
