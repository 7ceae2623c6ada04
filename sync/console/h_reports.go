package console

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"campusgate/sync/store"
)

// ClassCount is one class's day (or the staff's, or everyone's).
type ClassCount struct {
	Grade      string `json:"grade"`
	Class      string `json:"class"`
	Expected   int    `json:"expected"`
	Arrived    int    `json:"arrived"`
	NotArrived int    `json:"not_arrived"`
	Fevers     int    `json:"fevers"`
	Denied     int    `json:"denied"`
	// The midday check: pupils who came in and were checked, and those who
	// came in and were missed.
	MiddayChecked int `json:"midday_checked"`
	MiddayMissed  int `json:"midday_missed"`
}

func (c *ClassCount) add(o ClassCount) {
	c.Expected, c.Arrived, c.NotArrived = c.Expected+o.Expected, c.Arrived+o.Arrived, c.NotArrived+o.NotArrived
	c.Fevers, c.Denied = c.Fevers+o.Fevers, c.Denied+o.Denied
	c.MiddayChecked, c.MiddayMissed = c.MiddayChecked+o.MiddayChecked, c.MiddayMissed+o.MiddayMissed
}

// Report is a day's report: aggregates only, no names.
type Report struct {
	Day     string       `json:"day"`
	Classes []ClassCount `json:"classes"`
	Staff   ClassCount   `json:"staff"`
	Total   ClassCount   `json:"total"`
	Zero    bool         `json:"zero_report"` // no fever and nobody refused: the district's zero report
	Midday  bool         `json:"midday"`      // midday checks were made this day
	// Windows are each grade's arrivals against its staggered arrival window.
	Windows []WindowCount `json:"windows,omitempty"`
	// Arrivals per 5 minutes by gate: Slots are "07:30", …; Gates[gate][i] the
	// admissions in slot i.
	Slots []string         `json:"slots"`
	Gates map[string][]int `json:"arrivals"`
	// FeverDays are the last 30 days and FeverCounts the people with a fever on each.
	FeverDays   []string `json:"fever_days"`
	FeverCounts []int    `json:"fever_counts"`
}

// dayCounts is the part of day's report the home page shows too: expected,
// arrived, fevers and refusals, by class, for grade/class ("" for all); with
// the people and their day that the rest of the report is made from.
func (s *Server) dayCounts(ctx context.Context, day, grade, class string) (rep Report, people []store.Person, sum map[string]*store.PersonDay, in map[string]bool, err error) {
	rep = Report{Day: day, Gates: map[string][]int{}}
	if people, err = s.db.People(ctx, store.PeopleQuery{Grade: grade, Class: class}); err != nil {
		return
	}
	if sum, err = s.db.DaySummary(ctx, day); err != nil {
		return
	}
	midday, err := s.db.MiddayChecks(ctx, day)
	if err != nil {
		return
	}
	rep.Midday = len(midday) > 0
	byClass := map[[2]string]*ClassCount{}
	in = map[string]bool{}
	for _, p := range people {
		var c *ClassCount
		switch p.Role {
		case "pupil":
			k := [2]string{p.Grade, p.Class}
			if c = byClass[k]; c == nil {
				c = &ClassCount{Grade: p.Grade, Class: p.Class}
				byClass[k] = c
			}
		case "staff":
			c = &rep.Staff
		default:
			continue
		}
		in[p.ID] = true
		c.Expected++
		pd := sum[p.ID]
		if pd != nil && !pd.FirstAdmit.IsZero() {
			c.Arrived++
		} else {
			c.NotArrived++
		}
		if pd != nil && pd.Fever {
			c.Fevers++
		}
		if pd != nil && pd.Denied > 0 {
			c.Denied++
		}
		if _, checked := midday[p.ID]; checked {
			c.MiddayChecked++
		} else if rep.Midday && p.Role == "pupil" && pd != nil && !pd.FirstAdmit.IsZero() {
			c.MiddayMissed++
		}
	}
	for _, c := range byClass {
		rep.Classes = append(rep.Classes, *c)
	}
	sort.Slice(rep.Classes, func(i, j int) bool {
		a, b := rep.Classes[i], rep.Classes[j]
		if a.Grade != b.Grade {
			return naturalLess(a.Grade, b.Grade)
		}
		return naturalLess(a.Class, b.Class)
	})
	for _, c := range rep.Classes {
		rep.Total.add(c)
	}
	rep.Total.add(rep.Staff)
	rep.Zero = rep.Total.Fevers == 0 && rep.Total.Denied == 0
	return
}

// DayTotals is the whole school's day, pupils and staff, counted as the day's
// report counts it: campusd's district feed sends these numbers, so the
// district never reads other numbers than the school's own report.
func (s *Server) DayTotals(ctx context.Context, day string) (ClassCount, error) {
	rep, _, _, _, err := s.dayCounts(ctx, day, "", "")
	return rep.Total, err
}

// dayReport computes day's report over the roster's people in grade/class
// ("" for all).
func (s *Server) dayReport(ctx context.Context, day, grade, class string) (Report, error) {
	rep, people, sum, in, err := s.dayCounts(ctx, day, grade, class)
	if err != nil {
		return rep, err
	}
	arr, err := LoadArrival(ctx, s.db)
	if err != nil {
		return rep, err
	}
	rep.Windows = s.windowCounts(people, store.FirstAdmits(sum), arr)

	adm, err := s.db.Admissions(ctx, day)
	if err != nil {
		return rep, err
	}
	loc := s.db.Location()
	first, last := -1, -1
	slot := func(t time.Time) int { lt := t.In(loc); return (lt.Hour()*60 + lt.Minute()) / 5 }
	for _, a := range adm {
		if (grade != "" || class != "") && !in[a.PersonID] {
			continue
		}
		n := slot(a.At)
		if first < 0 || n < first {
			first = n
		}
		last = max(last, n)
	}
	if first >= 0 {
		last = max(last, min(first+11, 24*12-1)) // at least an hour, so a quiet morning still reads as a timeline
		for n := first; n <= last; n++ {
			rep.Slots = append(rep.Slots, fmt.Sprintf("%02d:%02d", n*5/60, n*5%60))
		}
		for _, a := range adm {
			if (grade != "" || class != "") && !in[a.PersonID] {
				continue
			}
			if rep.Gates[a.Gate] == nil {
				rep.Gates[a.Gate] = make([]int, len(rep.Slots))
			}
			rep.Gates[a.Gate][slot(a.At)-first]++
		}
	}
	d, _, _ := s.dayBounds(day)
	from := d.AddDate(0, 0, -29).Format(time.DateOnly)
	fevers, err := s.db.FeversPerDay(ctx, from, day)
	if err != nil {
		return rep, err
	}
	for i := 0; i < 30; i++ {
		dd := d.AddDate(0, 0, i-29).Format(time.DateOnly)
		rep.FeverDays, rep.FeverCounts = append(rep.FeverDays, dd), append(rep.FeverCounts, fevers[dd])
	}
	return rep, nil
}

// naturalLess orders "2" before "10" and "1-2" before "1-10".
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		na, ra := leadingNumber(a)
		nb, rb := leadingNumber(b)
		if na >= 0 && nb >= 0 {
			if na != nb {
				return na < nb
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func leadingNumber(s string) (int, string) {
	n, i := 0, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' && i < 9 {
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i == 0 {
		return -1, s
	}
	return n, s[i:]
}

func (s *Server) report(w http.ResponseWriter, r *http.Request, v *viewer) {
	day, err := s.dayParam(r)
	if err != nil {
		s.bad(w, r, v, err)
		return
	}
	grade, class := v.scoped()
	rep, err := s.dayReport(r.Context(), day, grade, class)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	if isAPI(r) {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	chart, _ := json.Marshal(map[string]any{"slots": rep.Slots, "gates": rep.Gates, "fever_days": rep.FeverDays,
		"fever_counts": rep.FeverCounts, "fever_label": v.lang.T("report.fevers")})
	s.render(w, r, v, http.StatusOK, "report", struct {
		R     Report
		Chart template.JS // json.Marshal escapes <, > and &: safe inside <script>
	}{rep, template.JS(chart)})
}

// absentee is someone expected who had not come in by the cutoff.
type absentee struct {
	store.Person
	Late    time.Time      `json:"late,omitzero"` // came in after the cutoff
	Absence *store.Absence `json:"absence,omitempty"`
}

type absencesData struct {
	Day     string     `json:"day"`
	Cutoff  string     `json:"cutoff"`
	Today   bool       `json:"today"`
	People  []absentee `json:"people"`
	Reasons []string   `json:"-"`
}

func (s *Server) absentees(ctx context.Context, day string, cutoff time.Duration, grade, class string) ([]absentee, error) {
	people, err := s.db.People(ctx, store.PeopleQuery{Grade: grade, Class: class})
	if err != nil {
		return nil, err
	}
	sum, err := s.db.DaySummary(ctx, day)
	if err != nil {
		return nil, err
	}
	arr := store.FirstAdmits(sum)
	recs, err := s.db.Absences(ctx, day)
	if err != nil {
		return nil, err
	}
	d, _, _ := s.dayBounds(day)
	limit := d.Add(cutoff)
	var out []absentee
	for _, p := range people {
		if p.Role != "pupil" && p.Role != "staff" {
			continue
		}
		at, came := arr[p.ID]
		if came && !at.After(limit) {
			continue
		}
		a := absentee{Person: p}
		if came {
			a.Late = at
		}
		if rec, ok := recs[p.ID]; ok {
			a.Absence = &rec
		}
		out = append(out, a)
	}
	return out, nil
}

func (s *Server) cutoffParam(r *http.Request) (time.Duration, string, error) {
	c := r.FormValue("cutoff")
	if c == "" {
		return s.cutoff, s.o.AbsenceCutoff, nil
	}
	t, err := time.Parse("15:04", c)
	if err != nil {
		return 0, "", fmt.Errorf("cutoff %q: want HH:MM", c)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, c, nil
}

func (s *Server) absences(w http.ResponseWriter, r *http.Request, v *viewer) {
	day, err := s.dayParam(r)
	if err != nil {
		s.bad(w, r, v, err)
		return
	}
	cut, cutText, err := s.cutoffParam(r)
	if err != nil {
		s.bad(w, r, v, err)
		return
	}
	grade, class := v.scoped()
	people, err := s.absentees(r.Context(), day, cut, grade, class)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "view_absences", day, fmt.Sprintf("%d not arrived by %s", len(people), cutText))
	d := absencesData{Day: day, Cutoff: cutText, Today: day == s.today(), People: people, Reasons: store.AbsenceReasons}
	s.respond(w, r, v, "absences", d)
}

// recordAbsence records why someone is absent: today only, and a head
// teacher only for their own class.
func (s *Server) recordAbsence(w http.ResponseWriter, r *http.Request, v *viewer) {
	var req struct {
		PersonID string `json:"person_id"`
		Reason   string `json:"reason"`
		Note     string `json:"note"`
	}
	if isAPI(r) {
		if !s.jsonBody(w, r, v, &req, 8192) {
			return
		}
	} else {
		req.PersonID, req.Reason, req.Note = r.PostFormValue("person_id"), r.PostFormValue("reason"), strings.TrimSpace(r.PostFormValue("note"))
	}
	if !slices.Contains(store.AbsenceReasons, req.Reason) {
		s.bad(w, r, v, fmt.Errorf("reason %q: want one of %s", req.Reason, strings.Join(store.AbsenceReasons, ", ")))
		return
	}
	if !plainText(req.Note, 500) {
		s.bad(w, r, v, fmt.Errorf("note: at most 500 characters of plain text"))
		return
	}
	p, err := s.db.PersonByID(r.Context(), req.PersonID)
	if err != nil {
		s.notFoundOr(w, r, v, err)
		return
	}
	if !v.mayView(p) {
		s.audit(r, v, "denied", "absence "+p.ID, "not in "+v.Class)
		s.problem(w, r, v, http.StatusForbidden, fmt.Errorf("%s is not in your class", p.ID))
		return
	}
	day := s.today()
	if err := s.db.RecordAbsence(r.Context(), store.Absence{Day: day, PersonID: p.ID, Reason: req.Reason, Note: req.Note, Username: v.Username}); err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "record_absence", p.ID, day+" "+req.Reason)
	if isAPI(r) {
		writeJSON(w, http.StatusOK, map[string]string{"recorded": day})
		return
	}
	back(w, r, "/absences", "alerts.recorded")
}

type homeData struct {
	Day         string
	Total       ClassCount
	OpenAlerts  int
	GatesOnline int
	Gates       int
	Zero        bool
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, v *viewer) {
	d := homeData{Day: s.today()}
	grade, class := v.scoped()
	if v.is(RoleAdmin, RoleHeadTeacher, RoleDistrict, RoleNurse) {
		rep, _, _, _, err := s.dayCounts(r.Context(), d.Day, grade, class)
		if err != nil {
			s.oops(w, r, v, err)
			return
		}
		d.Total, d.Zero = rep.Total, rep.Zero
	}
	if v.is(RoleAdmin, RoleNurse) {
		d.OpenAlerts, _ = s.db.PendingFeverCount(r.Context())
	}
	if gs, err := s.db.Gates(r.Context()); err == nil {
		d.Gates = len(gs)
		for _, g := range gs {
			if g.Online {
				d.GatesOnline++
			}
		}
	}
	s.render(w, r, v, http.StatusOK, "home", d)
}
