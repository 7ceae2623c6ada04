package main

import (
	"context"
	"crypto/ed25519"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"
)

// gateControl is the console's way to the gates: the downlink, and signed
// commands over MQTT.
type gateControl struct {
	dl        *downlink
	pub       publisher
	school    string
	cmdKey    ed25519.PrivateKey
	cmdKID    string
	connected func() bool
}

func (g *gateControl) RosterChanged(version uint64, people []journal.Person) {
	g.dl.setRoster(version, people)
}

func (g *gateControl) ConfigChanged(gate string, c wire.Config) { g.dl.setGateConfig(gate, c) }

func (g *gateControl) Revoked(r wire.Revocations) { g.dl.setRevocations(r) }

func (g *gateControl) Connected() bool { return g.connected() }

// cmdValidity is how long a signed command may take to reach its gate.
const cmdValidity = 2 * time.Minute

// Command signs a command for one gate (bound to it, with a nonce and a
// short expiry) and sends it.
func (g *gateControl) Command(ctx context.Context, gate string, kind wire.CmdKind, by, reason string) error {
	now := time.Now()
	signed, err := wire.SignCmd(g.cmdKey, g.cmdKID, wire.CmdClaims{Kind: kind, School: g.school, Gate: gate,
		IssuedAt: now, Expiry: now.Add(cmdValidity), By: by, Reason: reason})
	if err != nil {
		return err
	}
	return g.pub.Publish(ctx, wire.GateTopic(g.school, gate, wire.KindCmd), 1, false, wire.Encode(wire.Cmd{V: wire.Version, Signed: signed}))
}
