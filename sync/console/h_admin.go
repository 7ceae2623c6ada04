package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"campusgate/gate"
	"campusgate/sync/store"
	"campusgate/sync/wire"
)

type gatesData struct {
	Gates   []store.Gate                `json:"gates"`
	Configs map[string]store.GateConfig `json:"configs"`
}

func (s *Server) gates(w http.ResponseWriter, r *http.Request, v *viewer) {
	gs, err := s.db.Gates(r.Context())
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	cfgs, err := s.db.GateConfigs(r.Context())
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	d := gatesData{Gates: gs, Configs: cfgs}
	s.respond(w, r, v, "gates", d)
}

// CheckGateConfig checks a gate settings document as a gate will (only the
// sections the school may set, every key known and in range).
func CheckGateConfig(toml string) error {
	probe := gate.DefaultConfig()
	probe.GateID = "config-check"
	_, err := probe.Overlay(toml)
	return err
}

// gateConfig stores the school's settings for one gate and sends them.
func (s *Server) gateConfig(w http.ResponseWriter, r *http.Request, v *viewer) {
	g := r.PathValue("gate")
	if err := wire.ValidGateID(g); err != nil {
		s.bad(w, r, v, err)
		return
	}
	var text string
	if isAPI(r) {
		var req struct {
			TOML string `json:"toml"`
		}
		if !s.jsonBody(w, r, v, &req, 64<<10) {
			return
		}
		text = req.TOML
	} else {
		text = strings.ReplaceAll(r.PostFormValue("toml"), "\r\n", "\n")
	}
	if len(text) > 32<<10 {
		s.bad(w, r, v, errors.New("settings: at most 32 KiB"))
		return
	}
	if err := CheckGateConfig(text); err != nil {
		s.bad(w, r, v, err)
		return
	}
	c, err := s.db.SetGateConfig(r.Context(), store.GateConfig{Gate: g, TOML: text, UpdatedBy: v.Username})
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.o.Gates.ConfigChanged(g, wire.Config{V: wire.Version, Version: c.Version, TOML: c.TOML})
	s.audit(r, v, "gate_config", g, fmt.Sprintf("version %d", c.Version))
	if isAPI(r) {
		writeJSON(w, http.StatusOK, c)
		return
	}
	back(w, r, "/gates", "gates.sent")
}

// gateCmd sends a gate a signed command (remote open, re-sync), audited.
func (s *Server) gateCmd(w http.ResponseWriter, r *http.Request, v *viewer) {
	g := r.PathValue("gate")
	if err := wire.ValidGateID(g); err != nil {
		s.bad(w, r, v, err)
		return
	}
	var req struct {
		Kind   wire.CmdKind `json:"kind"`
		Reason string       `json:"reason"`
	}
	if isAPI(r) {
		if !s.jsonBody(w, r, v, &req, 4096) {
			return
		}
	} else {
		req.Kind, req.Reason = wire.CmdKind(r.PostFormValue("kind")), strings.TrimSpace(r.PostFormValue("reason"))
	}
	if req.Kind != wire.CmdOpen && req.Kind != wire.CmdResync {
		s.bad(w, r, v, fmt.Errorf("kind %q: want open or resync", req.Kind))
		return
	}
	if strings.TrimSpace(req.Reason) == "" || !plainText(req.Reason, 200) {
		s.bad(w, r, v, errors.New("reason: required, at most 200 characters (it goes into the gate's journal)"))
		return
	}
	if err := s.o.Gates.Command(r.Context(), g, req.Kind, v.Username, req.Reason); err != nil {
		s.problem(w, r, v, http.StatusBadGateway, err)
		return
	}
	s.audit(r, v, "gate_"+string(req.Kind), g, req.Reason)
	if isAPI(r) {
		writeJSON(w, http.StatusAccepted, map[string]any{"sent": true})
		return
	}
	back(w, r, "/gates", "gates.sent")
}

type accountsData struct {
	Users   []store.User
	Roles   []string
	Classes [][2]string
}

func (s *Server) accounts(w http.ResponseWriter, r *http.Request, v *viewer) {
	us, err := s.db.Users(r.Context())
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	if isAPI(r) {
		writeJSON(w, http.StatusOK, us)
		return
	}
	cls, _ := s.db.Classes(r.Context())
	s.render(w, r, v, http.StatusOK, "accounts", accountsData{Users: us, Roles: Roles, Classes: cls})
}

type accountReq struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Role        string `json:"role"`
	Grade       string `json:"grade"`
	Class       string `json:"class"`
	Disabled    bool   `json:"disabled"`
	Reset       bool   `json:"reset_password"`
}

func (s *Server) accountReq(w http.ResponseWriter, r *http.Request) (accountReq, error) {
	var req accountReq
	if isAPI(r) {
		err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req)
		return req, err
	}
	req = accountReq{Username: strings.TrimSpace(r.PostFormValue("username")), DisplayName: strings.TrimSpace(r.PostFormValue("display_name")),
		Role: r.PostFormValue("role"), Disabled: r.PostFormValue("disabled") == "1", Reset: r.PostFormValue("reset") == "1"}
	// The class comes as "grade/class" from the select.
	if gc := r.PostFormValue("class"); gc != "" {
		req.Grade, req.Class, _ = strings.Cut(gc, "/")
	}
	return req, nil
}

// createAccount makes an account with a random first password, shown once.
func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, v *viewer) {
	req, err := s.accountReq(w, r)
	if err != nil {
		s.bad(w, r, v, fmt.Errorf("body: %w", err))
		return
	}
	u := store.User{Username: req.Username, DisplayName: req.DisplayName, Role: req.Role, Grade: req.Grade, Class: req.Class}
	if u.Role != RoleHeadTeacher {
		u.Grade, u.Class = "", ""
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Username
	}
	pw := NewPassword()
	if err := CreateAccount(r.Context(), s.db, u, pw); err != nil {
		if errors.Is(err, store.ErrExists) {
			s.problem(w, r, v, http.StatusConflict, err)
			return
		}
		s.bad(w, r, v, err)
		return
	}
	s.audit(r, v, "create_account", u.Username, u.Role+" "+u.Grade+"/"+u.Class)
	if isAPI(r) {
		writeJSON(w, http.StatusCreated, map[string]any{"user": u, "password": pw})
		return
	}
	us, _ := s.db.Users(r.Context())
	cls, _ := s.db.Classes(r.Context())
	s.renderMsg(w, r, v, http.StatusOK, "accounts", accountsData{Users: us, Roles: Roles, Classes: cls}, v.lang.Tf("accounts.created", pw), "")
}

// updateAccount changes an account, or resets its password (shown once);
// either ends its sessions.
func (s *Server) updateAccount(w http.ResponseWriter, r *http.Request, v *viewer) {
	req, err := s.accountReq(w, r)
	if err != nil {
		s.bad(w, r, v, fmt.Errorf("body: %w", err))
		return
	}
	name := r.PathValue("user")
	cur, _, err := s.db.UserForLogin(r.Context(), name)
	if err != nil {
		s.notFoundOr(w, r, v, err)
		return
	}
	u := cur
	if !req.Reset {
		if req.DisplayName != "" {
			u.DisplayName = req.DisplayName
		}
		if req.Role != "" {
			u.Role, u.Grade, u.Class = req.Role, req.Grade, req.Class
		}
		u.Disabled = req.Disabled
		if u.Role != RoleHeadTeacher {
			u.Grade, u.Class = "", ""
		}
		if err := validUser(u); err != nil {
			s.bad(w, r, v, err)
			return
		}
		if name == v.Username && (u.Disabled || u.Role != RoleAdmin) {
			s.bad(w, r, v, errors.New("you cannot disable or demote your own account"))
			return
		}
	}
	hash, pw := "", ""
	if req.Reset {
		pw = NewPassword()
		if hash, err = HashPassword(pw); err != nil {
			s.oops(w, r, v, err)
			return
		}
	}
	if err := s.db.UpdateUser(r.Context(), u, hash); err != nil {
		s.notFoundOr(w, r, v, err)
		return
	}
	what := fmt.Sprintf("%s %s/%s disabled=%v", u.Role, u.Grade, u.Class, u.Disabled)
	if req.Reset {
		what = "password reset"
	}
	s.audit(r, v, "update_account", name, what)
	if isAPI(r) {
		out := map[string]any{"user": u}
		if pw != "" {
			out["password"] = pw
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	us, _ := s.db.Users(r.Context())
	cls, _ := s.db.Classes(r.Context())
	msg := v.lang.T("gates.sent")
	if pw != "" {
		msg = v.lang.Tf("accounts.reset_done", pw)
	}
	s.renderMsg(w, r, v, http.StatusOK, "accounts", accountsData{Users: us, Roles: Roles, Classes: cls}, msg, "")
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := store.AuditQuery{Username: strings.TrimSpace(r.FormValue("user")), Action: strings.TrimSpace(r.FormValue("action"))}
	if !plainText(q.Username, 64) || !plainText(q.Action, 64) {
		s.bad(w, r, v, errors.New("user and action: plain text"))
		return
	}
	if l := r.FormValue("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 5000 {
			s.bad(w, r, v, fmt.Errorf("limit %q: want 1 to 5000", l))
			return
		}
		q.Limit = n
	}
	recs, err := s.db.AuditLog(r.Context(), q)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	if isAPI(r) {
		writeJSON(w, http.StatusOK, recs)
		return
	}
	s.render(w, r, v, http.StatusOK, "audit", struct {
		Q    store.AuditQuery
		Recs []store.AuditRecord
	}{q, recs})
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request, v *viewer) {
	c, err := s.db.CountDay(r.Context(), s.today())
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	out := map[string]any{"today": c, "broker_connected": s.o.Gates.Connected()}
	if s.o.Stats != nil {
		out["ingest"] = s.o.Stats()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) gaps(w http.ResponseWriter, r *http.Request, v *viewer) {
	g := r.FormValue("gate")
	if g != "" && wire.ValidGateID(g) != nil {
		s.bad(w, r, v, fmt.Errorf("gate %q: not a gate id", g))
		return
	}
	gaps, err := s.db.Gaps(r.Context(), g)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	writeJSON(w, http.StatusOK, gaps)
}
