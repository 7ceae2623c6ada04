package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"campusgate/sync/wire"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// logEvery is the shortest interval between two refusal log lines for one
// client id.
const logEvery = time.Minute

// aclHook authenticates connections and enforces the access table of the
// package documentation.
type aclHook struct {
	mqtt.HookBase
	auth   Authenticator
	school string // "" = any school
	certs  bool   // identify gates by their verified client certificates
	log    *slog.Logger

	mu sync.Mutex
	// sessions holds, per client id, the connection that last authenticated
	// with it and that connection's account. A session outlives its
	// connection when clean session is off: mochi queues QoS 1 messages for
	// it and asks OnACLCheck about each, so the account must stay until the
	// session ends. A newer connection with the same id replaces the entry;
	// the older connection, on its way out, then has no rights at all.
	sessions map[string]session
	warned   map[string]*warnState

	authFail, connDenied, pubDenied, readDenied, suppressed atomic.Int64
}

type session struct {
	cl  *mqtt.Client
	acc Account
}

type warnState struct {
	last       time.Time
	suppressed int
}

func newACLHook(auth Authenticator, school string, certs bool, log *slog.Logger) *aclHook {
	return &aclHook{auth: auth, school: school, certs: certs, log: log,
		sessions: map[string]session{}, warned: map[string]*warnState{}}
}

func (h *aclHook) ID() string { return "campusgate-acl" }

func (h *aclHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnDisconnect, mqtt.OnClientExpired:
		return true
	}
	return false
}

func (h *aclHook) stats() Stats {
	h.mu.Lock()
	n := len(h.sessions)
	h.mu.Unlock()
	return Stats{
		AuthFailures:   h.authFail.Load(),
		ConnectDenied:  h.connDenied.Load(),
		PublishDenied:  h.pubDenied.Load(),
		ReadDenied:     h.readDenied.Load(),
		LogsSuppressed: h.suppressed.Load(),
		Sessions:       int64(n),
	}
}

// OnConnectAuthenticate identifies the client (certificate or password) and
// applies the connection rules: a gate's client id is its gate id, a server's
// or district's is not shaped like one, and a Last Will goes only where its
// account may publish (mochi itself does not check will topics).
func (h *aclHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	acc, how, why := h.identify(cl, pk)
	if why != "" {
		h.authFail.Add(1)
		h.warn(cl.ID, "MQTT connection refused", "client", cl.ID, "user", user, "remote", cl.Net.Remote, "reason", why)
		return false
	}
	if why = h.connectRule(cl, pk, acc); why != "" {
		h.connDenied.Add(1)
		h.warn(cl.ID, "MQTT connection refused", "client", cl.ID, "user", user, "auth", how, "remote", cl.Net.Remote, "reason", why)
		return false
	}
	h.mu.Lock()
	h.sessions[cl.ID] = session{cl: cl, acc: acc}
	h.mu.Unlock()
	return true
}

// identify returns the client's account and how it was established, or why
// it could not be.
func (h *aclHook) identify(cl *mqtt.Client, pk packets.Packet) (acc Account, how, why string) {
	user := string(pk.Connect.Username)
	if h.certs {
		if tc, ok := cl.Net.Conn.(*tls.Conn); ok {
			cs := tc.ConnectionState() // complete: the CONNECT packet came through it
			if len(cs.VerifiedChains) > 0 && len(cs.PeerCertificates) > 0 {
				cn := cs.PeerCertificates[0].Subject.CommonName
				if err := wire.ValidGateID(cn); err != nil {
					return Account{}, "", fmt.Sprintf("client certificate: CN is not a gate id: %v", err)
				}
				if user != "" && user != cn {
					return Account{}, "", fmt.Sprintf("user name %q is not the certificate's gate %q", user, cn)
				}
				return Account{Role: RoleGate, School: h.school, Gate: cn}, "certificate", ""
			}
		}
	}
	acc, ok := h.auth.Authenticate(user, string(pk.Connect.Password))
	if !ok {
		return Account{}, "", "wrong user name or password"
	}
	return acc, "password", ""
}

func (h *aclHook) connectRule(cl *mqtt.Client, pk packets.Packet, acc Account) string {
	switch acc.Role {
	case RoleGate:
		if wire.ValidGateID(acc.Gate) != nil || wire.ValidID(acc.School) != nil {
			return fmt.Sprintf("gate account with a bad school %q or gate %q", acc.School, acc.Gate)
		}
		if h.school != "" && acc.School != h.school {
			return fmt.Sprintf("a gate of school %q; this broker serves %q", acc.School, h.school)
		}
		if cl.ID != acc.Gate {
			// Otherwise one gate could take another's session over, and
			// with it that gate's queued acks and commands.
			return fmt.Sprintf("client id %q is not the gate id %q", cl.ID, acc.Gate)
		}
	case RoleServer, RoleDistrict:
		// Same reason: a district account must not be able to knock a gate
		// off by taking its client id. An empty client id (the broker makes
		// one up) is fine.
		if pk.Connect.ClientIdentifier != "" && wire.ValidGateID(cl.ID) == nil {
			return fmt.Sprintf("client id %q could be a gate's; %v client ids need a character gate ids cannot have, such as '@'", cl.ID, acc.Role)
		}
	default:
		return fmt.Sprintf("account without a role (%v)", acc.Role)
	}
	if pk.Connect.WillFlag {
		if acc.Role == RoleGate && pk.Connect.WillTopic != wire.GateTopic(acc.School, acc.Gate, wire.KindStatus) {
			return fmt.Sprintf("Last Will on %q, not the gate's own status topic", pk.Connect.WillTopic)
		}
		if why := check(acc, pk.Connect.WillTopic, true); why != "" {
			return fmt.Sprintf("Last Will on %q: %s", pk.Connect.WillTopic, why)
		}
	}
	return ""
}

// OnDisconnect forgets a clean session's account. A persistent one (clean
// session off) keeps it: messages are still queued for it.
func (h *aclHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if expire {
		h.forget(cl)
	}
}

// OnClientExpired forgets a persistent session mochi dropped.
func (h *aclHook) OnClientExpired(cl *mqtt.Client) { h.forget(cl) }

func (h *aclHook) forget(cl *mqtt.Client) {
	h.mu.Lock()
	if s, ok := h.sessions[cl.ID]; ok && s.cl == cl {
		delete(h.sessions, cl.ID)
	}
	h.mu.Unlock()
}

// account is cl's account, if cl is the latest connection with its id.
func (h *aclHook) account(cl *mqtt.Client) (Account, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.sessions[cl.ID]
	if !ok || s.cl != cl {
		return Account{}, false
	}
	return s.acc, true
}

// OnACLCheck is asked about every PUBLISH a client sends (write), every
// filter it subscribes to, and every message about to be delivered or queued
// to it (read).
func (h *aclHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	acc, ok := h.account(cl)
	if !ok {
		return false // a connection replaced by a newer one with its id
	}
	why := check(acc, topic, write)
	if why == "" {
		return true
	}
	if write {
		h.pubDenied.Add(1)
		h.warn(cl.ID, "MQTT publish dropped", "client", cl.ID, "user", string(cl.Properties.Username), "role", acc.Role, "topic", topic, "reason", why)
		if cl.Properties.ProtocolVersion < 5 {
			// mochi would disconnect an MQTT 3 client whose QoS 1 publish is
			// refused. The client reconnects and sends it again from its
			// in-flight store, forever. OnPublish drops it after the PUBACK
			// instead, as mosquitto does.
			return true
		}
		return false // MQTT 5: mochi answers with reason code 0x87, not authorized
	}
	h.readDenied.Add(1)
	h.warn(cl.ID, "MQTT read refused", "client", cl.ID, "user", string(cl.Properties.Username), "role", acc.Role, "topic", topic, "reason", why)
	return false
}

// OnPublish drops, once acknowledged, a publish that OnACLCheck let through
// only to avoid the disconnect (see there); it was counted and logged there.
func (h *aclHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	if acc, ok := h.account(cl); !ok || check(acc, pk.TopicName, true) != "" {
		return pk, packets.CodeSuccessIgnore // acknowledged, neither retained nor delivered
	}
	return pk, nil
}

// check applies the access table of the package documentation to a topic
// published (write), or to a filter subscribed or a topic delivered (read).
// It returns why access is refused, or "" when it is allowed.
func check(acc Account, topic string, write bool) string {
	switch acc.Role {
	case RoleGate:
		t, err := wire.ParseTopic(topic) // no wildcards: + and # are not id characters
		if err != nil {
			return "not one of the gate's own topics: " + err.Error()
		}
		if t.School != acc.School || t.Gate != acc.Gate {
			return "another gate's topic"
		}
		if write && !t.Kind.IsUplink() {
			return "gates publish only entry, alert, status and telemetry"
		}
		if !write && !t.Kind.IsDownlink() {
			return "gates read only ack, roster, keys, revocations, config and cmd"
		}
		return ""
	case RoleServer:
		filter := topic
		if rest, ok := strings.CutPrefix(topic, "$share/"); ok {
			if write {
				return "$share/ is for subscriptions"
			}
			group, f, found := strings.Cut(rest, "/")
			if !found || group == "" {
				return "malformed shared subscription"
			}
			filter = f
		}
		if !strings.HasPrefix(filter, wire.Root+"/") {
			return "outside " + wire.Root + "/"
		}
		return ""
	case RoleDistrict:
		if write {
			return "district accounts never publish"
		}
		rest, ok := strings.CutPrefix(topic, wire.Root+"/")
		school, tail, _ := strings.Cut(rest, "/")
		if !ok || tail != wire.ReportLevel+"/daily" || (school != "+" && wire.ValidID(school) != nil) {
			return "district accounts read only " + wire.Root + "/+/" + wire.ReportLevel + "/daily"
		}
		return ""
	}
	return fmt.Sprintf("no rights for role %v", acc.Role)
}

// warn logs at most once per logEvery per client id, saying how many lines it
// left out, so that a misconfigured gate publishing in a loop cannot flood
// the school server's log.
func (h *aclHook) warn(client, msg string, args ...any) {
	now := time.Now()
	h.mu.Lock()
	w := h.warned[client]
	if w != nil && now.Sub(w.last) < logEvery {
		w.suppressed++
		h.mu.Unlock()
		h.suppressed.Add(1)
		return
	}
	if w == nil {
		if len(h.warned) >= 10_000 { // many distinct client ids: start over rather than grow
			clear(h.warned)
		}
		w = &warnState{}
		h.warned[client] = w
	}
	n := w.suppressed
	w.last, w.suppressed = now, 0
	h.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	h.log.Warn(msg, args...)
}

// quietMochi passes on mochi's warnings and errors, but not its info lines
// about every connection. It also turns into a debug record the empty-message
// warning mochi's TCP listener writes whenever a connection ends with an
// error. That happens on every refused login, already logged with a rate
// limit by the hook, and every time a gate's Wi-Fi drops.
type quietMochi struct{ slog.Handler }

func (q quietMochi) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= slog.LevelWarn && q.Handler.Enabled(ctx, lv)
}

func (q quietMochi) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "error processing packet" {
		r = packetError(r)
		if r.Level < slog.LevelWarn && !q.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	if r.Message == "" {
		if !q.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		d := slog.NewRecord(r.Time, slog.LevelDebug, "MQTT connection ended", r.PC)
		r.Attrs(func(a slog.Attr) bool { d.AddAttrs(a); return true })
		r = d
	}
	return q.Handler.Handle(ctx, r)
}

// packetError rewrites mochi's "error processing packet" warning. Its "pk"
// attribute is the whole packet, payload and all: an entry batch's people
// would reach the server's log. It keeps the packet's type and topic. And a
// packet that could not be answered because its client had just gone (a
// gate publishing "offline" as it stops) is a debug line, not a warning.
func packetError(r slog.Record) slog.Record {
	level := r.Level
	var attrs []slog.Attr
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "pk":
			if pk, ok := a.Value.Any().(packets.Packet); ok {
				attrs = append(attrs, slog.Int("packet_type", int(pk.FixedHeader.Type)), slog.String("topic", pk.TopicName))
			}
			return true
		case "error":
			if err, ok := a.Value.Any().(error); ok && (errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
				level = slog.LevelDebug
			}
		}
		attrs = append(attrs, a)
		return true
	})
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	out.AddAttrs(attrs...)
	return out
}

func (q quietMochi) WithAttrs(a []slog.Attr) slog.Handler { return quietMochi{q.Handler.WithAttrs(a)} }
func (q quietMochi) WithGroup(g string) slog.Handler      { return quietMochi{q.Handler.WithGroup(g)} }
