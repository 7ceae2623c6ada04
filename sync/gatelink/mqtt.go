package gatelink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"campusgate/sync/suback"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Conn is one MQTT connection as the link uses it. The link reconnects by
// making a new Conn (with jitter), so a Conn never reconnects by itself.
type Conn interface {
	// Publish sends a message; its token is done once the broker has it
	// (PUBACK for QoS 1, written for QoS 0) or it failed. A connection's
	// tokens are done in the order of their publishes, as a broker acks in
	// that order; after the connection is lost they may never be.
	Publish(topic string, qos byte, retained bool, payload []byte) Token
	// Subscribe subscribes to topics, whose messages go to the handler the
	// Conn was dialled with. The returned
	// channel yields nil once the broker has granted every topic, or the error.
	// A broker takes a client's packets in order, so what is published after
	// Subscribe is sent is answered on the new subscription without waiting.
	Subscribe(topics map[string]byte) <-chan error
	// Lost is closed when the connection is lost.
	Lost() <-chan struct{}
	// Close disconnects, waiting up to a moment for queued work.
	Close()
}

// Token is a publish in progress (paho's mqtt.Token is one).
type Token interface {
	Done() <-chan struct{}
	Error() error
}

// Dialer makes a connected Conn whose every incoming message goes to handle,
// from the connect on: a persistent session's queued messages arrive before
// anything has subscribed again. handle must not block (it runs on the
// client's own goroutine).
type Dialer func(ctx context.Context, will Will, handle func(topic string, payload []byte)) (Conn, error)

// Will is the Last Will the broker publishes when the connection dies.
type Will struct {
	Topic   string
	Payload []byte
}

// PahoOpts configures the paho dialer.
type PahoOpts struct {
	Broker    string // tcp://host:1883, ssl://host:8883 (mqtt:// and mqtts:// are accepted too)
	ClientID  string // the gate id: the broker's ACL ties it to the user name
	Username  string
	Password  string
	TLS       *tls.Config   // with a client certificate when the broker asks for one
	KeepAlive time.Duration // default 10 s; a dead link is noticed within KeepAlive + PingTimeout
	// PingTimeout is how long a PINGRESP may take. Default KeepAlive/4: paho
	// checks every KeepAlive/4, so a silent connection is dropped within 1.5
	// keepalives.
	PingTimeout time.Duration
}

// PahoDialer returns a Dialer over github.com/eclipse/paho.mqtt.golang with a
// persistent session (clean session off), so acks the server sends while the
// gate is offline wait at the broker.
func PahoDialer(o PahoOpts) (Dialer, error) {
	u, err := url.Parse(o.Broker)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("gatelink: broker %q: want tcp://host:port or ssl://host:port", o.Broker)
	}
	switch u.Scheme {
	case "mqtt":
		u.Scheme = "tcp"
	case "mqtts":
		u.Scheme = "ssl"
	case "tcp", "ssl", "tls":
	default:
		return nil, fmt.Errorf("gatelink: broker %q: scheme %q, want tcp, ssl, mqtt or mqtts", o.Broker, u.Scheme)
	}
	if o.ClientID == "" {
		return nil, errors.New("gatelink: a client id (the gate id) is required")
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 10 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = o.KeepAlive / 4
	}
	broker := u.String()
	return func(ctx context.Context, will Will, handle func(string, []byte)) (Conn, error) {
		pc := &pahoConn{lost: make(chan struct{})}
		opts := mqtt.NewClientOptions().
			AddBroker(broker).
			SetClientID(o.ClientID).
			SetUsername(o.Username).
			SetPassword(o.Password).
			SetProtocolVersion(4). // MQTT 3.1.1 only: paho would retry a refused login as 3.1
			SetCleanSession(false).
			SetAutoReconnect(false).
			SetConnectRetry(false).
			SetKeepAlive(o.KeepAlive).
			SetPingTimeout(o.PingTimeout).
			SetConnectTimeout(10 * time.Second).
			SetWriteTimeout(10 * time.Second).
			// The link's handler never blocks (it only queues), so paho runs it
			// on its own goroutine: a goroutine a message (every ack of a
			// drain) would cost more than the handler.
			SetOrderMatters(true).
			// Every message goes to the default handler, with no routes: paho
			// would match each incoming message against every subscribed
			// topic by splitting both at '/' (two splits a topic, at every ack
			// of a drain), and a persistent session's queued messages, which
			// arrive before Subscribe, would have no route at all.
			SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { handle(m.Topic(), m.Payload()) }).
			SetConnectionLostHandler(func(mqtt.Client, error) { pc.markLost() })
		if o.TLS != nil {
			opts.SetTLSConfig(o.TLS)
		}
		if will.Topic != "" {
			opts.SetBinaryWill(will.Topic, will.Payload, 1, true)
		}
		pc.c = mqtt.NewClient(opts)
		if err := wait(ctx, pc.c.Connect()); err != nil {
			return nil, fmt.Errorf("gatelink: connect %s: %w", broker, err)
		}
		return pc, nil
	}, nil
}

type pahoConn struct {
	c        mqtt.Client
	lost     chan struct{}
	lostOnce sync.Once
}

func (p *pahoConn) markLost() { p.lostOnce.Do(func() { close(p.lost) }) }

func (p *pahoConn) Lost() <-chan struct{} { return p.lost }

func (p *pahoConn) Publish(topic string, qos byte, retained bool, payload []byte) Token {
	return p.c.Publish(topic, qos, retained, payload)
}

func (p *pahoConn) Subscribe(topics map[string]byte) <-chan error {
	done := make(chan error, 1)
	req := suback.Subscribe(p.c, topics) // sent now, ahead of what is published next
	go func() {
		if err := req.Wait(p.lost); err != nil {
			done <- fmt.Errorf("gatelink: %w", err)
			return
		}
		done <- nil
	}()
	return done
}

func (p *pahoConn) Close() {
	quiesce := uint(250) // let a clean goodbye ("offline") go out
	select {
	case <-p.lost:
		quiesce = 0 // nothing can go out on a dead connection: do not wait for it
	default:
	}
	p.c.Disconnect(quiesce)
	p.markLost()
}

func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
