package console

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/gate/pass"
	"campusgate/sync/store"
	"campusgate/sync/wire"

	"github.com/jonboulle/clockwork"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"golang.org/x/crypto/bcrypt"
)

var quiet = slog.New(slog.DiscardHandler)

func TestMain(m *testing.M) {
	bcryptCost = bcrypt.MinCost // the tests log in hundreds of times
	os.Exit(m.Run())
}

// fakeGates records what the console asks of the gates.
type fakeGates struct {
	mu       sync.Mutex
	rosters  []uint64
	configs  map[string]wire.Config
	revoked  []wire.Revocations
	commands []string
	school   []string
}

func (g *fakeGates) RosterChanged(v uint64, _ []journal.Person) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rosters = append(g.rosters, v)
}
func (g *fakeGates) ConfigChanged(gate string, c wire.Config) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.configs[gate] = c
}
func (g *fakeGates) Revoked(r wire.Revocations) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.revoked = append(g.revoked, r)
}
func (g *fakeGates) Command(_ context.Context, gate string, kind wire.CmdKind, by, reason string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.commands = append(g.commands, fmt.Sprintf("%s %s by %s: %s", kind, gate, by, reason))
	return nil
}
func (g *fakeGates) Connected() bool { return true }
func (g *fakeGates) SchoolConfigChanged(toml string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.school = append(g.school, toml)
}

// rig is a console on a real store with one account per role.
type rig struct {
	t      *testing.T
	db     *store.DB
	dbPath string
	s      *Server
	srv    *httptest.Server
	gates  *fakeGates
	clock  *clockwork.FakeClock
	pub    ed25519.PublicKey
	kid    string
}

const testPassword = "correct-horse-battery"

var evilName = `<script>alert("x")</script>`

func newRig(t *testing.T) *rig {
	t.Helper()
	loc, _ := time.LoadLocation("Asia/Shanghai")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 9, 1, 9, 0, 0, 0, loc))
	dbPath := filepath.Join(t.TempDir(), "campusd.db")
	db, err := store.Open(context.Background(), dbPath, &store.Opts{Location: loc, Logger: quiet, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pub, priv, _ := ed25519.GenerateKey(nil)
	is, err := pass.NewIssuer(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGates{configs: map[string]wire.Config{}}
	s, err := New(Opts{DB: db, School: "hz-001", Gates: g, Issuer: is, Clock: clock, Logger: quiet, EscalateAfter: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	r := &rig{t: t, db: db, dbPath: dbPath, s: s, srv: srv, gates: g, clock: clock, pub: pub, kid: is.KeyID()}
	ctx := context.Background()
	for _, u := range []store.User{
		{Username: "admin", DisplayName: "校长", Role: RoleAdmin},
		{Username: "nurse", DisplayName: "刘护士", Role: RoleNurse},
		{Username: "ht12", DisplayName: "王老师", Role: RoleHeadTeacher, Grade: "1", Class: "1-2"},
		{Username: "guard", DisplayName: "门卫", Role: RoleGuard},
		{Username: "district", DisplayName: "教育局", Role: RoleDistrict},
	} {
		if err := CreateAccount(ctx, db, u, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ReplaceRoster(ctx, []store.Person{
		{ID: "P1", Name: "王小明", Role: "pupil", Grade: "1", Class: "1-2", CardID: "C0101", GuardianPhone: "13800000001"},
		{ID: "P2", Name: "李华", Role: "pupil", Grade: "1", Class: "1-2", CardID: "C0102"},
		{ID: "P3", Name: evilName, Role: "pupil", Grade: "2", Class: "2-1"},
		{ID: "T1", Name: "陈老师", Role: "staff"},
	}); err != nil {
		t.Fatal(err)
	}
	// This morning: P1 in at 07:40, P3 refused with a fever at 07:45, T1 in at 07:20.
	at := func(h, m int) time.Time { return time.Date(2026, 9, 1, h, m, 0, 0, loc) }
	es := []journal.Entry{
		{V: 1, GateID: "north-1", Epoch: "e1", Seq: 1, Time: at(7, 20), PersonID: "T1", Role: "staff", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.4},
		{V: 1, GateID: "north-1", Epoch: "e1", Seq: 2, Time: at(7, 40), PersonID: "P1", Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.6},
		{V: 1, GateID: "south-1", Epoch: "e2", Seq: 1, Time: at(7, 45), PersonID: "P3", Role: "pupil", Decision: "deny", Reason: "fever", Kind: "entry", BodyC: 38.4,
			Readings: []journal.Reading{{BodyC: 38.3}, {BodyC: 38.4}}},
		{V: 1, GateID: "south-1", Epoch: "e2", Seq: 2, Time: at(7, 50), PersonID: "X9", Role: "unknown", Decision: "deny", Reason: "not_on_roster", Kind: "entry"},
	}
	if _, _, err := db.InsertEntries(ctx, "hz-001", es); err != nil {
		t.Fatal(err)
	}
	if _, err := db.InsertAlert(ctx, "hz-001", wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "south-1", At: at(7, 45), Epoch: "e2", Seq: 1,
		PersonID: "P3", BodyC: 38.4, Readings: es[2].Readings}); err != nil {
		t.Fatal(err)
	}
	return r
}

// client is a logged-in browser or API client for user.
func (r *rig) client(user string) *http.Client {
	r.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if user == "" {
		return c
	}
	resp, err := c.Post(r.srv.URL+"/api/login", "application/json", strings.NewReader(fmt.Sprintf(`{"username": %q, "password": %q}`, user, testPassword)))
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("login %s: %s", user, resp.Status)
	}
	return c
}

func (r *rig) do(c *http.Client, method, path, ctype string, body io.Reader) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.srv.URL+path, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r *rig) get(c *http.Client, path string) (int, string) { return r.do(c, "GET", path, "", nil) }

func (r *rig) postForm(c *http.Client, path string, form url.Values) (int, string) {
	return r.do(c, "POST", path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

func (r *rig) postJSON(c *http.Client, path, body string) (int, string) {
	return r.do(c, "POST", path, "application/json", strings.NewReader(body))
}

// TestAccessByRole: every page and API for every role, and for nobody.
func TestAccessByRole(t *testing.T) {
	r := newRig(t)
	pages := []struct {
		path  string
		allow []string // roles that may; the others get 403
	}{
		{"/", Roles},
		{"/alerts", []string{RoleAdmin, RoleNurse}},
		{"/alerts/1", []string{RoleAdmin, RoleNurse}},
		{"/isolation", []string{RoleAdmin, RoleNurse}},
		{"/entries", []string{RoleAdmin, RoleHeadTeacher, RoleGuard}},
		{"/entries.csv", []string{RoleAdmin, RoleHeadTeacher, RoleGuard}},
		{"/people/P1", []string{RoleAdmin, RoleHeadTeacher, RoleNurse}},
		{"/reports/daily", []string{RoleAdmin, RoleHeadTeacher, RoleDistrict}},
		{"/absences", []string{RoleAdmin, RoleHeadTeacher}},
		{"/roster", []string{RoleAdmin, RoleHeadTeacher}},
		{"/passes", []string{RoleAdmin, RoleHeadTeacher}},
		{"/passes/sheet?grade=1&class=1-2", []string{RoleAdmin, RoleHeadTeacher}},
		{"/visitors", []string{RoleAdmin, RoleGuard}},
		{"/gates", []string{RoleAdmin, RoleGuard}},
		{"/accounts", []string{RoleAdmin}},
		{"/audit", []string{RoleAdmin}},
		{"/password", Roles},
	}
	users := map[string]string{RoleAdmin: "admin", RoleNurse: "nurse", RoleHeadTeacher: "ht12", RoleGuard: "guard", RoleDistrict: "district"}
	anon := r.client("")
	for _, p := range pages {
		for _, prefix := range []string{"", "/api"} {
			path := prefix + p.path
			if prefix == "/api" && p.path == "/" {
				continue
			}
			code, _ := r.get(anon, path)
			want := http.StatusSeeOther
			if prefix == "/api" {
				want = http.StatusUnauthorized
			}
			if code != want {
				t.Errorf("nobody GET %s: %d, want %d", path, code, want)
			}
		}
	}
	for role, user := range users {
		c := r.client(user)
		for _, p := range pages {
			for _, prefix := range []string{"", "/api"} {
				path := prefix + p.path
				if prefix == "/api" && (p.path == "/" || p.path == "/passes/sheet?grade=1&class=1-2") {
					continue
				}
				code, body := r.get(c, path)
				want := http.StatusForbidden
				if slices.Contains(p.allow, role) {
					want = http.StatusOK
				}
				if code != want {
					t.Errorf("%s GET %s: %d, want %d\n%.300s", role, path, code, want, body)
				}
				if code == http.StatusOK && prefix == "" && !strings.HasSuffix(p.path, ".csv") {
					checkPage(t, role+" "+path, body)
				}
			}
		}
	}
	// Changes, likewise.
	for _, c := range []struct {
		path, body string
		allow      []string
	}{
		{"/api/alerts/1/ack", ``, []string{RoleAdmin, RoleNurse}},
		{"/api/absences", `{"person_id": "P2", "reason": "sick"}`, []string{RoleAdmin, RoleHeadTeacher}},
		{"/api/roster?dry_run=1", "id,name,role\nT1,陈老师,staff\n", []string{RoleAdmin}},
		{"/api/passes", `{"person_id": "P1", "days": 30}`, []string{RoleAdmin, RoleHeadTeacher}},
		{"/api/visitors", `{"name": "访客甲", "phone": "13900000000", "reason": "送教材", "host": "陈老师", "to": "2026-09-01T12:00:00+08:00"}`, []string{RoleAdmin, RoleGuard}},
		{"/api/gates/north-1/config", `{"toml": "[temperature]\nthreshold_c = 37.5\n"}`, []string{RoleAdmin}},
		{"/api/gates/north-1/cmd", `{"kind": "open", "reason": "救护车"}`, []string{RoleAdmin}},
		{"/api/accounts", `{"username": "new-%s", "role": "guard"}`, []string{RoleAdmin}},
	} {
		for role, user := range users {
			cl := r.client(user)
			body := c.body
			if strings.Contains(body, "%s") {
				body = fmt.Sprintf(body, role)
			}
			code, out := r.postJSON(cl, c.path, body)
			allowed := slices.Contains(c.allow, role)
			if allowed && (code < 200 || code > 299) || !allowed && code != http.StatusForbidden {
				t.Errorf("%s POST %s: %d (allowed %v)\n%.300s", role, c.path, code, allowed, out)
			}
		}
	}
}

// checkPage: a rendered page has no message key missing from the catalogue
// and no raw template output.
func checkPage(t *testing.T, what, body string) {
	t.Helper()
	for _, bad := range []string{"<no value>", "%!", "map["} {
		if strings.Contains(body, bad) {
			t.Errorf("%s: page shows %q", what, bad)
		}
	}
	for key := range catalogPrefixes {
		if i := strings.Index(body, ">"+key); i >= 0 {
			t.Errorf("%s: an untranslated key near %q", what, body[i:min(len(body), i+40)])
		}
	}
}

var catalogPrefixes = map[string]bool{"app.": true, "nav.": true, "alerts.": true, "entries.": true, "report.": true, "roster.": true,
	"passes.": true, "gates.": true, "accounts.": true, "absences.": true, "outcome.": true, "decision.": true, "role.": true}

// TestHeadTeacherSeesOnlyTheirClass: a head teacher's searches, reports,
// people and absences stay inside their class whatever the request asks.
func TestHeadTeacherSeesOnlyTheirClass(t *testing.T) {
	r := newRig(t)
	ht := r.client("ht12")
	for _, q := range []string{"", "?class=2-1", "?grade=2&class=2-1", "?person=P3", "?reason=fever"} {
		code, body := r.get(ht, "/api/entries"+q)
		var d entriesData
		if code != 200 || json.Unmarshal([]byte(body), &d) != nil {
			t.Fatalf("entries%s: %d %s", q, code, body)
		}
		for _, e := range d.Entries {
			if e.Class != "1-2" {
				t.Errorf("entries%s: a head teacher of 1-2 sees %s of %q", q, e.PersonID, e.Class)
			}
		}
		if q == "" && len(d.Entries) == 0 {
			t.Errorf("entries: a head teacher of 1-2 sees none of their class's")
		}
	}
	if code, _ := r.get(ht, "/api/people/P3"); code != http.StatusForbidden {
		t.Errorf("another class's pupil: %d", code)
	}
	if code, _ := r.get(ht, "/api/people/P1"); code != http.StatusOK {
		t.Errorf("own pupil: %d", code)
	}
	if code, _ := r.postJSON(ht, "/api/absences", `{"person_id": "P3", "reason": "sick"}`); code != http.StatusForbidden {
		t.Errorf("absence for another class: %d", code)
	}
	if code, _ := r.postJSON(ht, "/api/passes", `{"person_id": "P3"}`); code != http.StatusForbidden {
		t.Errorf("pass for another class: %d", code)
	}
	if code, _ := r.postJSON(ht, "/api/passes", `{"grade": "2", "class": "2-1"}`); code != http.StatusOK {
		t.Errorf("class passes: %d", code) // issued for their own class, whatever the body said
	}
	ps, _ := r.db.Passes(context.Background(), "P3")
	if len(ps) != 0 {
		t.Errorf("a head teacher of 1-2 issued a pass for P3: %+v", ps)
	}
	_, body := r.get(ht, "/api/reports/daily")
	var rep Report
	_ = json.Unmarshal([]byte(body), &rep)
	if len(rep.Classes) != 1 || rep.Classes[0].Class != "1-2" || rep.Classes[0].Expected != 2 || rep.Classes[0].Arrived != 1 {
		t.Errorf("head teacher's report %+v", rep.Classes)
	}
	_, body = r.get(ht, "/api/absences")
	var abs absencesData
	_ = json.Unmarshal([]byte(body), &abs)
	if len(abs.People) != 1 || abs.People[0].ID != "P2" {
		t.Errorf("head teacher's absences %+v", abs.People)
	}
	code, csvBody := r.get(ht, "/api/entries.csv?class=2-1")
	if code != 200 || strings.Contains(csvBody, "P3") {
		t.Errorf("CSV for a head teacher holds another class: %d\n%s", code, csvBody)
	}
}

// TestCrossSiteRefused: a form posted from another site does nothing.
func TestCrossSiteRefused(t *testing.T) {
	r := newRig(t)
	c := r.client("admin")
	for _, h := range []map[string]string{{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}} {
		req, _ := http.NewRequest("POST", r.srv.URL+"/gates/north-1/cmd", strings.NewReader("kind=open&reason=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST with %v: %s", h, resp.Status)
		}
	}
	if len(r.gates.commands) != 0 {
		t.Fatalf("a cross-site request opened a gate: %v", r.gates.commands)
	}
	// The same form from the console itself goes through.
	req, _ := http.NewRequest("POST", r.srv.URL+"/gates/north-1/cmd", strings.NewReader("kind=open&reason=救护车"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", r.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(r.gates.commands) != 1 || !strings.Contains(r.gates.commands[0], "by admin: 救护车") {
		t.Fatalf("same-site open: %s %v", resp.Status, r.gates.commands)
	}
}

// TestNamesAreText: a name with markup is shown as text everywhere, and a
// name that looks like a formula does not become one in Excel.
func TestNamesAreText(t *testing.T) {
	r := newRig(t)
	for _, c := range []struct{ user, path string }{
		{"admin", "/entries"}, {"admin", "/roster"}, {"nurse", "/alerts"}, {"nurse", "/isolation"}, {"admin", "/people/P3"},
		{"admin", "/alerts/1"},
	} {
		_, body := r.get(r.client(c.user), c.path)
		if strings.Contains(body, evilName) {
			t.Errorf("%s: the name's markup is in the page as markup", c.path)
		}
		if !strings.Contains(body, "&lt;script&gt;") {
			t.Errorf("%s: the name is not shown (escaped) at all", c.path)
		}
	}
	if got := csvSafe("=HYPERLINK(\"http://x\")"); !strings.HasPrefix(got, "'") {
		t.Errorf("csvSafe: %q", got)
	}
}

// TestInjectionInSearchFields: every search field refuses or searches for
// what it was given, literally; the database is untouched.
func TestInjectionInSearchFields(t *testing.T) {
	r := newRig(t)
	c := r.client("admin")
	payloads := []string{`' OR '1'='1`, `1; DROP TABLE entries; --`, `%`, `_`, `") UNION SELECT * FROM users --`, "\x00", strings.Repeat("x", 500), `<img src=x onerror=alert(1)>`}
	fields := []string{"from", "to", "gate", "person", "grade", "class", "decision", "reason", "limit"}
	for _, f := range fields {
		for _, p := range payloads {
			code, body := r.get(c, "/api/entries?"+f+"="+url.QueryEscape(p))
			if code == http.StatusOK {
				var d entriesData
				_ = json.Unmarshal([]byte(body), &d)
				if len(d.Entries) != 0 {
					t.Errorf("%s=%q matched %d entries", f, p, len(d.Entries))
				}
			} else if code != http.StatusBadRequest {
				t.Errorf("%s=%q: %d", f, p, code)
			}
			if code, _ := r.get(c, "/entries?"+f+"="+url.QueryEscape(p)); code != 200 && code != 400 {
				t.Errorf("page %s=%q: %d", f, p, code)
			}
		}
	}
	for _, f := range []string{"user", "action"} {
		for _, p := range payloads {
			if code, _ := r.get(c, "/api/audit?"+f+"="+url.QueryEscape(p)); code != 200 && code != 400 {
				t.Errorf("audit %s=%q: %d", f, p, code)
			}
		}
	}
	for _, p := range []string{"P1' --", "../../etc/passwd", "P1%00"} {
		if code, _ := r.get(c, "/api/people/"+url.PathEscape(p)); code != http.StatusBadRequest {
			t.Errorf("person %q: %d", p, code)
		}
	}
	es, err := r.db.Entries(context.Background(), store.Query{})
	if err != nil || len(es) != 4 {
		t.Fatalf("the entries after the attempts: %d %v", len(es), err)
	}
	if n, _ := r.db.CountUsers(context.Background()); n != 5 {
		t.Fatalf("%d users after the attempts", n)
	}
	// A name search is a literal substring, and finds the right person.
	_, body := r.get(c, "/api/entries?person="+url.QueryEscape("小明"))
	var d entriesData
	_ = json.Unmarshal([]byte(body), &d)
	if len(d.Entries) != 1 || d.Entries[0].PersonID != "P1" {
		t.Errorf("name search: %+v", d.Entries)
	}
}

// TestLogin: wrong passwords lock out, sessions end, pages send the
// anonymous to the login page and back.
func TestLogin(t *testing.T) {
	r := newRig(t)
	c := r.client("")
	for i := range maxFailures {
		code, _ := r.postForm(c, "/login", url.Values{"username": {"nurse"}, "password": {fmt.Sprint("wrong", i)}})
		if code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	code, body := r.postForm(c, "/login", url.Values{"username": {"nurse"}, "password": {testPassword}})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "登录失败次数过多") {
		t.Fatalf("after %d failures the right password: %d", maxFailures, code)
	}
	r.clock.Advance(lockout + time.Second)
	code, _ = r.postForm(c, "/login", url.Values{"username": {"nurse"}, "password": {testPassword}, "next": {"/alerts"}})
	if code != http.StatusSeeOther {
		t.Fatalf("after the lockout: %d", code)
	}
	if code, _ := r.get(c, "/alerts"); code != 200 {
		t.Fatalf("logged in: %d", code)
	}
	log, _ := r.db.AuditLog(context.Background(), store.AuditQuery{Action: "login_failed"})
	if len(log) != maxFailures {
		t.Errorf("%d failed logins in the audit log", len(log))
	}
	// Idle sessions end.
	r.clock.Advance(3 * time.Hour)
	if code, _ := r.get(c, "/api/me"); code != http.StatusUnauthorized {
		t.Errorf("an idle session still works: %d", code)
	}
	// Log out ends it.
	c = r.client("guard")
	if code, _ := r.postJSON(c, "/api/logout", ""); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := r.get(c, "/api/me"); code != http.StatusUnauthorized {
		t.Errorf("a logged out session still works: %d", code)
	}
	// An open redirect is not one.
	if safeNext("//evil.example/x") != "/" || safeNext("https://evil.example") != "/" || safeNext("/alerts?day=x") != "/alerts?day=x" {
		t.Error("safeNext lets a foreign address through")
	}
	// Passwords are never in the audit log.
	all, _ := r.db.AuditLog(context.Background(), store.AuditQuery{Limit: 1000})
	for _, a := range all {
		if strings.Contains(a.Detail+a.Target, testPassword) || strings.Contains(a.Detail+a.Target, "wrong") {
			t.Errorf("a password in the audit log: %+v", a)
		}
	}
}

// TestAlertWork: the nurse sees the alert live, acknowledges it and records
// outcomes; one nobody acknowledges goes to the admins.
func TestAlertWork(t *testing.T) {
	r := newRig(t)
	admin := r.client("admin")
	events := r.stream(admin)
	ctx := context.Background()
	r.clock.Advance(4 * time.Minute)
	r.s.escalate(ctx)
	if e := <-events; e != "escalated" {
		t.Fatalf("admin event %q, want escalated", e)
	}
	nurse := r.client("nurse")
	_, body := r.get(nurse, "/api/alerts")
	var d alertsData
	_ = json.Unmarshal([]byte(body), &d)
	if len(d.Open) != 1 || d.Open[0].Person.Name != evilName || d.Open[0].EscalatedAt.IsZero() {
		t.Fatalf("open alerts %+v", d.Open)
	}
	// A new alert reaches the nurse's stream with the person and temperature.
	ns := r.stream(nurse)
	r.s.Alert("hz-001", wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", PersonID: "P2", BodyC: 38.9})
	if e := <-ns; e != "alert" {
		t.Fatalf("nurse event %q", e)
	}
	guardEvents := r.stream(r.client("guard"))
	r.s.Alert("hz-001", wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", PersonID: "P2", BodyC: 38.9})
	if e := <-guardEvents; e != "changed" {
		t.Fatalf("a guard was told %q (a fever alert names a pupil: not for guards)", e)
	}
	id := d.Open[0].ID
	if code, _ := r.postForm(nurse, fmt.Sprintf("/alerts/%d/ack", id), url.Values{"back": {"/alerts"}}); code != http.StatusSeeOther {
		t.Fatalf("ack: %d", code)
	}
	if code, out := r.postJSON(nurse, fmt.Sprintf("/api/alerts/%d/outcome", id), `{"outcome": "isolated", "retest_c": 38.2, "note": "等家长"}`); code != 200 {
		t.Fatalf("outcome: %d %s", code, out)
	}
	for _, bad := range []string{`{"outcome": "vanished"}`, `{"outcome": "retest", "retest_c": 55}`, `{"outcome": "retest", "note": "` + strings.Repeat("x", 600) + `"}`} {
		if code, _ := r.postJSON(nurse, fmt.Sprintf("/api/alerts/%d/outcome", id), bad); code != http.StatusBadRequest {
			t.Errorf("outcome %s: %d", bad, code)
		}
	}
	_, body = r.get(nurse, "/api/isolation")
	var iso []alertView
	_ = json.Unmarshal([]byte(body), &iso)
	if len(iso) != 1 || iso[0].Outcome != "isolated" {
		t.Fatalf("isolation %+v", iso)
	}
	if code, _ := r.postForm(nurse, fmt.Sprintf("/alerts/%d/outcome", id), url.Values{"outcome": {"collected"}, "note": {"母亲 08:10 接回"}, "back": {"/isolation"}}); code != http.StatusSeeOther {
		t.Fatalf("collected: %d", code)
	}
	_, body = r.get(nurse, "/api/isolation")
	if strings.Contains(body, "P3") {
		t.Fatalf("collected yet in the isolation room: %s", body)
	}
	_, body = r.get(nurse, fmt.Sprintf("/api/alerts/%d", id))
	var av alertView
	_ = json.Unmarshal([]byte(body), &av)
	kinds := []string{}
	for _, e := range av.Events {
		kinds = append(kinds, e.Kind+":"+e.Outcome)
	}
	if strings.Join(kinds, " ") != "escalated: ack: outcome:isolated outcome:collected" {
		t.Fatalf("history %v", kinds)
	}
}

// stream opens /api/events and sends each event's name.
func (r *rig) stream(c *http.Client) <-chan string {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.srv.URL+"/api/events", nil)
	ctx, cancel := context.WithCancel(context.Background())
	r.t.Cleanup(cancel)
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil || resp.StatusCode != 200 {
		r.t.Fatalf("events: %v %v", resp, err)
	}
	out := make(chan string, 16)
	connected := make(chan struct{})
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		once := false
		for sc.Scan() {
			line := sc.Text()
			if !once && strings.HasPrefix(line, ": connected") {
				once = true
				close(connected)
			}
			if name, ok := strings.CutPrefix(line, "event: "); ok {
				out <- name
			}
		}
	}()
	<-connected
	return out
}

// sent is what events got until now: it publishes a marker to every open
// stream and returns what came before it on this one (the others get the
// marker too).
func (r *rig) sent(events <-chan string) []string {
	r.t.Helper()
	r.s.hub.publish(event{Kind: "marker"})
	var got []string
	for {
		select {
		case e := <-events:
			if e == "marker" {
				return got
			}
			got = append(got, e)
		case <-time.After(5 * time.Second):
			r.t.Fatalf("no marker on the stream after %v", got)
		}
	}
}

// TestRosterImport: a broken file is refused line by line with nothing
// applied; a good one replaces the roster and goes to the gates.
func TestRosterImport(t *testing.T) {
	r := newRig(t)
	c := r.client("admin")
	v1, _, _ := r.db.Roster(context.Background())
	bad := "id,name,role,grade,class\nP1,王小明,pupil,1,1-2\nP1,重复,pupil,1,1-2\nP9,,pupil,1,1-2\n"
	code, body := r.do(c, "POST", "/api/roster", "text/csv", strings.NewReader(bad))
	var d rosterData
	_ = json.Unmarshal([]byte(body), &d)
	if code != http.StatusUnprocessableEntity || len(d.Errors) != 2 || d.Errors[0].Line != 3 || d.Errors[1].Line != 4 || d.Errors[0].Message == "" {
		t.Fatalf("bad file: %d %+v", code, d.Errors)
	}
	if v, ps, _ := r.db.Roster(context.Background()); v != v1 || len(ps) != 4 {
		t.Fatalf("a refused file changed the roster: v%d %d people", v, len(ps))
	}
	good := "学号,姓名,身份,年级,班级,卡号,监护人电话\nP1,王小明,学生,1,1-2,C0101,13800000001\nP2,李华,学生,1,1-2,C0102,\nP4,新同学,学生,1,1-2,,\nT1,陈老师,老师,,,,\n"
	code, body = r.do(c, "POST", "/api/roster?dry_run=1", "text/csv", strings.NewReader(good))
	if code != 200 || !strings.Contains(body, "新增 1") {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if v, _, _ := r.db.Roster(context.Background()); v != v1 {
		t.Fatal("a dry run applied the roster")
	}
	// The page's upload, as a browser sends it.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	fw, _ := w.CreateFormFile("file", "名单.csv")
	_, _ = io.WriteString(fw, "\ufeff"+good)
	w.Close()
	code, body = r.do(c, "POST", "/roster", w.FormDataContentType(), &mp)
	if code != 200 || !strings.Contains(body, fmt.Sprintf("名单版本 %d", v1+1)) {
		t.Fatalf("upload: %d %.500s", code, body)
	}
	if len(r.gates.rosters) != 1 || r.gates.rosters[0] != v1+1 {
		t.Fatalf("roster to the gates: %v", r.gates.rosters)
	}
	if _, err := r.db.PersonByID(context.Background(), "P3"); err == nil {
		t.Fatal("P3 still on the roster after a file without them")
	}
}

// TestPasses: a pass the console issues verifies at a gate, its QR code
// decodes to it, and revoking it goes to the gates.
func TestPasses(t *testing.T) {
	r := newRig(t)
	c := r.client("admin")
	code, body := r.postJSON(c, "/api/passes", `{"person_id": "P1", "days": 30}`)
	var issued []store.PassRecord
	if code != 200 || json.Unmarshal([]byte(body), &issued) != nil || len(issued) != 1 {
		t.Fatalf("issue: %d %s", code, body)
	}
	p := issued[0]
	keys := &pass.Keyring{}
	if err := keys.Add(r.kid, r.pub); err != nil {
		t.Fatal(err)
	}
	v := &pass.Verifier{Keys: keys, Revoked: &pass.Revocations{}}
	claims, err := v.Verify(p.Code, r.clock.Now())
	if err != nil || claims.Subject != "P1" || claims.Role != pass.RolePupil || claims.Issuer != "hz-001" {
		t.Fatalf("the pass at a gate: %+v %v", claims, err)
	}
	code, img := r.get(c, "/passes/"+p.PassID+"/qr.png")
	if code != 200 {
		t.Fatalf("qr: %d", code)
	}
	if got := decodeQR(t, []byte(img)); got != p.Code {
		t.Fatalf("the QR code reads %q, want the pass %q", got, p.Code)
	}
	if code, body := r.get(c, "/passes/sheet?grade=1&class=1-2"); code != 200 || !strings.Contains(body, p.PassID) {
		t.Fatalf("sheet: %d", code)
	}
	if code, _ := r.postJSON(c, "/api/passes/"+p.PassID+"/revoke", `{"reason": "卡丢失"}`); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if len(r.gates.revoked) != 1 || len(r.gates.revoked[0].Passes) != 1 || r.gates.revoked[0].Passes[0].ID != p.PassID {
		t.Fatalf("revocations to the gates: %+v", r.gates.revoked)
	}
	// Visitors get a pass for the visit only.
	code, body = r.postJSON(r.client("guard"), "/api/visitors", `{"name": "张师傅", "phone": "13900000000", "reason": "维修", "host": "总务处", "to": "2026-09-01T11:00:00+08:00"}`)
	var vis struct {
		Visitor store.Visitor
		Pass    store.PassRecord
	}
	if code != 200 || json.Unmarshal([]byte(body), &vis) != nil {
		t.Fatalf("visitor: %d %s", code, body)
	}
	vc, err := v.Verify(vis.Pass.Code, r.clock.Now())
	if err != nil || vc.Role != pass.RoleVisitor || vc.Subject != vis.Visitor.ID {
		t.Fatalf("the visitor's pass: %+v %v", vc, err)
	}
	if _, err := v.Verify(vis.Pass.Code, r.clock.Now().Add(3*time.Hour)); err == nil {
		t.Fatal("the visitor's pass is good after the visit")
	}
	for _, bad := range []string{`{"name": "", "phone": "1390000000", "reason": "x", "to": "2026-09-01T11:00:00+08:00"}`,
		`{"name": "x", "phone": "call me", "reason": "x", "to": "2026-09-01T11:00:00+08:00"}`,
		`{"name": "x", "phone": "13900000000", "reason": "x", "to": "2026-08-01T11:00:00+08:00"}`} {
		if code, _ := r.postJSON(c, "/api/visitors", bad); code != http.StatusBadRequest {
			t.Errorf("visitor %s: %d", bad, code)
		}
	}
}

func decodeQR(t *testing.T, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("png: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("QR does not decode: %v", err)
	}
	return res.GetText()
}

// TestExportCSV: what Excel needs (BOM, Chinese intact), every entry of the
// search, read back.
func TestExportCSV(t *testing.T) {
	r := newRig(t)
	code, body := r.get(r.client("admin"), "/entries.csv?from=2026-09-01&to=2026-09-01")
	if code != 200 || !strings.HasPrefix(body, "\ufeff") {
		t.Fatalf("export: %d %q", code, body[:min(20, len(body))])
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[0][0] != "时间" || rows[2][3] != "王小明" || rows[3][3] != evilName || !strings.Contains(rows[3][8], "体温异常") {
		t.Fatalf("rows %q", rows)
	}
	log, _ := r.db.AuditLog(context.Background(), store.AuditQuery{Action: "export_entries"})
	if len(log) != 1 || log[0].Username != "admin" {
		t.Fatalf("export not audited: %+v", log)
	}
}

// TestReportsAndAbsences: the day's counts, the charts' data, and the
// absence follow-up.
func TestReportsAndAbsences(t *testing.T) {
	r := newRig(t)
	_, body := r.get(r.client("district"), "/api/reports/daily?day=2026-09-01")
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total.Expected != 4 || rep.Total.Arrived != 2 || rep.Total.NotArrived != 2 || rep.Total.Fevers != 1 || rep.Total.Denied != 1 || rep.Zero {
		t.Fatalf("totals %+v", rep.Total)
	}
	if len(rep.Classes) != 2 || rep.Staff.Arrived != 1 {
		t.Fatalf("classes %+v staff %+v", rep.Classes, rep.Staff)
	}
	if len(rep.Slots) == 0 || rep.Slots[0] != "07:20" || rep.Gates["north-1"][0] != 1 || rep.FeverCounts[29] != 1 {
		t.Fatalf("charts %v %v %v", rep.Slots, rep.Gates, rep.FeverCounts)
	}
	if strings.Contains(body, "王小明") || strings.Contains(body, "P1") {
		t.Fatal("the district's report names people")
	}
	admin := r.client("admin")
	_, body = r.get(admin, "/api/absences?cutoff=07:30")
	var abs absencesData
	_ = json.Unmarshal([]byte(body), &abs)
	ids := []string{}
	for _, p := range abs.People {
		ids = append(ids, p.ID)
	}
	if strings.Join(ids, ",") != "P1,P2,P3" || abs.People[0].Late.IsZero() {
		t.Fatalf("not in by 07:30: %v", abs.People)
	}
	if code, _ := r.postForm(admin, "/absences", url.Values{"person_id": {"P2"}, "reason": {"sick"}, "note": {"发烧在家"}}); code != http.StatusSeeOther {
		t.Fatalf("record: %d", code)
	}
	_, body = r.get(admin, "/api/absences")
	if !strings.Contains(body, `"reason":"sick"`) {
		t.Fatalf("absence not recorded: %s", body)
	}
	if code, _ := r.postJSON(admin, "/api/absences", `{"person_id": "P2", "reason": "bunking"}`); code != http.StatusBadRequest {
		t.Errorf("unknown reason: %d", code)
	}
	if code, body := r.get(admin, "/reports/daily"); code != 200 || !strings.Contains(body, "chart-data") {
		t.Fatalf("report page: %d", code)
	}
}

// TestGatesConfigAndAccounts: settings are checked as a gate checks them;
// accounts are made with a first password shown once.
func TestGatesConfigAndAccounts(t *testing.T) {
	r := newRig(t)
	c := r.client("admin")
	if code, body := r.postJSON(c, "/api/gates/north-1/config", `{"toml": "[temperature]\nthreshold_c = 25\n"}`); code != http.StatusBadRequest {
		t.Fatalf("a threshold of 25 °C: %d %s", code, body)
	}
	if code, _ := r.postJSON(c, "/api/gates/north-1/config", `{"toml": "gate_id = \"other\"\n"}`); code != http.StatusBadRequest {
		t.Fatal("the school set a gate's id")
	}
	if code, _ := r.postJSON(c, "/api/gates/north-1/config", `{"toml": "[temperature]\nthreshold_c = 37.5\n"}`); code != 200 {
		t.Fatal("a good setting refused")
	}
	if cfg := r.gates.configs["north-1"]; cfg.Version == 0 || !strings.Contains(cfg.TOML, "37.5") {
		t.Fatalf("config to the gate: %+v", cfg)
	}
	code, body := r.postJSON(c, "/api/accounts", `{"username": "ht21", "display_name": "李老师", "role": "head_teacher", "grade": "2", "class": "2-1"}`)
	var made struct {
		Password string
	}
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &made) != nil || len(made.Password) < minPassword {
		t.Fatalf("create: %d %s", code, body)
	}
	for _, bad := range []string{`{"username": "ht21", "role": "nurse"}`, `{"username": "x y", "role": "nurse"}`, `{"username": "z", "role": "wizard"}`,
		`{"username": "ht9", "role": "head_teacher"}`} {
		if code, _ := r.postJSON(c, "/api/accounts", bad); code != http.StatusBadRequest && code != http.StatusConflict {
			t.Errorf("account %s: %d", bad, code)
		}
	}
	jar, _ := cookiejar.New(nil)
	nc := &http.Client{Jar: jar}
	resp, err := nc.Post(r.srv.URL+"/api/login", "application/json", strings.NewReader(`{"username": "ht21", "password": "`+made.Password+`"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the new account's login: %v %v", resp, err)
	}
	resp.Body.Close()
	if code, _ := r.postJSON(c, "/api/accounts/ht21", `{"disabled": true}`); code != 200 {
		t.Fatal("disable")
	}
	if code, _ := r.get(nc, "/api/me"); code != http.StatusUnauthorized {
		t.Errorf("a disabled account's session still works: %d", code)
	}
	if code, _ := r.postJSON(c, "/api/accounts/admin", `{"role": "guard"}`); code != http.StatusBadRequest {
		t.Error("an admin demoted themselves")
	}
}

// TestAuditOfViews: looking at personal data leaves a trace, by whom.
func TestAuditOfViews(t *testing.T) {
	r := newRig(t)
	r.get(r.client("ht12"), "/entries?person=P1")
	r.get(r.client("nurse"), "/people/P3")
	log, _ := r.db.AuditLog(context.Background(), store.AuditQuery{Limit: 1000})
	seen := map[string]bool{}
	for _, a := range log {
		seen[a.Username+" "+a.Action] = true
	}
	for _, want := range []string{"ht12 view_entries", "nurse view_person", "ht12 login", "nurse login"} {
		if !seen[want] {
			t.Errorf("no %q in the audit log: %v", want, seen)
		}
	}
	if code, body := r.get(r.client("admin"), "/audit"); code != 200 || !strings.Contains(body, "view_person") {
		t.Errorf("audit page: %d", code)
	}
}

func TestEnglish(t *testing.T) {
	r := newRig(t)
	c := r.client("admin")
	if code, _ := r.get(c, "/lang?to=en&next=/alerts"); code != http.StatusSeeOther {
		t.Fatal("lang")
	}
	_, body := r.get(c, "/alerts")
	if !strings.Contains(body, "Fever alerts") || !strings.Contains(body, `lang="en"`) {
		t.Fatalf("English page: %.300s", body)
	}
	for key, m := range catalog {
		if m[0] == "" || m[1] == "" {
			t.Errorf("catalogue %s lacks a language", key)
		}
	}
}

// TestMorningReports: a head teacher prints the families' links; a family
// reports each morning on its link (no account); the report becomes the
// child's health on the roster, which goes down to the gates; the head
// teacher sees who has not reported.
func TestMorningReports(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.db.ReplaceRoster(ctx, []store.Person{
		{ID: "P1", Name: "王小明", Role: "pupil", Grade: "1", Class: "1-2", GuardianPhone: "13800000001"},
		{ID: "P2", Name: "王小红", Role: "pupil", Grade: "1", Class: "1-2", GuardianPhone: "13800000001"}, // siblings
		{ID: "P4", Name: "赵六", Role: "pupil", Grade: "1", Class: "1-2", GuardianPhone: "13900000004"},
		{ID: "P3", Name: "张梓涵", Role: "pupil", Grade: "2", Class: "2-1", GuardianPhone: "13700000003"},
	}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = r.s.Run(runCtx) }()
	ht := r.client("ht12")
	code, body := r.postJSON(ht, "/api/family-links", `{"grade": "2", "class": "2-1"}`) // their own class, whatever is asked
	var links []familyLinkRow
	if code != 200 || json.Unmarshal([]byte(body), &links) != nil || len(links) != 2 {
		t.Fatalf("links: %d %s", code, body)
	}
	// An admin names the class in the body, as the API says.
	if code, body := r.postJSON(r.client("admin"), "/api/family-links", `{"grade": "2", "class": "2-1"}`); code != 200 || !strings.Contains(body, "张梓涵") {
		t.Fatalf("an admin's links for 2-1: %d %s", code, body)
	}
	var siblings string
	for _, l := range links {
		if len(l.Children) == 2 {
			siblings = strings.TrimPrefix(l.URL, r.srv.URL)
		}
		if strings.Contains(l.Phone, "0000000") {
			t.Errorf("the letter shows the whole phone number %s", l.Phone)
		}
	}
	if siblings == "" {
		t.Fatalf("no link for the siblings' family: %+v", links)
	}
	family := r.client("")
	code, body = r.get(family, siblings)
	if code != 200 || !strings.Contains(body, "王小明") || !strings.Contains(body, "王小红") || strings.Contains(body, "赵六") {
		t.Fatalf("family page: %d %.500s", code, body)
	}
	report := func(person, temp, contact string, symptoms ...string) int {
		f := url.Values{"person_id": {person}, "temp_c": {temp}, "contact": {contact}, "location": {"本市"}}
		for _, s := range symptoms {
			f.Add("symptom", s)
		}
		code, _ := r.postForm(family, siblings, f)
		return code
	}
	if c := report("P1", "36.5", "no"); c != http.StatusSeeOther {
		t.Fatalf("report: %d", c)
	}
	if c := report("P2", "36.7", "no", "cough"); c != http.StatusSeeOther {
		t.Fatalf("report with a cough: %d", c)
	}
	for name, c := range map[string]int{
		"another family's child": report("P4", "36.5", "no"),
		"50 °C":                  report("P1", "50", "no"),
		"no contact answer":      report("P1", "36.5", ""),
		"a made-up symptom":      report("P1", "36.5", "no", "<script>"),
	} {
		if c != http.StatusBadRequest {
			t.Errorf("%s: %d", name, c)
		}
	}
	p1, _ := r.db.PersonByID(ctx, "P1")
	p2, _ := r.db.PersonByID(ctx, "P2")
	if p1.Health != "green" || p2.Health != "yellow" || p1.HealthDate != r.s.today() {
		t.Fatalf("health on the roster: %+v %+v", p1, p2)
	}
	if ReportStatus(37.5, nil, false, 37.3) != "red" || ReportStatus(36.5, nil, true, 37.3) != "red" || ReportStatus(36.5, []string{"fever"}, false, 37.3) != "red" {
		t.Error("a fever or a contact is not red")
	}
	// The roster goes down to the gates a moment later, both reports in one version.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.gates.mu.Lock()
		n := len(r.gates.rosters)
		r.gates.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reports never went down to the gates")
		}
		r.clock.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	r.clock.Advance(10 * time.Second)
	time.Sleep(50 * time.Millisecond)
	r.gates.mu.Lock()
	n := len(r.gates.rosters)
	r.gates.mu.Unlock()
	if n != 1 {
		t.Errorf("the two reports went down as %d roster versions, want 1", n)
	}
	_, body = r.get(ht, "/api/morning")
	var m morningData
	_ = json.Unmarshal([]byte(body), &m)
	if m.Reported != 2 || m.Missing != 1 || m.Yellow != 1 || m.Rows[0].ID != "P4" {
		t.Fatalf("head teacher's view: %+v", m)
	}
	// A guessed link: refused, and after five guesses the address is locked out.
	for i := range maxFailures {
		if code, _ := r.get(family, fmt.Sprintf("/family/guessed-token-number-%02d-xxxxxxxx", i)); code != http.StatusNotFound {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	if code, _ := r.get(family, siblings); code != http.StatusTooManyRequests {
		t.Fatalf("after five guesses: %d", code)
	}
	// A new letter replaces the old link.
	r.clock.Advance(lockout + time.Second)
	if code, _ := r.postJSON(ht, "/api/family-links", `{}`); code != 200 {
		t.Fatal("links again")
	}
	if code, _ := r.get(family, siblings); code != http.StatusNotFound {
		t.Fatalf("a replaced link still works: %d", code)
	}
}
