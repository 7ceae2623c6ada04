package console

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"campusgate/sync/store"
)

// The family morning health report (家庭每日晨报): a family opens the link the
// school gave them (no account, no app), reports each child's morning, and
// the report becomes the child's health status for the day, which goes down
// to the gates with the roster.

// Symptoms a family can tick.
var Symptoms = []string{"fever", "cough", "sore_throat", "fatigue", "diarrhoea", "other"}

// ReportStatus is a morning report's status: red for a fever at home (at or
// over feverC, or ticked) or contact with a high-risk area, yellow for any
// other symptom, green otherwise.
func ReportStatus(tempC float64, symptoms []string, contact bool, feverC float64) string {
	switch {
	case tempC >= feverC || slices.Contains(symptoms, "fever") || contact:
		return "red"
	case len(symptoms) > 0:
		return "yellow"
	}
	return "green"
}

type familyChild struct {
	store.Person
	Report *store.HealthReport
}

type familyData struct {
	Token    string
	Children []familyChild
	Symptoms []string
	Day      string
}

// family is a family's page: their children and today's form.
func (s *Server) familyLink(w http.ResponseWriter, r *http.Request) (store.FamilyLink, string, bool) {
	tok := r.PathValue("token")
	ip := "family-ip:" + remoteIP(r)
	if wait := s.limits.locked(ip); wait > 0 {
		s.renderMsg(w, r, nil, http.StatusTooManyRequests, "family", nil, "", langOf(r).Tf("login.locked", int(lockout/time.Minute)))
		return store.FamilyLink{}, "", false
	}
	if len(tok) < 20 || len(tok) > 100 {
		s.limits.fail(ip)
		s.renderMsg(w, r, nil, http.StatusNotFound, "family", nil, "", langOf(r).T("family.bad_link"))
		return store.FamilyLink{}, "", false
	}
	l, err := s.db.FamilyLinkByToken(r.Context(), hashToken(tok))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.limits.fail(ip) // a guessed link: five tries, then a lockout
			s.renderMsg(w, r, nil, http.StatusNotFound, "family", nil, "", langOf(r).T("family.bad_link"))
		} else {
			s.oops(w, r, nil, err)
		}
		return store.FamilyLink{}, "", false
	}
	return l, tok, true
}

func (s *Server) family(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	l, tok, ok := s.familyLink(w, r)
	if !ok {
		return
	}
	d, err := s.familyData(r, l, tok)
	if err != nil {
		s.oops(w, r, nil, err)
		return
	}
	s.render(w, r, nil, http.StatusOK, "family", d)
}

func (s *Server) familyData(r *http.Request, l store.FamilyLink, tok string) (familyData, error) {
	day := s.today()
	kids, err := s.db.People(r.Context(), store.PeopleQuery{GuardianPhone: l.GuardianPhone, Role: "pupil"})
	if err != nil {
		return familyData{}, err
	}
	reps, err := s.db.HealthReports(r.Context(), day)
	if err != nil {
		return familyData{}, err
	}
	d := familyData{Token: tok, Symptoms: Symptoms, Day: day}
	for _, k := range kids {
		c := familyChild{Person: k}
		if rep, ok := reps[k.ID]; ok {
			c.Report = &rep
		}
		c.GuardianPhone = "" // the page does not need to show it back
		d.Children = append(d.Children, c)
	}
	return d, nil
}

// familyReport takes a child's morning report from the family's page.
func (s *Server) familyReport(w http.ResponseWriter, r *http.Request) {
	l, tok, ok := s.familyLink(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8192)
	lg := langOf(r)
	problem := func(msg string) {
		d, err := s.familyData(r, l, tok)
		if err != nil {
			s.oops(w, r, nil, err)
			return
		}
		s.renderMsg(w, r, nil, http.StatusBadRequest, "family", d, "", msg)
	}
	pid := r.PostFormValue("person_id")
	kids, err := s.db.People(r.Context(), store.PeopleQuery{GuardianPhone: l.GuardianPhone, Role: "pupil"})
	if err != nil {
		s.oops(w, r, nil, err)
		return
	}
	if !slices.ContainsFunc(kids, func(p store.Person) bool { return p.ID == pid }) {
		problem(lg.T("family.not_yours"))
		return
	}
	t, err := strconv.ParseFloat(strings.TrimSpace(r.PostFormValue("temp_c")), 64)
	if err != nil || t < 34 || t > 43 {
		problem(lg.T("family.bad_temp"))
		return
	}
	var symptoms []string
	for _, sy := range r.PostForm["symptom"] {
		if !slices.Contains(Symptoms, sy) {
			problem(lg.T("family.bad_temp"))
			return
		}
		if !slices.Contains(symptoms, sy) {
			symptoms = append(symptoms, sy)
		}
	}
	contact := r.PostFormValue("contact")
	if contact != "yes" && contact != "no" {
		problem(lg.T("family.need_contact"))
		return
	}
	loc := strings.TrimSpace(r.PostFormValue("location"))
	if !plainText(loc, 100) {
		problem(lg.T("family.bad_location"))
		return
	}
	rep := store.HealthReport{Day: s.today(), PersonID: pid, TempC: t, Symptoms: symptoms, Contact: contact == "yes", Location: loc,
		Status: ReportStatus(t, symptoms, contact == "yes", s.o.FeverC), LinkID: l.ID}
	if _, err := s.db.SaveHealthReport(r.Context(), rep); err != nil {
		s.oops(w, r, nil, err)
		return
	}
	s.audit(r, &viewer{User: store.User{Username: "family:" + l.ID, Role: "family"}}, "morning_report", pid, rep.Status)
	s.rosterChanged()
	s.hub.publish(event{Kind: "changed"})
	back(w, r, "/family/"+tok, "family.saved")
}

type morningRow struct {
	store.Person
	Report *store.HealthReport `json:"report,omitempty"`
}

type morningData struct {
	Day      string       `json:"day"`
	Grade    string       `json:"grade,omitempty"`
	Class    string       `json:"class,omitempty"`
	Rows     []morningRow `json:"pupils"`
	Reported int          `json:"reported"`
	Missing  int          `json:"missing"`
	Red      int          `json:"red"`
	Yellow   int          `json:"yellow"`
	Classes  [][2]string  `json:"-"`
	CanLinks bool         `json:"-"`
}

// morning is the staff's view of the morning reports: who has reported, with
// what, and who not yet (live).
func (s *Server) morning(w http.ResponseWriter, r *http.Request, v *viewer) {
	day, err := s.dayParam(r)
	if err != nil {
		s.bad(w, r, v, err)
		return
	}
	grade, class := s.classParam(r, v)
	people, err := s.db.People(r.Context(), store.PeopleQuery{Grade: grade, Class: class, Role: "pupil"})
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	reps, err := s.db.HealthReports(r.Context(), day)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	d := morningData{Day: day, Grade: grade, Class: class, CanLinks: v.is(RoleAdmin, RoleHeadTeacher)}
	for _, p := range people {
		row := morningRow{Person: p}
		if rep, ok := reps[p.ID]; ok {
			row.Report = &rep
			d.Reported++
			switch rep.Status {
			case "red":
				d.Red++
			case "yellow":
				d.Yellow++
			}
		} else {
			d.Missing++
		}
		d.Rows = append(d.Rows, row)
	}
	// Those not reported first: they are who the head teacher calls.
	slices.SortStableFunc(d.Rows, func(a, b morningRow) int {
		switch {
		case (a.Report == nil) == (b.Report == nil):
			return 0
		case a.Report == nil:
			return -1
		}
		return 1
	})
	s.audit(r, v, "view_morning_reports", day+" "+grade+"/"+class, fmt.Sprintf("%d reported, %d missing", d.Reported, d.Missing))
	if isAPI(r) {
		writeJSON(w, http.StatusOK, d)
		return
	}
	d.Classes, _ = s.db.Classes(r.Context())
	s.render(w, r, v, http.StatusOK, "morning", d)
}

type familyLinkRow struct {
	Phone    string       `json:"guardian_phone"`
	Children []string     `json:"children"`
	URL      string       `json:"url"`
	QR       template.URL `json:"-"` // a data: URL of the link's QR code (made here, so safe to trust)
}

// familyLinks makes a new morning-report link for every family of a class
// (revoking their earlier ones) and shows the letters to print: each
// family's link as text and as a QR code. The links are shown only now.
func (s *Server) familyLinks(w http.ResponseWriter, r *http.Request, v *viewer) {
	grade, class := s.classParam(r, v)
	if class == "" && isAPI(r) { // the API's body, {"grade", "class"}; a head teacher's own class came first
		var req struct{ Grade, Class string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err == nil {
			grade, class = strings.TrimSpace(req.Grade), strings.TrimSpace(req.Class)
		}
	}
	if class == "" {
		s.bad(w, r, v, errors.New("name a grade and a class"))
		return
	}
	pupils, err := s.db.People(r.Context(), store.PeopleQuery{Grade: grade, Class: class, Role: "pupil"})
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	byPhone := map[string][]string{}
	var phones []string
	for _, p := range pupils {
		if p.GuardianPhone == "" {
			continue
		}
		if byPhone[p.GuardianPhone] == nil {
			phones = append(phones, p.GuardianPhone)
		}
		byPhone[p.GuardianPhone] = append(byPhone[p.GuardianPhone], p.Name)
	}
	base := s.o.Base
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	var rows []familyLinkRow
	var links []store.NewFamilyLink
	for _, ph := range phones {
		tok := rand.Text()
		links = append(links, store.NewFamilyLink{ID: strings.ToLower(rand.Text()[:12]), TokenHash: hashToken(tok), Phone: ph})
		row := familyLinkRow{Phone: maskPhone(ph), Children: byPhone[ph], URL: strings.TrimRight(base, "/") + "/family/" + tok}
		if png, err := QRPNG(row.URL, 4); err == nil {
			row.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
		}
		rows = append(rows, row)
	}
	if err := s.db.AddFamilyLinks(r.Context(), v.Username, links...); err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "family_links", grade+"/"+class, fmt.Sprintf("%d families", len(rows)))
	if isAPI(r) {
		writeJSON(w, http.StatusOK, rows)
		return
	}
	s.render(w, r, v, http.StatusOK, "familylinks", struct {
		Grade, Class string
		Rows         []familyLinkRow
	}{grade, class, rows})
}

// maskPhone shows a phone number as the families' letters do: 138****0001.
func maskPhone(p string) string {
	if len(p) < 8 {
		return p
	}
	return p[:3] + strings.Repeat("*", len(p)-7) + p[len(p)-4:]
}
