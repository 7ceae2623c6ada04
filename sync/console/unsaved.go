package console

import (
	"context"
	"log/slog"
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
// (a full disk). Each goes once it is stored: by the ingest when the gate's
// resent entry raises it again (Alert), or by storeUnsaved.
type unsaved struct {
	mu sync.Mutex
	m  map[string]store.Alert // by store.AlertKey
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
		oldest := ""
		for k, v := range u.m {
			if oldest == "" || v.ReceivedAt.Before(u.m[oldest].ReceivedAt) {
				oldest = k
			}
		}
		o := u.m[oldest].Alert
		delete(u.m, oldest)
		log.Error("fever alert neither stored nor shown any more: too many held", "held", maxUnsaved, "gate", o.Gate, "seq", o.Seq, "at", o.At)
	}
	if u.m == nil {
		u.m = map[string]store.Alert{}
	}
	u.m[k] = store.Alert{Alert: a, School: school, ReceivedAt: now}
	log.Warn("fever alert shown but not stored; held and stored again every 15 s", "gate", a.Gate, "seq", a.Seq)
	return true
}

// drop lets go of a held alert, telling whether it was held.
func (u *unsaved) drop(a wire.Alert) bool {
	if a.Kind != wire.AlertFever {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	k := store.AlertKey(a)
	_, ok := u.m[k]
	delete(u.m, k)
	return ok
}

// escalate marks the held alerts received before before, and not marked
// yet, as escalated at now, and returns them.
func (u *unsaved) escalate(before, now time.Time) []store.Alert {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []store.Alert
	for k, a := range u.m {
		if a.EscalatedAt.IsZero() && a.ReceivedAt.Before(before) {
			a.EscalatedAt = now
			u.m[k] = a
			out = append(out, a)
		}
	}
	return out
}

// list is the held alerts, newest first.
func (u *unsaved) list() []store.Alert {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]store.Alert, 0, len(u.m))
	for _, a := range u.m {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b store.Alert) int { return b.ReceivedAt.Compare(a.ReceivedAt) })
	return out
}

// storeUnsaved stores the held alerts again, and lets go of those the
// database now holds (stored now, or meanwhile by the ingest or another
// campusd). A held alert came in the gate's own alert message: its entry's
// batch stores it too, but that batch may have been stored first (and the
// gate sends it no more), and then only this finds it stored.
// The pages that show them are told to look again.
func (s *Server) storeUnsaved(ctx context.Context) {
	stored := false
	for _, a := range s.unsaved.list() {
		if _, err := s.db.InsertAlert(ctx, a.School, a.Alert); err == nil {
			stored = s.unsaved.drop(a.Alert) || stored
		}
	}
	if stored {
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
