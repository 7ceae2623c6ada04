package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"campusgate/sync/store"

	"golang.org/x/crypto/bcrypt"
)

var errNotFound = errors.New("not found")

// Is tells whether the viewer has one of the roles (for the templates).
func (v *viewer) Is(roles ...string) bool { return v.is(roles...) }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if !s.o.Gates.Connected() {
		fail(w, http.StatusServiceUnavailable, errors.New("not connected to the MQTT broker"))
		return
	}
	if d := s.storeDown(); d != nil {
		// Not the engine's error (file paths): this page needs no login.
		why := "it cannot be written"
		if d.Full {
			why = "its disk is full"
		}
		fail(w, http.StatusServiceUnavailable, fmt.Errorf("the database refuses the gates' entries since %s: %s", d.Since, why))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// safeNext is a local path to go to after logging in.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if v := s.viewerOf(r); v != nil {
		http.Redirect(w, r, safeNext(r.FormValue("next")), http.StatusSeeOther)
		return
	}
	s.render(w, r, nil, http.StatusOK, "login", safeNext(r.FormValue("next")))
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	u, code, err := s.login(r, strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password"))
	if err != nil {
		l := langOf(r)
		msg := l.T("login.failed")
		if code == http.StatusTooManyRequests {
			msg = l.Tf("login.locked", int(lockout/time.Minute))
		} else if code == http.StatusInternalServerError {
			s.log.Error("login failed", "err", err)
			msg = err.Error()
		}
		s.renderMsg(w, r, nil, code, "login", safeNext(r.PostFormValue("next")), "", msg)
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		code, msg := s.sessionNotStarted(r, err)
		s.renderMsg(w, r, nil, code, "login", safeNext(r.PostFormValue("next")), "", msg)
		return
	}
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) loginAPI(w http.ResponseWriter, r *http.Request) {
	var req struct{ Username, Password string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf(`body: want {"username": "...", "password": "..."}: %w`, err))
		return
	}
	u, code, err := s.login(r, req.Username, req.Password)
	if err != nil {
		fail(w, code, err)
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		code, msg := s.sessionNotStarted(r, err)
		fail(w, code, errors.New(msg))
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// sessionNotStarted is the answer to a right password whose session could
// not be stored: on a full disk, in the user's words.
func (s *Server) sessionNotStarted(r *http.Request, err error) (int, string) {
	s.log.Error("session not started", "err", err)
	if store.DiskFull(err) {
		return http.StatusInsufficientStorage, langOf(r).T("login.disk_full")
	}
	return http.StatusInternalServerError, err.Error()
}

func (s *Server) setLang(w http.ResponseWriter, r *http.Request) {
	to := r.FormValue("to")
	if to != "en" && to != "zh" {
		to = "zh"
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: to, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode})
	next := r.FormValue("next")
	if next == "" {
		next = r.Referer()
		if i := strings.Index(next, "://"); i >= 0 { // the referer's path only
			if j := strings.Index(next[i+3:], "/"); j >= 0 {
				next = next[i+3+j:]
			} else {
				next = "/"
			}
		}
	}
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, v *viewer) {
	s.endSession(w, r, v)
	if isAPI(r) {
		writeJSON(w, http.StatusOK, map[string]bool{"logged_out": true})
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, v *viewer) {
	writeJSON(w, http.StatusOK, v.User)
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	s.render(w, r, v, http.StatusOK, "password", nil)
}

func (s *Server) passwordChange(w http.ResponseWriter, r *http.Request, v *viewer) {
	var cur, next string
	if isAPI(r) {
		var req struct {
			Current string `json:"current"`
			New     string `json:"new"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		cur, next = req.Current, req.New
	} else {
		cur, next = r.PostFormValue("current"), r.PostFormValue("new")
	}
	problem := func(code int, msg string) {
		if isAPI(r) {
			fail(w, code, errors.New(msg))
			return
		}
		s.renderMsg(w, r, v, code, "password", nil, "", msg)
	}
	_, hash, err := s.db.UserForLogin(r.Context(), v.Username)
	if err != nil {
		problem(http.StatusInternalServerError, err.Error())
		return
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(cur)) != nil {
		s.audit(r, v, "password_change_failed", v.Username, "")
		problem(http.StatusForbidden, v.lang.T("password.wrong"))
		return
	}
	h, err := HashPassword(next)
	if err != nil {
		problem(http.StatusBadRequest, err.Error())
		return
	}
	if err := s.db.UpdateUser(r.Context(), v.User, h); err != nil { // ends every session of the account
		problem(http.StatusInternalServerError, err.Error())
		return
	}
	s.audit(r, v, "password_change", v.Username, "")
	if isAPI(r) {
		writeJSON(w, http.StatusOK, map[string]bool{"changed": true})
		return
	}
	back(w, r, "/login", "password.done")
}
