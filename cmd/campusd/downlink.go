package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"
)

// publisher is the MQTT connection as the downlink needs it.
type publisher interface {
	Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error
}

// downlink sends each gate what it lacks: the school's keys (retained, so a
// gate gets them whenever it connects) and the roster when the gate's
// telemetry shows an older version.
type downlink struct {
	pub    publisher
	log    *slog.Logger
	school string

	mu       sync.Mutex
	keys     *wire.Keys // nil: the school's keys are not managed here
	config   *wire.Config
	gateCfg  map[string]*wire.Config // a gate's own settings, over the school's
	cfgSent  map[string]time.Time
	keysSent map[string]bool
	revoked  *wire.Revocations
	revSent  map[string]bool
	known    map[string]bool // gates heard from
	version  uint64
	people   []journal.Person
	delta    *wire.Roster         // from the previous version to version, if small
	sent     map[string]time.Time // gate → when a snapshot was last sent
}

func (d *downlink) setConfig(c wire.Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.config, d.cfgSent = &c, map[string]time.Time{}
}

// setGateConfig sets one gate's settings (they replace the school's for it).
func (d *downlink) setGateConfig(gate string, c wire.Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gateCfg == nil {
		d.gateCfg = map[string]*wire.Config{}
	}
	if d.cfgSent == nil {
		d.cfgSent = map[string]time.Time{}
	}
	d.gateCfg[gate] = &c
	delete(d.cfgSent, gate)
}

func (d *downlink) configFor(gate string) *wire.Config {
	if c := d.gateCfg[gate]; c != nil {
		return c
	}
	return d.config
}

// setRevocations sets the passes every gate must refuse, and sends them at
// once to the gates heard from (the others get them when they are).
func (d *downlink) setRevocations(r wire.Revocations) {
	d.mu.Lock()
	d.revoked, d.revSent = &r, map[string]bool{}
	var gates []string
	for g := range d.known {
		gates = append(gates, g)
		d.revSent[g] = true
	}
	d.mu.Unlock()
	for _, g := range gates {
		go d.sendRevocations(g, r)
	}
}

// sendRevocations publishes the list retained, so a gate that connects
// later gets it too.
func (d *downlink) sendRevocations(gate string, r wire.Revocations) {
	if err := d.pub.Publish(context.Background(), wire.GateTopic(d.school, gate, wire.KindRevocations), 1, true, wire.Encode(r)); err != nil {
		d.log.Warn("revocations not sent; the gate's next telemetry asks again", "gate", gate, "err", err)
		d.mu.Lock()
		delete(d.revSent, gate)
		d.mu.Unlock()
		return
	}
	d.log.Info("revocations sent", "gate", gate, "passes", len(r.Passes))
}

func (d *downlink) setKeys(k wire.Keys) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys, d.keysSent = &k, map[string]bool{}
}

// chunkPeople keeps a roster message well under wire.MaxMessage: a person is
// ~150 bytes of JSON.
const chunkPeople = 500

func (d *downlink) setRoster(version uint64, people []journal.Person) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.version > 0 && version > d.version {
		// Gates still on the version before get only what changed.
		d.delta = rosterDelta(d.version, version, d.people, people)
	} else {
		d.delta = nil
	}
	d.version, d.people = version, people
	d.sent = map[string]time.Time{}
}

// rosterDelta is what turns roster from into roster to.
func rosterDelta(fromV, toV uint64, from, to []journal.Person) *wire.Roster {
	old := make(map[string]journal.Person, len(from))
	for _, p := range from {
		old[p.ID] = p
	}
	d := &wire.Roster{V: wire.Version, Kind: "delta", From: fromV, Version: toV, People: []journal.Person{}}
	seen := map[string]bool{}
	for _, p := range to {
		seen[p.ID] = true
		if o, ok := old[p.ID]; !ok || o != p {
			d.People = append(d.People, p)
		}
	}
	for _, p := range from {
		if !seen[p.ID] {
			d.Remove = append(d.Remove, p.ID)
		}
	}
	return d
}

// telemetry is ingest's OnTelemetry: it must not block, so it sends from a
// goroutine.
func (d *downlink) telemetry(school, gate string, t wire.Telemetry) {
	d.mu.Lock()
	need := d.version > 0 && t.RosterVersion != d.version && time.Since(d.sent[gate]) > 30*time.Second
	if need {
		if d.sent == nil {
			d.sent = map[string]time.Time{}
		}
		d.sent[gate] = time.Now()
	}
	version, people := d.version, d.people
	var delta *wire.Roster
	if need && d.delta != nil && t.RosterVersion == d.delta.From && len(d.delta.People)+len(d.delta.Remove) <= chunkPeople {
		delta = d.delta
	}
	var keys *wire.Keys
	if d.keys != nil && !d.keysSent[gate] {
		keys, d.keysSent[gate] = d.keys, true
	}
	d.mu.Unlock()
	if keys != nil {
		go func() {
			if err := d.sendKeys(context.Background(), gate, *keys); err != nil {
				d.log.Warn("keys not sent", "gate", gate, "err", err)
				d.mu.Lock()
				delete(d.keysSent, gate)
				d.mu.Unlock()
			}
		}()
	}
	switch {
	case delta != nil:
		go func() {
			if err := d.pub.Publish(context.Background(), wire.GateTopic(school, gate, wire.KindRoster), 1, false, wire.Encode(*delta)); err != nil {
				d.log.Warn("roster delta not sent; the gate's next telemetry asks again", "gate", gate, "err", err)
				return
			}
			d.log.Info("roster delta sent", "gate", gate, "from", delta.From, "to", delta.Version, "changes", len(delta.People)+len(delta.Remove))
		}()
	case need:
		go d.sendRoster(context.Background(), school, gate, version, people)
	}
	d.mu.Lock()
	if d.known == nil {
		d.known = map[string]bool{}
	}
	d.known[gate] = true
	var cfg *wire.Config
	if c := d.configFor(gate); c != nil && t.ConfigVersion != c.Version && time.Since(d.cfgSent[gate]) > 30*time.Second {
		if d.cfgSent == nil {
			d.cfgSent = map[string]time.Time{}
		}
		cfg, d.cfgSent[gate] = c, time.Now()
	}
	var rev *wire.Revocations
	if d.revoked != nil && !d.revSent[gate] {
		rev, d.revSent[gate] = d.revoked, true
	}
	d.mu.Unlock()
	if rev != nil {
		go d.sendRevocations(gate, *rev)
	}
	if cfg != nil {
		go func() {
			if err := d.pub.Publish(context.Background(), wire.GateTopic(school, gate, wire.KindConfig), 1, false, wire.Encode(*cfg)); err != nil {
				d.log.Warn("config not sent; the gate's next telemetry asks again", "gate", gate, "err", err)
				return
			}
			d.log.Info("config sent", "gate", gate, "version", cfg.Version)
		}()
	}
}

func (d *downlink) sendRoster(ctx context.Context, school, gate string, version uint64, people []journal.Person) {
	chunks := max(1, (len(people)+chunkPeople-1)/chunkPeople)
	for i := range chunks {
		part := people[i*chunkPeople : min(len(people), (i+1)*chunkPeople)]
		m := wire.Roster{V: wire.Version, Kind: "snapshot", Version: version, Chunk: i + 1, Chunks: chunks, People: part}
		if err := d.pub.Publish(ctx, wire.GateTopic(school, gate, wire.KindRoster), 1, false, wire.Encode(m)); err != nil {
			d.log.Warn("roster not sent; the gate's next telemetry asks again", "gate", gate, "err", err)
			return
		}
	}
	d.log.Info("roster sent", "gate", gate, "version", version, "people", len(people), "chunks", chunks)
}

// sendKeys publishes the key set retained for gate.
func (d *downlink) sendKeys(ctx context.Context, gate string, k wire.Keys) error {
	return d.pub.Publish(ctx, wire.GateTopic(d.school, gate, wire.KindKeys), 1, true, wire.Encode(k))
}
