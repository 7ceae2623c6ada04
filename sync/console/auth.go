package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"campusgate/sync/store"

	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/bcrypt"
)

// The console's roles.
const (
	RoleAdmin       = "admin"        // everything, the accounts and the audit log
	RoleNurse       = "nurse"        // fever alerts, outcomes, the isolation room
	RoleHeadTeacher = "head_teacher" // their own class: entries, report, absences, passes
	RoleGuard       = "guard"        // the gates, today's entries, visitors
	RoleDistrict    = "district"     // aggregates only, no personal data
)

// Roles are every role, in the order the accounts page lists them.
var Roles = []string{RoleAdmin, RoleNurse, RoleHeadTeacher, RoleGuard, RoleDistrict}

const (
	sessionCookie = "cg_session"
	langCookie    = "cg_lang"
	minPassword   = 10
)

// bcryptCost: about 100 ms a login on a school server; tests lower it.
var bcryptCost = 11

// HashPassword is the bcrypt hash of a console password, which must be at
// least 10 characters (and at most bcrypt's 72 bytes).
func HashPassword(pw string) (string, error) {
	switch {
	case utf8.RuneCountInString(pw) < minPassword:
		return "", fmt.Errorf("console: a password needs at least %d characters", minPassword)
	case len(pw) > 72:
		return "", errors.New("console: a password may have at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("console: hash password: %w", err)
	}
	return string(h), nil
}

// NewPassword is a random password for a new account, to be changed.
func NewPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CreateAccount adds an account (campusd -init, the accounts page).
func CreateAccount(ctx context.Context, db *store.DB, u store.User, password string) error {
	if err := validUser(u); err != nil {
		return err
	}
	h, err := HashPassword(password)
	if err != nil {
		return err
	}
	return db.CreateUser(ctx, u, h)
}

func validUser(u store.User) error {
	switch {
	case !idPattern.MatchString(u.Username):
		return fmt.Errorf("console: user name %q: letters, digits, '.', '_' and '-', at most 32", u.Username)
	case !slices.Contains(Roles, u.Role):
		return fmt.Errorf("console: role %q: want one of %s", u.Role, strings.Join(Roles, ", "))
	case u.Role == RoleHeadTeacher && (u.Grade == "" || u.Class == ""):
		return errors.New("console: a head teacher needs a grade and a class")
	case !plainText(u.DisplayName, 64) || !plainText(u.Grade, 32) || !plainText(u.Class, 32):
		return errors.New("console: name, grade and class are plain text")
	}
	return nil
}

// viewer is who is asking, and in which language.
type viewer struct {
	store.User
	lang   lang
	token  string // the session's token hash
	remote string
}

func (v *viewer) is(roles ...string) bool { return slices.Contains(roles, v.Role) }

// scoped is the class a head teacher is limited to ("", "" for the others).
func (v *viewer) scoped() (grade, class string) {
	if v.Role == RoleHeadTeacher {
		return v.Grade, v.Class
	}
	return "", ""
}

// mayView says whether v may see or act on p: a head teacher only on their
// own class, everyone else (by role, checked by the route) on anyone.
func (v *viewer) mayView(p store.Person) bool {
	g, c := v.scoped()
	return c == "" || (p.Grade == g && p.Class == c)
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// viewerOf returns the request's session, or nil.
func (s *Server) viewerOf(r *http.Request) *viewer {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil
	}
	th := hashToken(c.Value)
	sess, err := s.db.SessionByToken(r.Context(), th, s.o.SessionIdle)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("session lookup failed", "err", err)
		}
		return nil
	}
	return &viewer{User: sess.User, lang: langOf(r), token: th, remote: remoteIP(r)}
}

// handle is a handler for the signed in.
type handle func(w http.ResponseWriter, r *http.Request, v *viewer)

// need lets in the roles named (every role if none), sending the others to
// the login page (a page) or a 401/403 (the API).
func (s *Server) need(h handle, roles ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store") // personal data: not in any cache
		v := s.viewerOf(r)
		api := strings.HasPrefix(r.URL.Path, "/api/")
		if v == nil {
			if api {
				fail(w, http.StatusUnauthorized, errors.New("not signed in (POST /api/login)"))
				return
			}
			http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if len(roles) > 0 && !v.is(roles...) {
			s.audit(r, v, "denied", r.URL.Path, "role "+v.Role)
			if api {
				fail(w, http.StatusForbidden, fmt.Errorf("the %s role may not do this", v.Role))
				return
			}
			s.render(w, r, v, http.StatusForbidden, "forbidden", nil)
			return
		}
		h(w, r, v)
	}
}

// audit records what v did; a failure is logged, not shown (the action
// itself is done).
func (s *Server) audit(r *http.Request, v *viewer, action, target, detail string) {
	rec := store.AuditRecord{Action: action, Target: target, Detail: detail, Remote: remoteIP(r)}
	if v != nil {
		rec.Username, rec.Role = v.Username, v.Role
	}
	if err := s.db.Audit(context.WithoutCancel(r.Context()), rec); err != nil {
		s.auditLost.Add(1)
		s.auditWarn.Do(func() {
			s.log.Error("audit records lost", "n", s.auditLost.Swap(0), "err", err, "action", action, "target", target)
		})
	}
}

// login checks a user name and password; it returns the account or why not.
// Five failures for one user name or from one address lock them out for
// five minutes (bcrypt is not run while locked out).
func (s *Server) login(r *http.Request, username, password string) (store.User, int, error) {
	ip := remoteIP(r)
	keys := []string{"ip:" + ip, "user:" + strings.ToLower(username)}
	if wait := s.limits.locked(keys...); wait > 0 {
		return store.User{}, http.StatusTooManyRequests, fmt.Errorf("too many failed logins: try again in %v", wait.Round(time.Second))
	}
	u, hash, err := s.db.UserForLogin(r.Context(), username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return u, http.StatusInternalServerError, err
	}
	if hash == "" {
		hash = dummyHash() // the same bcrypt work for a missing user: no timing tells which names exist
	}
	ok := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil && err == nil && !u.Disabled
	if !ok {
		s.limits.fail(keys...)
		s.audit(r, &viewer{User: store.User{Username: username}}, "login_failed", username, "")
		return u, http.StatusUnauthorized, errors.New("wrong user name or password")
	}
	s.limits.reset(keys[1])
	return u, http.StatusOK, nil
}

// dummyHash is made on the first login for a missing user, not at start-up:
// bcrypt at cost 11 would add a tenth of a second to every gatectl command.
var dummyHash = sync.OnceValue(func() string {
	h, _ := bcrypt.GenerateFromPassword([]byte("campusgate-no-such-user"), bcryptCost)
	return string(h)
})

// startSession makes a session for u and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	tok := rand.Text()
	exp := s.clock.Now().Add(s.o.SessionMax)
	if err := s.db.CreateSession(r.Context(), hashToken(tok), u.Username, exp); err != nil {
		return err
	}
	// MaxAge, not Expires: the browser's clock need not agree with ours.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", MaxAge: int(s.o.SessionMax / time.Second), HttpOnly: true,
		Secure: s.o.Secure || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	s.audit(r, &viewer{User: u}, "login", u.Username, "")
	return nil
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request, v *viewer) {
	if err := s.db.DeleteSession(r.Context(), v.token); err != nil {
		s.log.Warn("session not ended", "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.o.Secure || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	s.audit(r, v, "logout", v.Username, "")
}

// limiter counts failed logins per key and locks a key out after too many.
type limiter struct {
	clock clockwork.Clock
	mu    sync.Mutex
	fails map[string][]time.Time
	until map[string]time.Time
}

const (
	maxFailures = 5
	failWindow  = 5 * time.Minute
	lockout     = 5 * time.Minute
)

func newLimiter(c clockwork.Clock) *limiter {
	return &limiter{clock: c, fails: map[string][]time.Time{}, until: map[string]time.Time{}}
}

func (l *limiter) locked(keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	var wait time.Duration
	for _, k := range keys {
		if u, ok := l.until[k]; ok {
			if now.Before(u) {
				wait = max(wait, u.Sub(now))
			} else {
				delete(l.until, k)
			}
		}
	}
	return wait
}

func (l *limiter) fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if len(l.fails) > 10_000 { // a flood of names: forget the old ones rather than grow without end
		for k, ts := range l.fails {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) > failWindow {
				delete(l.fails, k)
			}
		}
	}
	for _, k := range keys {
		ts := slices.DeleteFunc(l.fails[k], func(t time.Time) bool { return now.Sub(t) > failWindow })
		ts = append(ts, now)
		if len(ts) >= maxFailures {
			l.until[k] = now.Add(lockout)
			ts = nil
		}
		l.fails[k] = ts
	}
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}
