package console

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"campusgate/gate"
	"campusgate/gate/journal"
	"campusgate/sync/store"
	"campusgate/sync/wire"
)

// entryView is an entry with the person's name and class from the roster.
type entryView struct {
	journal.Entry
	Name  string `json:"name,omitempty"`
	Grade string `json:"grade,omitempty"`
	Class string `json:"class,omitempty"`
}

type entriesData struct {
	Query   url.Values  `json:"-"`
	Entries []entryView `json:"entries"`
	Limit   int         `json:"limit"`
	Gates   []string    `json:"-"`
	Reasons []string    `json:"-"`
	Scoped  bool        `json:"-"` // a head teacher's class, or a guard's today
}

// filterReasons are the codes the search offers and accepts: every one a
// gate's decision can carry.
var filterReasons = func() []string {
	var out []string
	for _, r := range gate.Reasons() {
		out = append(out, string(r))
	}
	return out
}()

// entryQuery reads the search form; v's scope is applied over it (a head
// teacher sees their class, a guard today). Every field is checked: what is
// not a date, a gate id, a known decision or reason is refused, not searched.
func (s *Server) entryQuery(r *http.Request, v *viewer) (store.Query, error) {
	var q store.Query
	f := r.URL.Query()
	day := func(name string) (time.Time, error) {
		val := strings.TrimSpace(f.Get(name))
		if val == "" {
			return time.Time{}, nil
		}
		if t, err := time.Parse(time.RFC3339, val); err == nil {
			return t, nil
		}
		t, err := time.ParseInLocation(time.DateOnly, val, s.db.Location())
		if err != nil {
			return t, fmt.Errorf("%s %q: want YYYY-MM-DD", name, val)
		}
		return t, nil
	}
	var err error
	if q.From, err = day("from"); err != nil {
		return q, err
	}
	if q.To, err = day("to"); err != nil {
		return q, err
	}
	if !q.To.IsZero() && len(f.Get("to")) == len(time.DateOnly) {
		q.To = q.To.AddDate(0, 0, 1) // "to" a day includes that day
	}
	if g := strings.TrimSpace(f.Get("gate")); g != "" {
		if wire.ValidGateID(g) != nil {
			return q, fmt.Errorf("gate %q: not a gate id", g)
		}
		q.Gate = g
	}
	if p := strings.TrimSpace(f.Get("person")); p != "" {
		switch {
		case !plainText(p, 64):
			return q, errors.New("person: at most 64 characters of plain text")
		case idPattern.MatchString(p):
			if _, err := s.db.PersonByID(r.Context(), p); err == nil || !errors.Is(err, store.ErrNotFound) {
				q.Person = p
			} else {
				q.Name = p
			}
		default:
			q.Name = p
		}
	}
	q.Grade, q.Class = strings.TrimSpace(f.Get("grade")), strings.TrimSpace(f.Get("class"))
	if !plainText(q.Grade, 32) || !plainText(q.Class, 32) {
		return q, errors.New("grade and class: at most 32 characters of plain text")
	}
	if d := f.Get("decision"); d != "" {
		if d != "admit" && d != "deny" && d != "refer" {
			return q, fmt.Errorf("decision %q: want admit, deny or refer", d)
		}
		q.Decision = d
	}
	if rs := f.Get("reason"); rs != "" {
		if !slices.Contains(filterReasons, rs) {
			return q, fmt.Errorf("reason %q: not a reason code", rs)
		}
		q.Reason = rs
	}
	q.Limit = 500
	if l := f.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 10_000 {
			return q, fmt.Errorf("limit %q: want 1 to 10000", l)
		}
		q.Limit = n
	}
	if grade, class := v.scoped(); class != "" {
		q.Grade, q.Class = grade, class
	}
	if v.is(RoleGuard) {
		from, to, _ := s.dayBounds(s.today())
		q.From, q.To = from, to
	}
	return q, nil
}

func (s *Server) viewEntries(ctx context.Context, es []journal.Entry) []entryView {
	ids := make([]string, 0, len(es))
	for _, e := range es {
		ids = append(ids, e.PersonID)
	}
	people, _ := s.db.PeopleByID(ctx, store.PeopleQuery{IDs: ids}) // without them the entries still show, unnamed
	out := make([]entryView, len(es))
	for i, e := range es {
		p := people[e.PersonID]
		out[i] = entryView{Entry: e, Name: p.Name, Grade: p.Grade, Class: p.Class}
	}
	return out
}

func (s *Server) entries(w http.ResponseWriter, r *http.Request, v *viewer) {
	q, err := s.entryQuery(r, v)
	if err != nil {
		s.bad(w, r, v, err)
		return
	}
	es, err := s.db.Entries(r.Context(), q)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "view_entries", r.URL.RawQuery, fmt.Sprintf("%d entries", len(es)))
	d := entriesData{Query: r.URL.Query(), Entries: s.viewEntries(r.Context(), es), Limit: q.Limit, Reasons: filterReasons,
		Scoped: v.is(RoleHeadTeacher, RoleGuard)}
	if isAPI(r) {
		writeJSON(w, http.StatusOK, d)
		return
	}
	if gs, err := s.db.Gates(r.Context()); err == nil {
		for _, g := range gs {
			d.Gates = append(d.Gates, g.ID)
		}
	}
	s.render(w, r, v, http.StatusOK, "entries", d)
}

// entriesCSV streams the entries a search selects as CSV that Excel opens
// with the Chinese intact (UTF-8 with a BOM), however many there are.
func (s *Server) entriesCSV(w http.ResponseWriter, r *http.Request, v *viewer) {
	q, err := s.entryQuery(r, v)
	if err != nil {
		s.bad(w, r, v, err)
		return
	}
	q.OldestFirst = true
	name := "entries"
	if f := r.URL.Query().Get("from"); f != "" && len(f) <= 10 {
		name += "-" + f
	}
	// The roster once (a school's, thousands), not a query a row: an export streams a year of entries.
	people, err := s.db.PeopleByID(r.Context(), store.PeopleQuery{})
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "export_entries", r.URL.RawQuery, "")
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, name))
	bw := bufio.NewWriterSize(w, 64<<10)
	_, _ = bw.WriteString("\ufeff")
	cw := csv.NewWriter(bw)
	l := v.lang
	_ = cw.Write([]string{l.T("entries.time"), l.T("entries.gate"), "ID", l.T("entries.name"), l.T("accounts.role"), l.T("entries.grade"),
		l.T("entries.class"), l.T("entries.decision"), l.T("entries.reason"), l.T("entries.temp"), l.T("entries.guard"),
		"kind", "credential", "assurance", "clock_synced", "epoch", "seq"})
	n := 0
	err = s.db.EachEntry(r.Context(), q, func(e journal.Entry) error {
		p := people[e.PersonID]
		temp := ""
		if e.BodyC != 0 {
			temp = strconv.FormatFloat(e.BodyC, 'f', 1, 64)
		}
		guard := ""
		if e.Guard != nil {
			guard = e.Guard.ID + " " + e.Guard.Reason
		}
		n++
		return cw.Write([]string{e.Time.In(s.db.Location()).Format("2006-01-02 15:04:05"), e.GateID, e.PersonID, csvSafe(p.Name), e.Role,
			csvSafe(p.Grade), csvSafe(p.Class), l.T("decision." + e.Decision), page{lang: l}.Reason(e.Reason) + " (" + e.Reason + ")", temp,
			csvSafe(guard), e.Kind, e.Credential, e.Assurance, strconv.FormatBool(e.ClockSynced), e.Epoch, strconv.FormatUint(e.Seq, 10)})
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		s.log.Warn("entry export cut short", "err", err, "rows", n) // the response has started: only the log can say
	}
}

// csvSafe keeps a spreadsheet from taking a cell for a formula (a name that
// begins with = + - @ would otherwise run as one in Excel).
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

type personData struct {
	Person  store.Person       `json:"person"`
	Entries []entryView        `json:"entries"`
	Passes  []store.PassRecord `json:"passes,omitempty"`
}

// person is one person's timeline: their entries (newest first) and passes.
func (s *Server) person(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	if !idPattern.MatchString(id) {
		s.bad(w, r, v, fmt.Errorf("person %q: not an id", id))
		return
	}
	p, err := s.db.PersonByID(r.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.oops(w, r, v, err)
		return
	}
	if p.ID == "" {
		p.ID = id
	}
	if !v.mayView(p) {
		s.audit(r, v, "denied", "/people/"+id, "not in "+v.Class)
		s.problem(w, r, v, http.StatusForbidden, errors.New(v.lang.T("app.forbidden")))
		return
	}
	es, err := s.db.Entries(r.Context(), store.Query{Person: id, Limit: 1000})
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	d := personData{Person: p, Entries: s.viewEntries(r.Context(), es)}
	if !v.is(RoleNurse) {
		d.Passes, _ = s.db.Passes(r.Context(), id)
	}
	s.audit(r, v, "view_person", id, fmt.Sprintf("%d entries", len(es)))
	s.respond(w, r, v, "person", d)
}
