package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"campusgate/sync/store"
)

// routeRule is who may use one route of the console, and a request that
// exercises it.
type routeRule struct {
	roles []string // nil: public (no session needed)
	path  string   // the request's path (without /api), with any query
	body  string   // a POST's JSON body ({role} is replaced by the role)
	form  string   // a POST's body for the page (default: none)
}

var (
	nurseRoles = []string{RoleAdmin, RoleNurse}
	logRoles   = []string{RoleAdmin, RoleHeadTeacher, RoleGuard}
	adminOnly  = []string{RoleAdmin}
	classRoles = []string{RoleAdmin, RoleHeadTeacher}
)

// routeTable has every route the console registers, by its pattern with
// "/api" taken out (a page and its JSON twin share a rule).
var routeTable = map[string]routeRule{
	"GET /static/": {path: "/static/style.css"},
	"GET /healthz": {path: "/healthz"},
	"GET /login":   {path: "/login"},
	"POST /login": {path: "/login", body: `{"username": "admin", "password": "` + testPassword + `"}`,
		form: "username=admin&password=" + testPassword},
	"GET /lang":            {path: "/lang?to=en"},
	"GET /family/{token}":  {path: "/family/not-a-token"},
	"POST /family/{token}": {path: "/family/not-a-token"},
	"/":                    {path: "/no-such-page"},
	"POST /logout":         {roles: Roles, path: "/logout"},
	"GET /{$}":             {roles: Roles, path: "/"},
	"GET /me":              {roles: Roles, path: "/me"},
	"GET /events":          {roles: Roles, path: "/events"},
	"GET /password":        {roles: Roles, path: "/password"},
	"POST /password": {roles: Roles, path: "/password", body: `{"current": "` + testPassword + `", "new": "short"}`,
		form: "current=" + testPassword + "&new=short"},
	"GET /alerts":           {roles: nurseRoles, path: "/alerts"},
	"GET /alerts/{id}":      {roles: nurseRoles, path: "/alerts/1"},
	"POST /alerts/{id}/ack": {roles: nurseRoles, path: "/alerts/1/ack"},
	"POST /alerts/{id}/outcome": {roles: nurseRoles, path: "/alerts/1/outcome",
		body: `{"outcome": "isolated", "note": "{role}"}`},
	"GET /isolation":           {roles: nurseRoles, path: "/isolation"},
	"GET /entries":             {roles: logRoles, path: "/entries"},
	"GET /entries.csv":         {roles: logRoles, path: "/entries.csv"},
	"GET /people/{id}":         {roles: []string{RoleAdmin, RoleHeadTeacher, RoleNurse}, path: "/people/P1"},
	"GET /reports/daily":       {roles: []string{RoleAdmin, RoleHeadTeacher, RoleDistrict}, path: "/reports/daily"},
	"GET /morning":             {roles: []string{RoleAdmin, RoleHeadTeacher, RoleNurse}, path: "/morning"},
	"POST /family-links":       {roles: classRoles, path: "/family-links", body: `{"grade": "1", "class": "1-2"}`},
	"GET /absences":            {roles: classRoles, path: "/absences"},
	"POST /absences":           {roles: classRoles, path: "/absences", body: `{"person_id": "P2", "reason": "sick"}`},
	"GET /roster":              {roles: classRoles, path: "/roster"},
	"POST /roster":             {roles: adminOnly, path: "/roster?dry_run=1", body: "id,name,role\nT1,陈老师,staff\n"},
	"GET /passes":              {roles: classRoles, path: "/passes"},
	"POST /passes":             {roles: classRoles, path: "/passes", body: `{"person_id": "P1", "days": 30}`},
	"POST /passes/{id}/revoke": {roles: adminOnly, path: "/passes/nosuchpass/revoke", body: `{"reason": "lost"}`},
	"GET /passes/{id}/qr.png":  {roles: []string{RoleAdmin, RoleHeadTeacher, RoleGuard}, path: "/passes/nosuchpass/qr.png"},
	"GET /passes/sheet":        {roles: classRoles, path: "/passes/sheet?grade=1&class=1-2"},
	"GET /visitors":            {roles: []string{RoleAdmin, RoleGuard}, path: "/visitors"},
	"POST /visitors": {roles: []string{RoleAdmin, RoleGuard}, path: "/visitors",
		body: `{"name": "访客{role}", "phone": "13900000000", "reason": "送教材", "host": "陈老师", "to": "2026-09-01T12:00:00+08:00"}`},
	"GET /arrival":              {roles: adminOnly, path: "/arrival"},
	"POST /arrival":             {roles: adminOnly, path: "/arrival", body: `{"policy": "note", "windows": []}`},
	"GET /gates":                {roles: []string{RoleAdmin, RoleGuard}, path: "/gates"},
	"POST /gates/{gate}/config": {roles: adminOnly, path: "/gates/north-1/config", body: `{"toml": "[temperature]\nthreshold_c = 37.5\n"}`},
	"POST /gates/{gate}/cmd":    {roles: adminOnly, path: "/gates/north-1/cmd", body: `{"kind": "resync", "reason": "test"}`},
	"GET /accounts":             {roles: adminOnly, path: "/accounts"},
	"POST /accounts":            {roles: adminOnly, path: "/accounts", body: `{"username": "new-{role}", "role": "guard"}`},
	"POST /accounts/{user}":     {roles: adminOnly, path: "/accounts/victim", body: `{"display_name": "受害者", "role": "guard"}`},
	"GET /audit":                {roles: adminOnly, path: "/audit"},
	"GET /stats":                {roles: adminOnly, path: "/stats"},
	"GET /gaps":                 {roles: adminOnly, path: "/gaps"},
}

var roleUsers = map[string]string{RoleAdmin: "admin", RoleNurse: "nurse", RoleHeadTeacher: "ht12", RoleGuard: "guard", RoleDistrict: "district"}

// TestEveryRouteByRole: every route the console registers (listed from its
// mux, so a new route fails here until it is in routeTable) answers each
// role, and nobody, as its rule says: the API with 401 for nobody and 403
// for a role not named, a page with the login page and 403; a role named
// is let through to the handler. A route in the table that is no longer
// registered fails too.
func TestEveryRouteByRole(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if err := CreateAccount(ctx, r.db, store.User{Username: "victim", DisplayName: "受害者", Role: RoleGuard}, testPassword); err != nil {
		t.Fatal(err)
	}
	if len(r.s.patterns) < 40 {
		t.Fatalf("only %d routes recorded", len(r.s.patterns))
	}
	seen := map[string]bool{}
	for _, pattern := range r.s.patterns {
		method, p, _ := strings.Cut(pattern, " ")
		if p == "" {
			method, p = "", method
		}
		api := strings.HasPrefix(p, "/api/")
		key := strings.TrimSpace(method + " " + strings.TrimPrefix(p, "/api"))
		rule, ok := routeTable[key]
		if !ok {
			t.Errorf("route %q is not in routeTable: say who may use it", pattern)
			continue
		}
		seen[key] = true
		if method == "" {
			method = "GET"
		}
		path := rule.path
		if api {
			path = "/api" + path
		}
		send := func(c *http.Client, role string) (int, string) {
			body, ctype := "", ""
			if method == "POST" {
				if api {
					body, ctype = strings.ReplaceAll(rule.body, "{role}", role), "application/json"
				} else {
					body, ctype = rule.form, "application/x-www-form-urlencoded"
				}
			}
			if key == "GET /events" { // a stream: the status is all there is to see
				ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, method, r.srv.URL+path, nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				resp.Body.Close()
				return resp.StatusCode, ""
			}
			return r.do(c, method, path, ctype, strings.NewReader(body))
		}
		code, body := send(r.client(""), "nobody")
		switch {
		case rule.roles == nil:
			if code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 {
				t.Errorf("nobody %s %s (public): %d\n%.200s", method, path, code, body)
			}
			continue
		case api && code != http.StatusUnauthorized:
			t.Errorf("nobody %s %s: %d, want 401\n%.200s", method, path, code, body)
		case !api && (code != http.StatusSeeOther || strings.Contains(body, "王小明")):
			t.Errorf("nobody %s %s: %d, want 303 to the login page", method, path, code)
		}
		for _, role := range Roles {
			code, body := send(r.client(roleUsers[role]), role)
			allowed := slices.Contains(rule.roles, role)
			switch {
			case !allowed && code != http.StatusForbidden:
				t.Errorf("%s %s %s: %d, want 403\n%.200s", role, method, path, code, body)
			case allowed && (code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusSeeOther && strings.Contains(body, "/login") || code >= 500):
				t.Errorf("%s %s %s: %d, want it let through\n%.200s", role, method, path, code, body)
			}
		}
	}
	for key := range routeTable {
		if !seen[key] {
			t.Errorf("routeTable has %q, which the console no longer registers", key)
		}
	}
}

// TestHeadTeacherCannotReachAnotherClass: whatever a head teacher of 1-2
// puts in the query, the path or the body, nothing of class 2-1 (P3, 杨...)
// comes back, and nothing is done to it.
func TestHeadTeacherCannotReachAnotherClass(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	// A pass of the other class's pupil, whose id the head teacher learnt.
	ps := []store.PassRecord{passOfP3(t, r)}
	ht := r.client("ht12")
	// P3 and class 2-1 as JSON, HTML and CSV show them (a bare "P3" could
	// be part of a random token or a pass's base45).
	other := []string{`"P3"`, "/people/P3", "P3,", ">P3<", "&lt;script&gt;", `\u003cscript`, evilName, `"2-1"`, ">2-1<", "2-1,"}
	for _, path := range []string{
		"/api/entries?class=2-1", "/api/entries?grade=2&class=2-1", "/api/entries?person=P3", "/api/entries?gate=south-1",
		"/api/entries?reason=fever", "/api/entries?decision=deny",
		"/api/entries.csv?class=2-1", "/api/entries.csv?person=P3", "/entries.csv?grade=2&class=2-1",
		"/api/reports/daily?grade=2&class=2-1", "/api/absences?grade=2&class=2-1", "/api/morning?grade=2&class=2-1",
		"/api/morning?gc=2/2-1", "/api/roster?grade=2&class=2-1", "/api/roster?gc=2/2-1",
		"/api/passes?grade=2&class=2-1", "/api/passes?gc=2/2-1", "/passes/sheet?grade=2&class=2-1", "/passes/sheet?gc=2/2-1",
	} {
		code, body := r.get(ht, path)
		for _, o := range other {
			if code == http.StatusOK && strings.Contains(body, o) {
				t.Errorf("%s: a head teacher of 1-2 sees %q\n%.300s", path, o, body)
			}
		}
	}
	for _, path := range []string{"/api/people/P3", "/people/P3", "/api/passes?person=P3", "/api/passes/" + ps[0].PassID + "/qr.png"} {
		if code, body := r.get(ht, path); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403\n%.200s", path, code, body)
		}
	}
	for _, c := range []struct{ path, body string }{
		{"/api/absences", `{"person_id": "P3", "reason": "sick"}`},
		{"/api/passes", `{"person_id": "P3", "days": 30}`},
	} {
		if code, _ := r.postJSON(ht, c.path, c.body); code != http.StatusForbidden {
			t.Errorf("POST %s %s: %d, want 403", c.path, c.body, code)
		}
	}
	// Family links asked for another class are made for their own.
	for _, path := range []string{"/api/family-links?grade=2&class=2-1", "/api/family-links?gc=2/2-1"} {
		code, body := r.postJSON(ht, path, "")
		var rows []struct{ Children []string }
		_ = json.Unmarshal([]byte(body), &rows)
		for _, row := range rows {
			if slices.Contains(row.Children, evilName) {
				t.Errorf("%s: %d %s", path, code, body)
			}
		}
	}
	if ps, _ := r.db.Passes(ctx, "P3"); len(ps) != 1 {
		t.Errorf("P3 has %d passes after the head teacher's attempts", len(ps))
	}
	abs, _ := r.db.Absences(ctx, "2026-09-01")
	if _, ok := abs["P3"]; ok {
		t.Error("the head teacher recorded an absence for P3")
	}
}

// TestSessionsEnd: a session ends after SessionIdle without use and after
// SessionMax however used; a logged-out token, sent again, is refused; an
// account disabled (or changed) loses its sessions at once.
func TestSessionsEnd(t *testing.T) {
	r := newRig(t)
	login := func(user string) (*http.Client, *http.Cookie) {
		c := r.client(user)
		u, _ := url.Parse(r.srv.URL)
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == sessionCookie {
				return c, ck
			}
		}
		t.Fatalf("%s: no session cookie", user)
		return nil, nil
	}
	me := func(c *http.Client) int { code, _ := r.get(c, "/api/me"); return code }
	// Absolute: used every 30 minutes, it still ends at 12 hours.
	c, _ := login("nurse")
	for i := 1; i <= 23; i++ {
		r.clock.Advance(30 * time.Minute)
		if code := me(c); code != http.StatusOK {
			t.Fatalf("after %v of use: %d", time.Duration(i)*30*time.Minute, code)
		}
	}
	r.clock.Advance(30 * time.Minute)
	if code := me(c); code != http.StatusUnauthorized {
		t.Errorf("a session used for 12 hours: %d, want 401", code)
	}
	// Idle: 2 hours untouched ends it; just under does not.
	c, _ = login("nurse")
	r.clock.Advance(2*time.Hour - time.Minute)
	if code := me(c); code != http.StatusOK {
		t.Errorf("idle just under 2 h: %d", code)
	}
	r.clock.Advance(2*time.Hour + time.Second)
	if code := me(c); code != http.StatusUnauthorized {
		t.Errorf("idle 2 h: %d, want 401", code)
	}
	// Logged out: the same token, replayed by hand, is refused.
	c, ck := login("guard")
	if code, _ := r.postJSON(c, "/api/logout", ""); code != http.StatusOK {
		t.Fatalf("logout: %d", code)
	}
	replay := r.client("")
	req, _ := http.NewRequest("GET", r.srv.URL+"/api/gates", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: ck.Value})
	resp, err := replay.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a logged-out token replayed: %s", resp.Status)
	}
	// Disabled by an admin: the open session stops working, and so does a
	// new login.
	c, _ = login("ht12")
	admin := r.client("admin")
	if code, body := r.postJSON(admin, "/api/accounts/ht12", `{"display_name": "王老师", "role": "head_teacher", "grade": "1", "class": "1-2", "disabled": true}`); code != http.StatusOK {
		t.Fatalf("disable: %d %s", code, body)
	}
	if code := me(c); code != http.StatusUnauthorized {
		t.Errorf("a disabled account's session: %d, want 401", code)
	}
	if code, _ := r.postJSON(r.client(""), "/api/login", `{"username": "ht12", "password": "`+testPassword+`"}`); code != http.StatusUnauthorized {
		t.Errorf("a disabled account logs in: %d", code)
	}
}

// TestRunPurgesPastRetention: the console's Run purges data past the
// retention period as it starts (and daily after): the rig's entries and
// alert of 2026-09-01 are gone 181 days later, through every API too.
func TestRunPurgesPastRetention(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.clock.Advance(181 * 24 * time.Hour)
	admin := r.client("admin")
	go func() { defer close(done); _ = r.s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := r.db.Entries(ctx, store.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left 181 days on", len(es))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, path := range []string{"/api/entries?from=2026-09-01&to=2026-09-01", "/api/entries.csv?from=2026-09-01&to=2026-09-01", "/api/people/P3", "/api/alerts?day=2026-09-01", "/api/alerts/1"} {
		if code, body := r.get(admin, path); strings.Contains(body, "38.4") || strings.Contains(body, "south-1") {
			t.Errorf("%s after the purge: %d\n%.300s", path, code, body)
		}
	}
}

// TestGuardPrintsOnlyVisitorPasses: a guard prints the pass of a visitor the
// gatehouse registers, but not a pupil's, whose pass is their credential at
// the gate (with its id, learnt from a log or a printed sheet).
func TestGuardPrintsOnlyVisitorPasses(t *testing.T) {
	r := newRig(t)
	ps := []store.PassRecord{passOfP3(t, r)}
	guard := r.client("guard")
	code, body := r.postJSON(guard, "/api/visitors", `{"name": "张师傅", "phone": "13900000000", "reason": "维修", "host": "总务处", "to": "2026-09-01T11:00:00+08:00"}`)
	var vis struct{ Pass store.PassRecord }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &vis) != nil {
		t.Fatalf("visitor: %d %s", code, body)
	}
	for _, path := range []string{"/passes/" + vis.Pass.PassID + "/qr.png", "/api/passes/" + vis.Pass.PassID + "/qr.png"} {
		if code, body := r.get(guard, path); code != http.StatusOK || !strings.HasPrefix(body, "\x89PNG") {
			t.Errorf("guard, the visitor's QR %s: %d", path, code)
		}
	}
	for _, path := range []string{"/passes/" + ps[0].PassID + "/qr.png", "/api/passes/" + ps[0].PassID + "/qr.png"} {
		if code, _ := r.get(guard, path); code != http.StatusForbidden {
			t.Errorf("guard, a pupil's QR %s: %d, want 403", path, code)
		}
		if code, _ := r.get(r.client("admin"), path); code != http.StatusOK {
			t.Errorf("admin, a pupil's QR %s: %d", path, code)
		}
	}
}

// passOfP3 is a pass the admin issues for P3, a pupil of class 2-1.
func passOfP3(t *testing.T, r *rig) store.PassRecord {
	t.Helper()
	if code, body := r.postJSON(r.client("admin"), "/api/passes", `{"person_id": "P3", "days": 30}`); code != http.StatusOK {
		t.Fatalf("admin's pass for P3: %d %s", code, body)
	}
	ps, err := r.db.Passes(context.Background(), "P3")
	if err != nil || len(ps) != 1 {
		t.Fatalf("P3's passes: %v %v", ps, err)
	}
	return ps[0]
}
