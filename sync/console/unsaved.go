package console

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"campusgate/sync/store"
	"campusgate/sync/wire"
)

// maxUnsaved bounds the fever alerts held in memory while the database
// cannot store them: a school's fevers of days, far more than a full disk
// lasts before someone frees it.
const maxUnsaved = 500

// unsaved are fever alerts raised while the database refused to store them
// (a full disk). Each goes once it is stored and given what was known of it
// while held (store.HeldSince: when it came, whether it was escalated), by
// storeUnsaved: after storing it itself, or after the ingest or another
// campusd stored it (Alert marks it so, and it is shown from the database).
type unsaved struct {
	mu sync.Mutex
	m  map[string]heldAlert // by store.AlertKey
	// kick tells Run that one is stored: its received time and escalation
	// go to the database at once, not at the next tick.
	kick chan struct{}
}

type heldAlert struct {
	store.Alert
	stored bool // stored, by someone else: no longer shown as held
}

// hold keeps a, telling whether it was not held already.
func (u *unsaved) hold(school string, a wire.Alert, now time.Time, log *slog.Logger) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := store.AlertKey(a)
	if _, ok := u.m[k]; ok {
		return false
	}
	if len(u.m) >= maxUnsaved {
		// One stored by someone else goes first (the database has it), then
		// the oldest.
		oldest := ""
		for k, v := range u.m {
			o := u.m[oldest]
			if oldest == "" || v.stored && !o.stored || v.stored == o.stored && v.ReceivedAt.Before(o.ReceivedAt) {
				oldest = k
			}
		}
		o := u.m[oldest]
		delete(u.m, oldest)
		if !o.stored {
			log.Error("fever alert neither stored nor shown any more: too many held", "held", maxUnsaved, "gate", o.Alert.Alert.Gate, "seq", o.Alert.Alert.Seq, "at", o.Alert.Alert.At)
		}
	}
	if u.m == nil {
		u.m = map[string]heldAlert{}
	}
	u.m[k] = heldAlert{Alert: store.Alert{Alert: a, School: school, ReceivedAt: now}}
	log.Warn("fever alert shown but not stored; held and stored again every 15 s", "gate", a.Gate, "seq", a.Seq)
	return true
}

// holds tells whether a is held, stored by someone else since or not.
func (u *unsaved) holds(a wire.Alert) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.m[store.AlertKey(a)]
	return ok
}

// stored marks a held alert as stored by someone else, telling whether it
// was held and not so marked.
func (u *unsaved) stored(a wire.Alert) bool {
	if a.Kind != wire.AlertFever {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	k := store.AlertKey(a)
	h, ok := u.m[k]
	if !ok || h.stored {
		return false
	}
	h.stored = true
	u.m[k] = h
	select {
	case u.kick <- struct{}{}:
	default:
	}
	return true
}

// set puts h back as it is now (stored or not), unless it was let go.
func (u *unsaved) set(h heldAlert) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := store.AlertKey(h.Alert.Alert)
	if _, ok := u.m[k]; ok {
		u.m[k] = h
	}
}

// drop lets go of a held alert.
func (u *unsaved) drop(a wire.Alert) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, store.AlertKey(a))
}

// escalate marks the held alerts received before before, not stored and
// not marked yet, as escalated at now, and returns them.
func (u *unsaved) escalate(before, now time.Time) []store.Alert {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []store.Alert
	for k, h := range u.m {
		if !h.stored && h.EscalatedAt.IsZero() && h.ReceivedAt.Before(before) {
			h.EscalatedAt = now
			u.m[k] = h
			out = append(out, h.Alert)
		}
	}
	return out
}

// all is every held alert, stored by someone else or not.
func (u *unsaved) all() []heldAlert {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Collect(maps.Values(u.m))
}

// list is the held alerts shown as held (not stored), newest first.
func (u *unsaved) list() []store.Alert {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]store.Alert, 0, len(u.m))
	for _, h := range u.m {
		if !h.stored {
			out = append(out, h.Alert)
		}
	}
	slices.SortFunc(out, func(a, b store.Alert) int { return b.ReceivedAt.Compare(a.ReceivedAt) })
	return out
}

// storeUnsaved stores the held alerts again, gives each stored one (now, or
// meanwhile by the ingest or another campusd) what was known of it while
// held, and lets it go. A held alert whose entry's batch was stored first
// (and which its gate sends no more) is stored only by this. The pages that
// show them are told to look again.
func (s *Server) storeUnsaved(ctx context.Context) {
	changed := false
	for _, h := range s.unsaved.all() {
		a := h.Alert
		if !h.stored {
			if _, err := s.db.InsertAlert(ctx, a.School, a.Alert); err != nil {
				continue
			}
			// Shown from the database from now on, even if what follows fails.
			h.stored, changed = true, true
			s.unsaved.set(h)
		}
		stored, err := s.db.HeldSince(ctx, a.Alert, a.ReceivedAt, a.EscalatedAt)
		if err != nil {
			continue // the next look tries again
		}
		if !stored { // said stored, and is not (yet): shown as held again, and stored here
			h.stored, changed = false, true
			s.unsaved.set(h)
			continue
		}
		s.unsaved.drop(a.Alert)
		changed = true
	}
	if changed {
		s.hub.publish(event{Kind: "changed"})
	}
}

func (s *Server) unsavedViews(r *http.Request) []alertView {
	as := s.unsaved.list()
	if len(as) == 0 {
		return nil
	}
	return s.withPeople(r, as)
}
