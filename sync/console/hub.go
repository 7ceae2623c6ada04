package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"campusgate/sync/wire"
)

// event is what the live pages are told: a new alert, an escalation, or that
// something they show changed (they fetch it again, so a missed event costs
// nothing but a moment).
type event struct {
	Kind    string      `json:"kind"` // alert, escalated, changed
	Alert   *wire.Alert `json:"alert,omitempty"`
	AlertID int64       `json:"alert_id,omitempty"`
}

// hub fans events out to the open event streams.
type hub struct {
	mu   sync.Mutex
	subs map[chan event]struct{}
}

func newHub() *hub { return &hub{subs: map[chan event]struct{}{}} }

func (h *hub) subscribe() (<-chan event, func()) {
	c := make(chan event, 32)
	h.mu.Lock()
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	return c, func() { h.mu.Lock(); delete(h.subs, c); h.mu.Unlock() }
}

func (h *hub) publish(e event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- e:
		default: // a stalled browser misses one; its page reloads the list on the next
		}
	}
}

// events streams the hub as server-sent events. Nurses and admins get the
// fever alerts (with the person), admins the escalations too; everyone's page
// gets "changed".
func (s *Server) events(w http.ResponseWriter, r *http.Request, v *viewer) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // a proxy in front must not hold events back
	ch, cancel := s.hub.subscribe()
	defer cancel()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	_, _ = fmt.Fprint(w, "retry: 2000\n: connected\n\n")
	_ = rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			_, _ = fmt.Fprint(w, ": keepalive\n\n")
		case e := <-ch:
			switch {
			case e.Kind == "alert" && !v.is(RoleNurse, RoleAdmin):
				e = event{Kind: "changed"}
			case e.Kind == "escalated" && !v.is(RoleAdmin):
				e = event{Kind: "changed"}
			}
			b, _ := json.Marshal(e)
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Kind, b); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
