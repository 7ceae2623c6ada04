package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"campusgate/sync/wire"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Opts configures Start.
type Opts struct {
	// Listen is the only address the broker listens on; "" is 127.0.0.1:1883.
	// Port 0 picks a free port (see Addr).
	Listen string
	// TLS, when set, makes the listener TLS-only. If TLS.ClientCAs is also set,
	// a client whose certificate verifies against it is the gate named by the
	// certificate's CN, of School, and needs no password. Set TLS.ClientAuth
	// to tls.VerifyClientCertIfGiven to let servers and districts in with
	// passwords beside certificate gates, or to tls.RequireAndVerifyClientCert
	// to admit certificate holders only.
	TLS *tls.Config
	// TLSListen, with TLS, is a second listener, TLS-only, beside a plain
	// Listen: campusd itself on loopback, the gates over the LAN. Without it,
	// TLS makes Listen TLS-only.
	TLSListen string
	// Auth checks user names and passwords (required). *Accounts is one.
	Auth Authenticator
	// School, when set, is the only school whose gates may connect. It is
	// required with TLS.ClientCAs, because a certificate names only the gate.
	School string
	// Logger receives the broker's refusals and mochi's own warnings and
	// errors; nil is slog.Default().
	Logger *slog.Logger
}

// Stats are the broker's counters since Start.
type Stats struct {
	AuthFailures   int64 // wrong user name, password or certificate
	ConnectDenied  int64 // good credentials, connection refused: client id, Last Will, school
	PublishDenied  int64 // publishes dropped by the access rules
	ReadDenied     int64 // subscriptions refused and deliveries withheld by the access rules
	LogsSuppressed int64 // refusal log lines left out by the per-client rate limit
	Sessions       int64 // sessions the rules know: connected, or disconnected and kept (clean session off)
}

// Broker is the running embedded broker.
type Broker struct {
	srv     *mqtt.Server
	ln, tln *listeners.TCP
	hook    *aclHook
	stopCtx func() bool

	once sync.Once
	err  error
}

// Start listens on o.Listen and serves until Close is called or ctx is done.
func Start(ctx context.Context, o Opts) (*Broker, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("broker: start: %w", err)
	}
	if o.Auth == nil {
		return nil, errors.New("broker: start: Opts.Auth is required")
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:1883"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.School != "" {
		if err := wire.ValidID(o.School); err != nil {
			return nil, fmt.Errorf("broker: start: Opts.School: %w", err)
		}
	}
	certs := o.TLS != nil && o.TLS.ClientCAs != nil
	if certs && o.School == "" {
		return nil, errors.New("broker: start: Opts.School is required with TLS client certificates (a certificate names only the gate)")
	}
	if o.TLS != nil && len(o.TLS.Certificates) == 0 && o.TLS.GetCertificate == nil && o.TLS.GetConfigForClient == nil {
		return nil, errors.New("broker: start: Opts.TLS has no server certificate")
	}

	caps := mqtt.NewDefaultServerCapabilities()
	// By default mochi deletes retained messages, and QoS 1 messages queued
	// for offline sessions, once they are a day old. A school's keys and
	// config stay retained for weeks, and a gate switched off over a weekend
	// must still get its acks on Monday.
	caps.MaximumMessageExpiryInterval = 0
	srv := mqtt.New(&mqtt.Options{
		Logger:       slog.New(quietMochi{o.Logger.Handler()}),
		Capabilities: caps,
		InlineClient: false,
	})
	hook := newACLHook(o.Auth, o.School, certs, o.Logger)
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("broker: start: add hook: %w", err)
	}
	if o.TLSListen != "" && o.TLS == nil {
		return nil, errors.New("broker: start: Opts.TLSListen needs Opts.TLS")
	}
	plainTLS := o.TLS
	if o.TLSListen != "" {
		plainTLS = nil
	}
	ln := listeners.NewTCP(listeners.Config{ID: "campusgate", Address: o.Listen, TLSConfig: plainTLS})
	if err := srv.AddListener(ln); err != nil { // listens now
		return nil, fmt.Errorf("broker: start: listen %s: %w", o.Listen, err)
	}
	var tln *listeners.TCP
	if o.TLSListen != "" {
		tln = listeners.NewTCP(listeners.Config{ID: "campusgate-tls", Address: o.TLSListen, TLSConfig: o.TLS})
		if err := srv.AddListener(tln); err != nil {
			_ = srv.Close()
			return nil, fmt.Errorf("broker: start: listen %s (TLS): %w", o.TLSListen, err)
		}
	}
	// Serve returns once the listener's goroutine runs; calling it here, not
	// in a goroutine, means a Close right after Start cannot race it.
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("broker: start: serve: %w", err)
	}
	b := &Broker{srv: srv, ln: ln, tln: tln, hook: hook}
	b.stopCtx = context.AfterFunc(ctx, func() { _ = b.Close() })
	return b, nil
}

// Addr is the address the broker listens on, with the real port when
// Opts.Listen asked for port 0.
func (b *Broker) Addr() string { return b.ln.Address() }

// TLSAddr is the TLS listener's address with Opts.TLSListen, else "".
func (b *Broker) TLSAddr() string {
	if b.tln == nil {
		return ""
	}
	return b.tln.Address()
}

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats { return b.hook.stats() }

// Close stops listening, disconnects every client and waits for the
// connections' goroutines. It may be called more than once.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.stopCtx()
		if err := b.srv.Close(); err != nil {
			b.err = fmt.Errorf("broker: close: %w", err)
		}
	})
	return b.err
}
