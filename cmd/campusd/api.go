package main

import (
	"context"
	"crypto/ed25519"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"campusgate/sync/ingest"
	"campusgate/sync/store"
	"campusgate/sync/wire"
)

// api is campusd's HTTP side. The school console proper (nurses, admins,
// head teachers, accounts) arrives with the console issue; until then this is
// a read-only overview page and JSON API, on loopback by default.
type api struct {
	pub       publisher
	cmdKey    ed25519.PrivateKey
	cmdKID    string
	db        *store.DB
	in        *ingest.Ingest
	hub       *hub
	school    string
	connected func() bool
}

//go:embed index.html
var indexHTML string

var indexPage = template.Must(template.New("index").Parse(indexHTML))

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.index)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /api/gates", a.gates)
	mux.HandleFunc("GET /api/entries", a.entries)
	mux.HandleFunc("GET /api/alerts", a.alerts)
	mux.HandleFunc("GET /api/alerts/stream", a.stream)
	mux.HandleFunc("GET /api/stats", a.stats)
	mux.HandleFunc("GET /api/gaps", a.gaps)
	mux.HandleFunc("POST /api/gates/{gate}/cmd", a.command)
	return http.NewCrossOriginProtection().Handler(mux)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func (a *api) healthz(w http.ResponseWriter, r *http.Request) {
	if !a.connected() {
		fail(w, http.StatusServiceUnavailable, fmt.Errorf("not connected to the MQTT broker"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *api) gates(w http.ResponseWriter, r *http.Request) {
	gs, err := a.db.Gates(r.Context())
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, gs)
}

func (a *api) entries(w http.ResponseWriter, r *http.Request) {
	q := store.Query{Gate: r.FormValue("gate"), Person: r.FormValue("person"), Decision: r.FormValue("decision"), Reason: r.FormValue("reason")}
	var err error
	parseTime := func(name string) time.Time {
		v := r.FormValue(name)
		if v == "" || err != nil {
			return time.Time{}
		}
		t, e := time.Parse(time.RFC3339, v)
		if e != nil {
			if t, e = time.ParseInLocation(time.DateOnly, v, time.Local); e != nil {
				err = fmt.Errorf("%s=%q: want RFC 3339 or YYYY-MM-DD", name, v)
			}
		}
		return t
	}
	q.From, q.To = parseTime("from"), parseTime("to")
	if v := r.FormValue("limit"); v != "" && err == nil {
		if q.Limit, err = strconv.Atoi(v); err != nil {
			err = fmt.Errorf("limit=%q: want a number", v)
		}
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	es, err := a.db.Entries(r.Context(), q)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, es)
}

func (a *api) alerts(w http.ResponseWriter, r *http.Request) {
	as, err := a.db.Alerts(r.Context(), r.FormValue("open") == "1", 200)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, as)
}

func (a *api) gaps(w http.ResponseWriter, r *http.Request) {
	g, err := a.db.Gaps(r.Context(), r.FormValue("gate"))
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (a *api) stats(w http.ResponseWriter, r *http.Request) {
	day := time.Now().Format(time.DateOnly)
	c, err := a.db.CountDay(r.Context(), day)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ingest": a.in.Stats(), "today": c, "broker_connected": a.connected()})
}

// stream sends new alerts as server-sent events.
func (a *api) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ch, cancel := a.hub.subscribe()
	defer cancel()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	_, _ = fmt.Fprint(w, ": connected\n\n")
	_ = rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			_, _ = fmt.Fprint(w, ": keepalive\n\n")
		case a := <-ch:
			b, _ := json.Marshal(a)
			if _, err := fmt.Fprintf(w, "event: alert\ndata: %s\n\n", b); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func (a *api) index(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	gs, err := a.db.Gates(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	es, err := a.db.Entries(ctx, store.Query{Limit: 30})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	as, err := a.db.Alerts(ctx, true, 20)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = indexPage.Execute(w, map[string]any{"School": a.school, "Gates": gs, "Entries": es, "Alerts": as, "Now": time.Now()})
}

// hub fans alerts out to the live streams.
type hub struct {
	mu   sync.Mutex
	subs map[chan wire.Alert]struct{}
}

func newHub() *hub { return &hub{subs: map[chan wire.Alert]struct{}{}} }

func (h *hub) subscribe() (<-chan wire.Alert, func()) {
	c := make(chan wire.Alert, 16)
	h.mu.Lock()
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	return c, func() { h.mu.Lock(); delete(h.subs, c); h.mu.Unlock() }
}

func (h *hub) alert(_ string, a wire.Alert) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- a:
		default: // a stalled browser misses an alert rather than stalling ingest; the page reloads the list
		}
	}
}

// command signs a command for one gate and sends it. Until the school console
// has accounts (the console issue) it is taken only from this machine.
func (a *api) command(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		fail(w, http.StatusForbidden, fmt.Errorf("commands are taken only from the server itself until the console has accounts"))
		return
	}
	gate := r.PathValue("gate")
	if err := wire.ValidGateID(gate); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	var req struct {
		Kind   wire.CmdKind `json:"kind"`
		By     string       `json:"by"`
		Reason string       `json:"reason"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return
	}
	if (req.Kind != wire.CmdOpen && req.Kind != wire.CmdResync) || strings.TrimSpace(req.By) == "" || strings.TrimSpace(req.Reason) == "" {
		fail(w, http.StatusBadRequest, fmt.Errorf(`want {"kind": "open"|"resync", "by": "...", "reason": "..."}`))
		return
	}
	now := time.Now()
	signed, err := wire.SignCmd(a.cmdKey, a.cmdKID, wire.CmdClaims{Kind: req.Kind, School: a.school, Gate: gate,
		IssuedAt: now, Expiry: now.Add(2 * time.Minute), By: req.By, Reason: req.Reason})
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	if err := a.pub.Publish(r.Context(), wire.GateTopic(a.school, gate, wire.KindCmd), 1, false, wire.Encode(wire.Cmd{V: wire.Version, Signed: signed})); err != nil {
		fail(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"sent": true, "expires": now.Add(2 * time.Minute)})
}
