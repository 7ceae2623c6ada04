package gatelink

import (
	"errors"

	"campusgate/gate/journal"
	"campusgate/sync/wire"
)

// maxAssemblies bounds the snapshots being put together at once: a server
// that starts a new snapshot before finishing the old one leaves parts behind.
const maxAssemblies = 4

// apply decodes and applies one downlink message other than an ack. It
// reports whether it changed what the gate holds (so telemetry should tell
// the server at once).
func (l *Link) apply(m downMsg) bool {
	var err error
	changed := false
	switch m.kind {
	case wire.KindRoster:
		var r wire.Roster
		if r, err = wire.DecodeRoster(m.payload); err == nil {
			changed, err = l.roster(r)
		}
	case wire.KindKeys:
		var k wire.Keys
		if k, err = wire.DecodeKeys(m.payload); err == nil && l.o.Handlers.Keys != nil {
			err, changed = l.o.Handlers.Keys(k), true
		}
	case wire.KindRevocations:
		var r wire.Revocations
		if r, err = wire.DecodeRevocations(m.payload); err == nil && l.o.Handlers.Revocations != nil {
			err, changed = l.o.Handlers.Revocations(r), true
		}
	case wire.KindConfig:
		var c wire.Config
		if c, err = wire.DecodeConfig(m.payload); err == nil && l.o.Handlers.Config != nil {
			err, changed = l.o.Handlers.Config(c), true
		}
	case wire.KindCmd:
		var c wire.Cmd
		if c, err = wire.DecodeCmd(m.payload); err == nil && l.o.Handlers.Command != nil {
			err = l.o.Handlers.Command(c)
		}
	}
	if err != nil {
		l.bad.Add(1)
		l.log.Warn("downlink message refused", "kind", m.kind, "err", err)
		return errors.Is(err, journal.ErrVersion) // out of step: telemetry tells the server our version
	}
	return changed
}

// maxAhead bounds the roster deltas held for the version they start from.
const maxAhead = 64

// roster applies a delta, or a snapshot once all its chunks are in; then
// the deltas held for the version it leaves.
func (l *Link) roster(r wire.Roster) (bool, error) {
	changed, err := l.rosterOne(r)
	if !changed {
		return false, err
	}
	for {
		m, err := l.o.Store.Meta()
		if err != nil {
			return true, err
		}
		l.mu.Lock()
		next, ok := l.ahead[m.RosterVersion]
		for from := range l.ahead {
			if from <= m.RosterVersion {
				delete(l.ahead, from) // applied now, or passed by a snapshot
			}
		}
		l.mu.Unlock()
		if !ok {
			return true, nil
		}
		if err := l.applyDelta(next); err != nil {
			return true, err
		}
	}
}

func (l *Link) rosterOne(r wire.Roster) (bool, error) {
	if r.Kind == "delta" {
		err := l.applyDelta(r)
		if !errors.Is(err, journal.ErrVersion) {
			return err == nil, err
		}
		m, merr := l.o.Store.Meta()
		l.mu.Lock()
		defer l.mu.Unlock()
		if merr != nil || r.From <= m.RosterVersion || len(l.ahead) >= maxAhead {
			return false, err
		}
		l.ahead[r.From] = r
		l.log.Info("roster delta held for the version it starts from", "from", r.From, "to", r.Version, "have", m.RosterVersion)
		return true, nil // out of step meanwhile: telemetry tells the server the version held
	}
	l.mu.Lock()
	a := l.chunks[r.Version]
	if a == nil || a.chunks != r.Chunks {
		if len(l.chunks) >= maxAssemblies {
			clear(l.chunks)
		}
		a = &assembly{chunks: r.Chunks, parts: map[int][]journal.Person{}}
		l.chunks[r.Version] = a
	}
	a.parts[r.Chunk] = r.People
	complete := len(a.parts) == a.chunks
	if complete {
		delete(l.chunks, r.Version)
	}
	l.mu.Unlock()
	if !complete {
		return false, nil
	}
	var all []journal.Person
	for i := 1; i <= a.chunks; i++ {
		all = append(all, a.parts[i]...)
	}
	if err := l.o.Store.ReplaceRoster(r.Version, all); err != nil {
		return false, err
	}
	l.log.Info("roster snapshot applied", "version", r.Version, "people", len(all), "chunks", a.chunks)
	return true, nil
}

func (l *Link) applyDelta(r wire.Roster) error {
	if err := l.o.Store.ApplyRosterDelta(r.From, r.Version, r.People, r.Remove); err != nil {
		return err
	}
	l.log.Info("roster delta applied", "from", r.From, "to", r.Version, "upserts", len(r.People), "removals", len(r.Remove))
	return nil
}
