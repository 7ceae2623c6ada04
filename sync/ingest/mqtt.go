package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"campusgate/sync/suback"
	"campusgate/sync/wire"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// ClientOpts configures campusd's own MQTT connection.
type ClientOpts struct {
	Broker   string // tcp://127.0.0.1:1883, ssl://...
	ClientID string // unique per campusd instance
	Username string
	Password string
	TLS      *tls.Config
	Group    string // shared-subscription group; instances with the same group share the gates' messages
	Logger   *slog.Logger
}

// Client is campusd's MQTT connection: it subscribes (shared) to every gate's
// uplink and publishes acks and downlink messages. paho reconnects it and
// subscribes again on every connection.
type Client struct {
	c   mqtt.Client
	log *slog.Logger
}

// Dial connects and subscribes; handle gets every uplink message and may
// block (it holds the broker back, which is what a full queue should do).
func Dial(ctx context.Context, o ClientOpts, handle func(ctx context.Context, topic string, payload []byte)) (*Client, error) {
	if o.Group == "" {
		o.Group = "campusd"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ClientID == "" {
		return nil, errors.New("ingest: a client id is required")
	}
	filters := map[string]byte{}
	for _, k := range wire.Uplink {
		filters[wire.SharedFilter(o.Group, k)] = 1
	}
	cl := &Client{log: o.Logger}
	opts := mqtt.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetProtocolVersion(4).  // MQTT 3.1.1 only: paho would retry a refused login as 3.1
		SetCleanSession(false). // messages for this instance wait while it restarts
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(10 * time.Second).
		SetPingTimeout(5 * time.Second).
		SetOrderMatters(false).
		// Every message goes to the default handler and none through a
		// route: paho would split each message's topic and every filter at
		// '/' to match them, and a persistent session's queued messages reach
		// the client before OnConnect has subscribed again.
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { handle(ctx, m.Topic(), m.Payload()) }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			if ctx.Err() != nil { // stopping: an embedded broker stops with campusd
				cl.log.Info("broker connection closed", "err", err)
				return
			}
			cl.log.Warn("broker connection lost", "err", err)
		}).
		SetOnConnectHandler(func(c mqtt.Client) {
			req := suback.Subscribe(c, filters) // sent at once, waited for on a goroutine
			go cl.subscribed(ctx, req, o.Group)
		})
	if o.TLS != nil {
		opts.SetTLSConfig(o.TLS)
	}
	cl.c = mqtt.NewClient(opts)
	tok := cl.c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("ingest: connect %s: %w", o.Broker, err)
		}
	case <-ctx.Done():
		cl.c.Disconnect(0)
		return nil, ctx.Err()
	}
	return cl, nil
}

// subscribed waits for the subscription to the gates' uplink and says how
// it went: paho connects again by itself, and subscribes again each time.
func (cl *Client) subscribed(ctx context.Context, req *suback.Request, group string) {
	if err := req.Wait(ctx.Done()); err != nil {
		cl.log.Error("subscribing to the gates failed", "err", err)
		return
	}
	cl.log.Info("subscribed to the gates", "group", group)
}

// LatePublisher is the Ingest's Publisher before its Client exists: Dial
// needs the Ingest's Handle, and New a Publisher. Until Set, a publish fails
// (the gate sends again and is acked then).
type LatePublisher struct{ c atomic.Pointer[Client] }

// Set makes c the publisher.
func (p *LatePublisher) Set(c *Client) { p.c.Store(c) }

// Publish publishes through the Client Set, or fails.
func (p *LatePublisher) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	c := p.c.Load()
	if c == nil {
		return errors.New("ingest: not connected to the broker yet")
	}
	return c.Publish(ctx, topic, qos, retained, payload)
}

// Publish sends one message and waits for the broker to take it.
func (cl *Client) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	tok := cl.c.Publish(topic, qos, retained, payload)
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Connected reports whether the broker connection is up.
func (cl *Client) Connected() bool { return cl.c.IsConnectionOpen() }

// Close disconnects.
func (cl *Client) Close() { cl.c.Disconnect(500) }
