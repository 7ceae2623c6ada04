package main

import (
	"context"
	"crypto/ed25519"
	"strconv"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/store"
	"campusgate/sync/wire"
)

// gateControl is the console's way to the gates: the downlink, and signed
// commands over MQTT.
type gateControl struct {
	dl        *downlink
	db        *store.DB
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

func (g *gateControl) SchoolConfigChanged(toml string) {
	v, err := schoolConfigVersion(context.Background(), g.db, toml)
	if err != nil {
		g.dl.log.Error("school settings not versioned: not sent", "err", err)
		return
	}
	g.dl.setConfig(wire.Config{V: wire.Version, Version: v, TOML: toml})
}

// schoolConfigVersion is the version of the school's settings document: the
// stored one while the text is the same, else a new one above it (and above
// the time, as the roster's).
func schoolConfigVersion(ctx context.Context, db *store.DB, text string) (uint64, error) {
	prev, err := db.Setting(ctx, "school_config")
	if err != nil {
		return 0, err
	}
	pv, _ := db.Setting(ctx, "school_config_version")
	v, _ := strconv.ParseUint(pv, 10, 64)
	if prev == text && v > 0 {
		return v, nil
	}
	v = max(v+1, uint64(time.Now().Unix()))
	if err := db.PutSetting(ctx, "school_config", text); err != nil {
		return 0, err
	}
	return v, db.PutSetting(ctx, "school_config_version", strconv.FormatUint(v, 10))
}

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
