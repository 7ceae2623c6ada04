package console

import (
	"io/fs"
	"net/http"
	"strings"
)

// routes: each page at /PATH has its JSON twin at /api/PATH, handled by the
// same code (isAPI tells them apart), so the API is everything the pages do.
//
//	POST /api/login {"username", "password"}      → the account; sets the session cookie
//	POST /api/logout
//	GET  /api/me
//	GET  /api/events                              server-sent events: alert, escalated, changed
//	GET  /api/alerts[?day=D]                      fever alerts: open ones and those of the day
//	GET  /api/alerts/{id}                         one alert and what was done about it
//	POST /api/alerts/{id}/ack
//	POST /api/alerts/{id}/outcome {"outcome", "retest_c", "note"}
//	GET  /api/isolation                           who waits in the isolation room
//	GET  /api/entries?from&to&gate&person&grade&class&decision&reason&limit
//	GET  /api/entries.csv?…                       the same as CSV (UTF-8 with BOM, streamed)
//	GET  /api/people/{id}                         one person and their entries
//	GET  /api/reports/daily?day=D                 expected/arrived/not arrived/fevers/refused by class, charts' data
//	GET  /api/morning?day=D[&grade&class]         the family morning reports: who reported what, who not yet
//	POST /api/family-links {grade, class}          new morning-report links for a class's families (shown once)
//	GET  /api/absences?day=D                      who had not arrived by the cutoff, and why
//	POST /api/absences {"person_id", "reason", "note"}
//	GET  /api/roster                              the roster
//	POST /api/roster[?dry_run=1]                  a roster CSV as the body: line errors, or what changed
//	GET  /api/passes[?person=ID]
//	POST /api/passes {"person_id", "days"} | {"grade", "class", "days"}
//	POST /api/passes/{id}/revoke {"reason"}
//	GET  /api/visitors; POST /api/visitors {"name", "phone", "reason", "host", "from", "to"}
//	GET  /api/gates; POST /api/gates/{gate}/config {"toml"}; POST /api/gates/{gate}/cmd {"kind", "reason"}
//	GET  /api/arrival; POST /api/arrival {"policy", "windows": [{"grade", "start", "end"}]}   staggered arrival
//	GET  /api/accounts; POST /api/accounts {"username", "display_name", "role", "grade", "class"}
//	GET  /api/audit?user&action&limit
//	GET  /api/stats                               today's counts, ingest counters, the broker link
//	GET  /api/gaps[?gate=G]                       seqs missing per gate and journal file
func (s *Server) routes() http.Handler {
	mux := &recordingMux{ServeMux: http.NewServeMux()}
	defer func() { s.patterns = mux.patterns }()
	static, _ := fs.Sub(staticFS, "static")
	fileServer := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fileServer.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.loginForm)
	mux.HandleFunc("POST /api/login", s.loginAPI)
	mux.HandleFunc("GET /lang", s.setLang)
	mux.HandleFunc("GET /family/{token}", s.family)
	mux.HandleFunc("POST /family/{token}", s.familyReport)

	all := []string(nil)
	both := func(pattern string, h handle, roles ...string) {
		method, p, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+p, s.need(h, roles...))
		mux.HandleFunc(method+" /api"+p, s.need(h, roles...))
	}
	both("POST /logout", s.logout, all...)
	mux.HandleFunc("GET /{$}", s.need(s.home))
	mux.HandleFunc("GET /api/me", s.need(s.me))
	mux.HandleFunc("GET /api/events", s.need(s.events))
	both("GET /password", s.passwordPage)
	both("POST /password", s.passwordChange)

	nurse := []string{RoleNurse, RoleAdmin}
	both("GET /alerts", s.alerts, nurse...)
	both("GET /alerts/{id}", s.alert, nurse...)
	both("POST /alerts/{id}/ack", s.ack, nurse...)
	both("POST /alerts/{id}/outcome", s.outcome, nurse...)
	both("GET /isolation", s.isolation, nurse...)

	logs := []string{RoleAdmin, RoleHeadTeacher, RoleGuard}
	both("GET /entries", s.entries, logs...)
	both("GET /entries.csv", s.entriesCSV, logs...)
	both("GET /people/{id}", s.person, RoleAdmin, RoleHeadTeacher, RoleNurse)

	both("GET /reports/daily", s.report, RoleAdmin, RoleHeadTeacher, RoleDistrict)
	both("GET /morning", s.morning, RoleAdmin, RoleHeadTeacher, RoleNurse)
	both("POST /family-links", s.familyLinks, RoleAdmin, RoleHeadTeacher)
	both("GET /absences", s.absences, RoleAdmin, RoleHeadTeacher)
	both("POST /absences", s.recordAbsence, RoleAdmin, RoleHeadTeacher)

	both("GET /roster", s.roster, RoleAdmin, RoleHeadTeacher)
	both("POST /roster", s.importRoster, RoleAdmin)
	both("GET /passes", s.passes, RoleAdmin, RoleHeadTeacher)
	both("POST /passes", s.issuePasses, RoleAdmin, RoleHeadTeacher)
	both("POST /passes/{id}/revoke", s.revokePass, RoleAdmin)
	both("GET /passes/{id}/qr.png", s.passQR, RoleAdmin, RoleHeadTeacher, RoleGuard)
	both("GET /passes/sheet", s.passSheet, RoleAdmin, RoleHeadTeacher)
	both("GET /visitors", s.visitors, RoleAdmin, RoleGuard)
	both("POST /visitors", s.registerVisitor, RoleAdmin, RoleGuard)

	both("GET /arrival", s.arrival, RoleAdmin)
	both("POST /arrival", s.setArrival, RoleAdmin)
	both("GET /gates", s.gates, RoleAdmin, RoleGuard)
	both("POST /gates/{gate}/config", s.gateConfig, RoleAdmin)
	both("POST /gates/{gate}/cmd", s.gateCmd, RoleAdmin)
	both("GET /accounts", s.accounts, RoleAdmin)
	both("POST /accounts", s.createAccount, RoleAdmin)
	both("POST /accounts/{user}", s.updateAccount, RoleAdmin)
	both("GET /audit", s.auditLog, RoleAdmin)
	mux.HandleFunc("GET /api/stats", s.need(s.stats, RoleAdmin))
	mux.HandleFunc("GET /api/gaps", s.need(s.gaps, RoleAdmin))

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if isAPI(r) {
			fail(w, http.StatusNotFound, errNotFound)
			return
		}
		s.render(w, r, s.viewerOf(r), http.StatusNotFound, "notfound", nil)
	})
	return mux
}

// recordingMux keeps the patterns it was given, so a test can check every
// route against its table of who may use it.
type recordingMux struct {
	*http.ServeMux
	patterns []string
}

func (m *recordingMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.ServeMux.HandleFunc(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }
