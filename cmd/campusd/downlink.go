package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/console"
	"campusgate/sync/wire"
)

// publisher is the MQTT connection as the downlink and the district feed need it.
type publisher interface {
	Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error
}

// downlink sends each gate what it lacks: the school's keys (retained, so a
// gate gets them whenever it connects), the revoked passes, its settings and
// the roster when the gate's telemetry shows an older version; and whatever
// changes to the gates heard from at once.
type downlink struct {
	pub    publisher
	log    *slog.Logger
	school string

	mu       sync.Mutex
	keys     *wire.Keys // nil: the school's keys are not managed here
	keysSent map[string]bool
	config   *wire.Config            // the school's settings
	gateCfg  map[string]*wire.Config // a gate's own settings, over the school's
	merged   map[string]*wire.Config // gateCfg over config, merged when either changes
	cfgSent  map[string]time.Time
	revoked  *wire.Revocations
	revSent  map[string]bool
	version  uint64
	people   []journal.Person
	history  []rosterVersion         // the last versions, oldest first: a gate a few behind gets a delta
	deltas   map[uint64]*wire.Roster // this version's deltas, by the version they start from
	gateHas  map[string]uint64       // the gates heard from: the roster version each last reported
	sent     map[string]time.Time    // gate → when a roster was last sent

	sends sends
}

func newDownlink(pub publisher, log *slog.Logger, school string) *downlink {
	return &downlink{pub: pub, log: log, school: school, keysSent: map[string]bool{}, gateCfg: map[string]*wire.Config{},
		merged: map[string]*wire.Config{}, cfgSent: map[string]time.Time{}, revSent: map[string]bool{},
		deltas: map[uint64]*wire.Roster{}, gateHas: map[string]uint64{}, sent: map[string]time.Time{},
		sends: sends{again: map[sendKey]bool{}}}
}

// sendKey is one gate's downlink of one kind.
type sendKey struct {
	gate string
	kind wire.Kind
}

// sends runs each gate's sends of one kind one at a time, and one asked for
// while another runs once more after it. Each send reads what is current
// when it starts, so the last to reach the broker is the newest: sent from
// a goroutine each, an older settings or revocations document could be
// published after a newer one, be the one retained, and be what the gate
// holds.
type sends struct {
	mu    sync.Mutex
	again map[sendKey]bool // running; true: run once more after
}

func (s *sends) do(k sendKey, send func()) {
	s.mu.Lock()
	if _, running := s.again[k]; running {
		s.again[k] = true
		s.mu.Unlock()
		return
	}
	s.again[k] = false
	s.mu.Unlock()
	go func() {
		for {
			send()
			s.mu.Lock()
			if !s.again[k] {
				delete(s.again, k)
				s.mu.Unlock()
				return
			}
			s.again[k] = false
			s.mu.Unlock()
		}
	}()
}

// send sends gate its current document of kind, soon.
func (d *downlink) send(gate string, kind wire.Kind) {
	d.sends.do(sendKey{gate, kind}, func() {
		if kind == wire.KindRoster {
			d.sendRosterTo(gate)
		} else {
			d.sendDoc(gate, kind)
		}
	})
}

// sendDoc publishes gate's current settings, keys or revocations, a whole
// document each, retained: a gate that was away gets the newest when it
// subscribes again, after whatever the broker resends it in whatever order.
// If it fails, the gate's next telemetry asks again: keys and revocations
// are marked unsent, settings go again once their version differs 30 s on.
func (d *downlink) sendDoc(gate string, kind wire.Kind) {
	var doc any // a pointer, never changed once set: the setters replace it
	var mark map[string]bool
	d.mu.Lock()
	switch kind {
	case wire.KindConfig:
		if c := d.configFor(gate); c != nil {
			doc = c
		}
	case wire.KindKeys:
		if d.keys != nil {
			doc, mark = d.keys, d.keysSent
		}
	case wire.KindRevocations:
		if d.revoked != nil {
			doc, mark = d.revoked, d.revSent
		}
	default:
		panic("no downlink document of kind " + string(kind))
	}
	d.mu.Unlock()
	if doc == nil {
		return
	}
	if err := d.pub.Publish(context.Background(), wire.GateTopic(d.school, gate, kind), 1, true, wire.Encode(doc)); err != nil {
		d.log.Warn("downlink document not sent; the gate's next telemetry asks again", "kind", kind, "gate", gate, "err", err)
		if mark != nil {
			d.mu.Lock()
			delete(mark, gate)
			d.mu.Unlock()
		}
		return
	}
	d.log.Info("downlink document sent", "kind", kind, "gate", gate)
}

// heard marks every gate heard from with mark (under d.mu) and returns them.
func (d *downlink) heard(mark func(gate string)) []string {
	gates := make([]string, 0, len(d.gateHas))
	for g := range d.gateHas {
		mark(g)
		gates = append(gates, g)
	}
	return gates
}

// setConfig sets the school's settings for every gate, and sends them at
// once to the gates heard from.
func (d *downlink) setConfig(c wire.Config) {
	d.mu.Lock()
	d.config, d.cfgSent = &c, map[string]time.Time{}
	for g := range d.gateCfg {
		d.merge(g)
	}
	gates := d.heard(func(g string) { d.cfgSent[g] = time.Now() })
	d.mu.Unlock()
	for _, g := range gates {
		d.send(g, wire.KindConfig)
	}
}

// setGateConfig sets one gate's settings (over the school's), and sends
// them at once if the gate has been heard from.
func (d *downlink) setGateConfig(gate string, c wire.Config) {
	d.mu.Lock()
	d.gateCfg[gate] = &c
	d.merge(gate)
	delete(d.cfgSent, gate)
	_, known := d.gateHas[gate]
	if known {
		d.cfgSent[gate] = time.Now()
	}
	d.mu.Unlock()
	if known {
		d.send(gate, wire.KindConfig)
	}
}

// merge puts the gate's own settings over the school's (under d.mu), once a
// change rather than at every telemetry.
func (d *downlink) merge(gate string) {
	g, sc := d.gateCfg[gate], d.config
	if sc == nil {
		d.merged[gate] = g
		return
	}
	text, err := console.MergeConfigs(sc.TOML, g.TOML)
	if err != nil {
		d.log.Error("gate settings not merged with the school's; the gate's alone are sent", "gate", gate, "err", err)
		d.merged[gate] = g
		return
	}
	d.merged[gate] = &wire.Config{V: wire.Version, Version: sc.Version + g.Version, TOML: text}
}

// configFor is what gate is to hold: its own settings over the school's.
func (d *downlink) configFor(gate string) *wire.Config {
	if c, ok := d.merged[gate]; ok {
		return c
	}
	return d.config
}

// setRevocations sets the passes every gate must refuse, and sends them at
// once to the gates heard from (the others get them when they are).
func (d *downlink) setRevocations(r wire.Revocations) {
	d.mu.Lock()
	d.revoked, d.revSent = &r, map[string]bool{}
	gates := d.heard(func(g string) { d.revSent[g] = true })
	d.mu.Unlock()
	for _, g := range gates {
		d.send(g, wire.KindRevocations)
	}
}

func (d *downlink) setKeys(k wire.Keys) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys, d.keysSent = &k, map[string]bool{}
}

// chunkPeople keeps a roster message well under wire.MaxMessage: a person is
// ~150 bytes of JSON.
const chunkPeople = 500

// rosterHistory is how many versions back a gate still gets a delta: the
// morning reports change the roster every few seconds before school.
const rosterHistory = 32

type rosterVersion struct {
	version uint64
	people  []journal.Person
}

// setRoster makes version the roster, and sends the gates heard from what
// they lack at once (a delta from the version they have, when it is recent).
func (d *downlink) setRoster(version uint64, people []journal.Person) {
	d.mu.Lock()
	if version <= d.version {
		d.mu.Unlock()
		return
	}
	d.history = append(d.history, rosterVersion{version, people})
	if len(d.history) > rosterHistory {
		d.history = d.history[len(d.history)-rosterHistory:]
	}
	d.version, d.people = version, people
	d.sent, d.deltas = map[string]time.Time{}, map[uint64]*wire.Roster{}
	gates := d.heard(func(g string) { d.sent[g] = time.Now() })
	d.mu.Unlock()
	for _, g := range gates {
		d.send(g, wire.KindRoster)
	}
}

// sendRosterTo sends gate the current roster: a delta from the version it
// reported if that is in the history and the delta is small, else a snapshot.
// The delta is worked out outside the lock (the versions never change), once
// for all the gates that start from the same version.
func (d *downlink) sendRosterTo(gate string) {
	d.mu.Lock()
	version, people, has := d.version, d.people, d.gateHas[gate]
	delta, done := d.deltas[has]
	var from []journal.Person
	for _, h := range d.history {
		if h.version == has && has != version {
			from = h.people
		}
	}
	d.mu.Unlock()
	if !done && from != nil {
		if dl := rosterDelta(has, version, from, people); len(dl.People)+len(dl.Remove) <= chunkPeople {
			delta = dl
		}
		d.mu.Lock()
		if d.version == version {
			d.deltas[has] = delta
		}
		d.mu.Unlock()
	}
	if delta == nil {
		d.sendRoster(context.Background(), d.school, gate, version, people)
		return
	}
	if err := d.pub.Publish(context.Background(), wire.GateTopic(d.school, gate, wire.KindRoster), 1, false, wire.Encode(*delta)); err != nil {
		d.log.Warn("roster delta not sent; the gate's next telemetry asks again", "gate", gate, "err", err)
		return
	}
	d.log.Info("roster delta sent", "gate", gate, "from", delta.From, "to", delta.Version, "changes", len(delta.People)+len(delta.Remove))
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

// telemetry is ingest's OnTelemetry: it must not block, so what the gate
// lacks is sent from goroutines.
func (d *downlink) telemetry(school, gate string, t wire.Telemetry) {
	d.mu.Lock()
	d.gateHas[gate] = t.RosterVersion
	var kinds []wire.Kind
	if d.version > 0 && t.RosterVersion != d.version && time.Since(d.sent[gate]) > 30*time.Second {
		d.sent[gate] = time.Now()
		kinds = append(kinds, wire.KindRoster)
	}
	if d.keys != nil && !d.keysSent[gate] {
		d.keysSent[gate] = true
		kinds = append(kinds, wire.KindKeys)
	}
	if c := d.configFor(gate); c != nil && t.ConfigVersion != c.Version && time.Since(d.cfgSent[gate]) > 30*time.Second {
		d.cfgSent[gate] = time.Now()
		kinds = append(kinds, wire.KindConfig)
	}
	if d.revoked != nil && !d.revSent[gate] {
		d.revSent[gate] = true
		kinds = append(kinds, wire.KindRevocations)
	}
	d.mu.Unlock()
	for _, k := range kinds {
		d.send(gate, k)
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
