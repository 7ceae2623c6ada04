// Package console serves the guard console of a gate box: a small web page that
// shows who is at the gate, the live flow, the last decisions and the health of
// the devices, with the guard's actions (admit, deny, handheld reading,
// emergency open). Live updates are server-sent events.
//
// It also serves the person's screen at /screen: a full-screen page for the
// box's display facing the gate, with a reduced stream of its own (screen.go).
//
// It listens on localhost by default. From the LAN every request but the
// person's screen needs the guard's id and PIN (HTTP basic authentication against a bcrypt hash), and
// state-changing requests are protected against cross-site forgery by
// net/http's CrossOriginProtection.
package console

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"campusgate/gate"
	"campusgate/gate/journal"
)

// Flow is what the console needs of the gate's flow.
type Flow interface {
	Subscribe() (<-chan gate.Event, func())
	Current() gate.Event
	Guard(ctx context.Context, a gate.GuardAction) error
}

// The flow's other guard work, when it has it (gate.Flow does): walk-in
// visitors, and handheld readings at a checkpoint.
type walkIner interface {
	WalkIn(v gate.WalkInVisitor) (string, error)
}

// sensorJudge is the flow's judgement of the thermometer over time.
type sensorJudge interface {
	SensorStatus() gate.SensorStatus
}

type handhelder interface {
	Handheld(ctx context.Context, code string, readingC float64, guardID string) (journal.Entry, error)
}

// Recent gives the last decisions from the journal. If it also has
// Person(id) (the journal does), the table shows names from the roster.
type Recent interface {
	Last(n int) ([]journal.Entry, error)
	Backlog() (int, error)
}

type roster interface {
	Person(id string) (journal.Person, bool, error)
}

// Presenter sends one simulated person through the gate: it exists only in
// simulation mode.
type Presenter interface {
	Present(ctx context.Context, code string, tempC float64) (gate.Event, error)
}

// Opts configures the console.
type Opts struct {
	GateID    string
	PINHash   string                   // bcrypt hash; required for requests from beyond loopback
	Health    func() map[string]string // device name → "ok" or what is wrong
	Presenter Presenter                // nil outside simulation
	// Checkpoint shows the midday check's form (handheld readings typed in).
	Checkpoint bool
	Logger     *slog.Logger
	Now        func() time.Time // nil: time.Now (the PIN lockout's clock)
}

// Server is the console's HTTP handler.
type Server struct {
	flow   Flow
	recent Recent
	opts   Opts
	log    *slog.Logger
	mux    *http.ServeMux
	h      http.Handler
	pins   *pinGuard
	// screens bounds the open person's-screen streams: they need no PIN,
	// so anyone on the LAN could otherwise hold any number open.
	screens chan struct{}
}

//go:embed page.html
var pageHTML string

// hold.js is the decision-holding script both pages share.
//
//go:embed hold.js
var holdJS string

var page = template.Must(template.Must(template.New("page").Parse(pageHTML)).New("hold").Parse(holdJS)).Lookup("page")

// New returns the console handler.
func New(flow Flow, recent Recent, opts Opts) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{flow: flow, recent: recent, opts: opts, log: opts.Logger, mux: http.NewServeMux(), screens: make(chan struct{}, maxScreens),
		pins: newPINGuard(opts.PINHash, opts.Now)}
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET /events", s.events)
	s.mux.HandleFunc("GET /api/status", s.status)
	s.mux.HandleFunc("POST /api/guard", s.guard)
	s.mux.HandleFunc("POST /api/visitor", s.walkIn)
	s.mux.HandleFunc("POST /api/handheld", s.handheld)
	if opts.Presenter != nil {
		s.mux.HandleFunc("POST /api/sim/present", s.present)
	}
	cop := http.NewCrossOriginProtection()
	// The person's screen is outside the guard's PIN: it shows only what the
	// person at the gate sees anyway (screen.go).
	root := http.NewServeMux()
	root.HandleFunc("GET /screen", s.screenPage)
	root.HandleFunc("GET /screen/events", s.screenEvents)
	root.Handle("/", cop.Handler(s.auth(s.mux)))
	s.h = root
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// auth lets loopback through (the box's own screen) and asks everyone else for
// the guard PIN.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isLoopback(r) {
			next.ServeHTTP(w, r)
			return
		}
		user, pin, ok := r.BasicAuth()
		ip, _, _ := net.SplitHostPort(r.RemoteAddr)
		var wait time.Duration
		if ok {
			ok, wait = s.pins.check(ip, user, pin)
		}
		switch {
		case wait > 0:
			s.log.Warn("guard console: too many wrong PINs, client locked out", "client", ip, "for", wait)
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)))
			http.Error(w, "口令错误次数过多，请稍后再试 · too many wrong PINs, try again later", http.StatusTooManyRequests)
			return
		case !ok:
			w.Header().Set("WWW-Authenticate", `Basic realm="campusgate guard console", charset="UTF-8"`)
			http.Error(w, "门卫口令错误 · guard id and PIN required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// guardID is who acts: the basic-auth user from the LAN, or what the form says on the box itself.
func guardID(r *http.Request, given string) string {
	if user, _, ok := r.BasicAuth(); ok && !isLoopback(r) {
		return user
	}
	return given
}

type statusView struct {
	GateID  string            `json:"gate_id"`
	Current gate.Event        `json:"current"`
	Recent  []recentRow       `json:"recent"`
	Backlog int               `json:"backlog"`
	Health  map[string]string `json:"health"`
	// Sensor is the gate's judgement of the thermometer (not responding,
	// stuck, drift), when the flow has one.
	Sensor *gate.SensorStatus `json:"sensor,omitempty"`
	Sim    bool               `json:"simulation"`
	// Checkpoint: this box does the midday check.
	Checkpoint bool `json:"checkpoint"`
}

// recentRow is a journal entry as the guard reads it: with the name and
// class from the roster and the reason in words.
type recentRow struct {
	journal.Entry
	Name       string    `json:"name,omitempty"`
	Class      string    `json:"class,omitempty"`
	ReasonText gate.Text `json:"reason_text"`
}

func (s *Server) statusNow() (statusView, error) {
	v := statusView{GateID: s.opts.GateID, Current: s.flow.Current(), Sim: s.opts.Presenter != nil, Checkpoint: s.opts.Checkpoint}
	last, err := s.recent.Last(20)
	if err != nil {
		return v, err
	}
	names, _ := s.recent.(roster)
	for _, e := range last {
		row := recentRow{Entry: e, ReasonText: gate.Reason(e.Reason).Message()}
		if e.Reason == string(gate.ReasonOK) {
			row.ReasonText = gate.Text{ZH: "正常", EN: "normal"}
		}
		if names != nil && e.PersonID != "" {
			if p, ok, err := names.Person(e.PersonID); err == nil && ok {
				row.Name, row.Class = p.Name, p.Class
			}
		}
		v.Recent = append(v.Recent, row)
	}
	if v.Backlog, err = s.recent.Backlog(); err != nil {
		return v, err
	}
	if s.opts.Health != nil {
		v.Health = s.opts.Health()
	}
	if j, ok := s.flow.(sensorJudge); ok {
		st := j.SensorStatus()
		v.Sensor = &st
		if st.State != gate.SensorOK {
			if v.Health == nil {
				v.Health = map[string]string{}
			}
			v.Health["sensor"] = st.String()
		}
	}
	return v, nil
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	v, err := s.statusNow()
	if err != nil {
		s.log.Error("console status", "err", err)
		http.Error(w, "journal: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := page.Execute(w, v); err != nil {
		s.log.Warn("console page", "err", err)
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	v, err := s.statusNow()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// events streams the flow's events as server-sent events.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	s.stream(w, r, "flow", func(ev gate.Event) any { return ev })
}

// stream sends the flow's events, each as view makes it, as server-sent
// events named name, until the client goes away.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, name string, view func(gate.Event) any) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ch, cancel := s.flow.Subscribe()
	defer cancel()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
		case ev, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(view(ev)) // events and their views always marshal
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func (s *Server) guard(w http.ResponseWriter, r *http.Request) {
	var a gate.GuardAction
	if err := decodeJSON(r, &a); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	a.GuardID = guardID(r, a.GuardID)
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	err := s.flow.Guard(ctx, a)
	s.log.Info("guard action", "kind", a.Kind, "guard", a.GuardID, "reason", a.Reason, "err", err)
	switch {
	case errors.Is(err, gate.ErrNobodyReferred):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"ok": "true"})
	}
}

// walkIn registers a walk-in visitor, who then goes to the sensor.
func (s *Server) walkIn(w http.ResponseWriter, r *http.Request) {
	f, ok := s.flow.(walkIner)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "this gate does not register visitors"})
		return
	}
	var req struct {
		journal.VisitorInfo
		Health  string `json:"health"`
		GuardID string `json:"guard_id"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	for _, f := range []string{req.Name, req.Phone, req.Reason, req.Host} {
		if len(f) > 200 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "a field longer than 200 bytes"})
			return
		}
	}
	id, err := f.WalkIn(gate.WalkInVisitor{VisitorInfo: req.VisitorInfo, Health: req.Health, GuardID: guardID(r, req.GuardID)})
	s.log.Info("walk-in visitor", "id", id, "guard", guardID(r, req.GuardID), "err", err)
	switch {
	case errors.Is(err, gate.ErrBusy):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"visitor_id": id})
	}
}

// handheld records a handheld reading at a checkpoint and answers with the
// decision.
func (s *Server) handheld(w http.ResponseWriter, r *http.Request) {
	f, ok := s.flow.(handhelder)
	if !ok || !s.opts.Checkpoint {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "handheld readings are for a checkpoint (mode = \"checkpoint\")"})
		return
	}
	var req struct {
		Code     string  `json:"code"`
		ReadingC float64 `json:"reading_c"`
		GuardID  string  `json:"guard_id"`
	}
	if err := decodeJSON(r, &req); err != nil || req.Code == "" || len(req.Code) > 200 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprint("want {\"code\", \"reading_c\", \"guard_id\"}: ", err)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	e, err := f.Handheld(ctx, req.Code, req.ReadingC, guardID(r, req.GuardID))
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"decision": e.Decision, "reason": e.Reason, "person_id": e.PersonID, "seq": e.Seq,
		"message": gate.Reason(e.Reason).Message()})
}

func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("content type %q: want application/json", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request body: %w", err)
	}
	return nil
}

type presentReq struct {
	Code         string  `json:"code"`
	TemperatureC float64 `json:"temperature_c"`
}

type presentResp struct {
	Decision string      `json:"decision"`
	Reason   gate.Reason `json:"reason"`
	Message  gate.Text   `json:"message"`
	State    gate.State  `json:"state"`
	Seq      uint64      `json:"seq,omitempty"`
	BodyC    float64     `json:"body_c,omitempty"`
}

func (s *Server) present(w http.ResponseWriter, r *http.Request) {
	var req presentReq
	if err := decodeJSON(r, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if req.Code == "" && req.TemperatureC <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "a code, or a temperature for a walk-in visitor, is required"})
		return
	}
	ev, err := s.opts.Presenter.Present(r.Context(), req.Code, req.TemperatureC)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	resp := presentResp{Decision: ev.Decision, Reason: ev.Reason, Message: ev.Message, State: ev.State, Seq: ev.Seq}
	if n := len(ev.Readings); n > 0 {
		resp.BodyC = ev.Readings[n-1].BodyC
	}
	if ev.State == gate.StateReferred {
		resp.Decision = "refer"
	}
	writeJSON(w, http.StatusOK, resp)
}
