package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"campusgate/gate/journal"
	"campusgate/gate/pass"
	"campusgate/sync/store"
	"campusgate/sync/wire"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

type rosterData struct {
	Version uint64         `json:"version"`
	People  []store.Person `json:"people"`
	Errors  []lineError    `json:"errors,omitempty"`
	Result  string         `json:"result,omitempty"`
	Classes [][2]string    `json:"-"`
}

// lineError is a LineError with its message in the viewer's language.
type lineError struct {
	LineError
	Message string `json:"message"`
}

func (s *Server) roster(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := s.rosterData(r, v)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "view_roster", "", fmt.Sprintf("%d people", len(d.People)))
	s.respond(w, r, v, "roster", d)
}

func (s *Server) rosterData(r *http.Request, v *viewer) (rosterData, error) {
	version, people, err := s.db.Roster(r.Context())
	if err != nil {
		return rosterData{}, err
	}
	if grade, class := v.scoped(); class != "" {
		var mine []store.Person
		for _, p := range people {
			if p.Grade == grade && p.Class == class {
				mine = append(mine, p)
			}
		}
		people = mine
	}
	cls, _ := s.db.Classes(r.Context())
	return rosterData{Version: version, People: people, Classes: cls}, nil
}

// importRoster takes a roster CSV (a form's file, or the API's body): every
// line checked, nothing applied unless all are right; then it replaces the
// roster and goes down to the gates.
func (s *Server) importRoster(w http.ResponseWriter, r *http.Request, v *viewer) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRosterBytes+64<<10)
	var body io.Reader = r.Body
	dry := r.FormValue("dry_run") != ""
	if !isAPI(r) {
		f, _, err := r.FormFile("file")
		if err != nil {
			s.bad(w, r, v, fmt.Errorf("file: %w", err))
			return
		}
		defer f.Close()
		body = f
		dry = r.PostFormValue("dry_run") != ""
	}
	people, errs := ParseRoster(body)
	if len(errs) > 0 {
		d, err := s.rosterData(r, v)
		if err != nil {
			s.oops(w, r, v, err)
			return
		}
		for _, e := range errs {
			d.Errors = append(d.Errors, lineError{LineError: e, Message: v.lang.Tf(e.Code, e.Value)})
		}
		s.audit(r, v, "roster_import_refused", "", fmt.Sprintf("%d errors", len(errs)))
		if isAPI(r) {
			writeJSON(w, http.StatusUnprocessableEntity, d)
			return
		}
		s.renderMsg(w, r, v, http.StatusUnprocessableEntity, "roster", d, "", v.lang.Tf("roster.errors", len(errs)))
		return
	}
	var result string
	if dry {
		ch, err := s.db.CheckRoster(r.Context(), people)
		if err != nil {
			s.oops(w, r, v, err)
			return
		}
		result = v.lang.Tf("roster.checked", len(people), ch.Added, ch.Changed, ch.Removed)
	} else {
		ch, err := s.db.ReplaceRoster(r.Context(), people)
		if err != nil {
			s.oops(w, r, v, err)
			return
		}
		s.audit(r, v, "roster_import", fmt.Sprintf("v%d", ch.Version), fmt.Sprintf("%d people: +%d ~%d -%d", len(people), ch.Added, ch.Changed, ch.Removed))
		if _, err := s.PushRoster(r.Context()); err != nil {
			s.oops(w, r, v, err)
			return
		}
		result = v.lang.Tf("roster.applied", len(people), ch.Added, ch.Changed, ch.Removed, ch.Version)
	}
	d, err := s.rosterData(r, v)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	d.Result = result
	if isAPI(r) {
		writeJSON(w, http.StatusOK, d)
		return
	}
	s.renderMsg(w, r, v, http.StatusOK, "roster", d, d.Result, "")
}

// PushRoster hands the stored roster to the gates (none before the first
// import) and returns how many people it holds.
func (s *Server) PushRoster(ctx context.Context) (int, error) {
	version, people, err := s.db.Roster(ctx)
	if err != nil || version == 0 {
		return 0, err
	}
	gp := make([]journal.Person, len(people))
	for i, p := range people {
		gp[i] = p.Gate()
	}
	s.o.Gates.RosterChanged(version, gp)
	return len(people), nil
}

// PushAll hands the gates everything the school holds for them: the roster,
// the revoked passes, the school's settings (with the arrival windows) and
// each gate's own. campusd calls it at start; the pages push each part when
// it changes.
func (s *Server) PushAll(ctx context.Context) error {
	if _, err := s.PushRoster(ctx); err != nil {
		return err
	}
	if err := s.pushRevocations(ctx); err != nil {
		return err
	}
	arrival, err := LoadArrival(ctx, s.db)
	if err != nil {
		return err
	}
	doc, err := SchoolConfig(s.o.GateConfig, arrival)
	if err != nil {
		return fmt.Errorf("the school's gate settings with the console's arrival windows: %w", err)
	}
	if doc != "" {
		s.o.Gates.SchoolConfigChanged(doc)
	}
	cfgs, err := s.db.GateConfigs(ctx)
	if err != nil {
		return err
	}
	for g, c := range cfgs {
		s.o.Gates.ConfigChanged(g, wire.Config{V: wire.Version, Version: c.Version, TOML: c.TOML})
	}
	return nil
}

type passesData struct {
	Grade, Class string
	People       []personPasses
	Classes      [][2]string
	CanIssue     bool
}

type personPasses struct {
	store.Person
	Passes []store.PassRecord `json:"passes"`
	Valid  *store.PassRecord  `json:"valid,omitempty"` // the newest pass not revoked or expired
}

func (s *Server) classParam(r *http.Request, v *viewer) (string, string) {
	if grade, class := v.scoped(); class != "" {
		return grade, class
	}
	if gc := r.FormValue("gc"); gc != "" { // the class picker: "grade/class"
		g, c, _ := strings.Cut(gc, "/")
		return g, c
	}
	return strings.TrimSpace(r.FormValue("grade")), strings.TrimSpace(r.FormValue("class"))
}

func (s *Server) passesOf(r *http.Request, grade, class, person string) ([]personPasses, error) {
	var people []store.Person
	var err error
	if person != "" {
		p, e := s.db.PersonByID(r.Context(), person)
		if e != nil {
			return nil, e
		}
		people = []store.Person{p}
	} else if class != "" {
		if people, err = s.db.People(r.Context(), store.PeopleQuery{Grade: grade, Class: class}); err != nil {
			return nil, err
		}
	}
	ids := make([]string, len(people))
	for i, p := range people {
		ids[i] = p.ID
	}
	byPerson, err := s.db.PassesOf(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	out := make([]personPasses, 0, len(people))
	for _, p := range people {
		ps := byPerson[p.ID]
		pp := personPasses{Person: p, Passes: ps}
		for i := range ps {
			if ps[i].RevokedAt.IsZero() && ps[i].ExpiresAt.After(now) {
				pp.Valid = &ps[i]
				break
			}
		}
		out = append(out, pp)
	}
	return out, nil
}

func (s *Server) passes(w http.ResponseWriter, r *http.Request, v *viewer) {
	grade, class := s.classParam(r, v)
	person := strings.TrimSpace(r.FormValue("person"))
	if person != "" && !idPattern.MatchString(person) {
		s.bad(w, r, v, fmt.Errorf("person %q: not an id", person))
		return
	}
	people, err := s.passesOf(r, grade, class, person)
	if err != nil {
		s.notFoundOr(w, r, v, err)
		return
	}
	if person != "" && !v.mayView(people[0].Person) {
		s.problem(w, r, v, http.StatusForbidden, errors.New(v.lang.T("app.forbidden")))
		return
	}
	s.audit(r, v, "view_passes", grade+"/"+class+" "+person, "")
	if isAPI(r) {
		writeJSON(w, http.StatusOK, people)
		return
	}
	cls, _ := s.db.Classes(r.Context())
	s.render(w, r, v, http.StatusOK, "passes", passesData{Grade: grade, Class: class, People: people, Classes: cls, CanIssue: s.o.Issuer != nil})
}

// issuePasses signs passes for one person or a whole class.
func (s *Server) issuePasses(w http.ResponseWriter, r *http.Request, v *viewer) {
	var req struct {
		PersonID string `json:"person_id"`
		Grade    string `json:"grade"`
		Class    string `json:"class"`
		Days     int    `json:"days"`
	}
	if isAPI(r) {
		if !s.jsonBody(w, r, v, &req, 4096) {
			return
		}
	} else {
		req.PersonID, req.Grade, req.Class = r.PostFormValue("person_id"), r.PostFormValue("grade"), r.PostFormValue("class")
		req.Days, _ = strconv.Atoi(r.PostFormValue("days"))
	}
	if s.o.Issuer == nil {
		s.problem(w, r, v, http.StatusServiceUnavailable, errors.New(v.lang.T("passes.no_key")))
		return
	}
	if req.Days == 0 {
		req.Days = 365
	}
	if req.Days < 1 || req.Days > 3*365 {
		s.bad(w, r, v, fmt.Errorf("days %d: want 1 to %d", req.Days, 3*365))
		return
	}
	if g, c := v.scoped(); c != "" {
		if req.PersonID == "" {
			req.Grade, req.Class = g, c
		}
	}
	var people []store.Person
	if req.PersonID != "" {
		p, err := s.db.PersonByID(r.Context(), req.PersonID)
		if err != nil {
			s.notFoundOr(w, r, v, err)
			return
		}
		people = []store.Person{p}
	} else if req.Class != "" {
		var err error
		if people, err = s.db.People(r.Context(), store.PeopleQuery{Grade: req.Grade, Class: req.Class}); err != nil {
			s.oops(w, r, v, err)
			return
		}
	} else {
		s.bad(w, r, v, errors.New("name a person_id, or a grade and class"))
		return
	}
	for _, p := range people {
		if !v.mayView(p) {
			s.audit(r, v, "denied", "issue pass "+p.ID, "not in "+v.Class)
			s.problem(w, r, v, http.StatusForbidden, fmt.Errorf("%s is not in your class", p.ID))
			return
		}
	}
	now := s.clock.Now()
	var issued []store.PassRecord
	for _, p := range people {
		rec, err := s.issue(p.ID, pass.Role(p.Role), now, now.AddDate(0, 0, req.Days), v.Username)
		if err != nil {
			s.oops(w, r, v, err)
			return
		}
		issued = append(issued, rec)
	}
	if err := s.db.AddPass(r.Context(), issued...); err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "issue_passes", req.PersonID+req.Grade+"/"+req.Class, fmt.Sprintf("%d passes, %d days", len(issued), req.Days))
	if isAPI(r) {
		writeJSON(w, http.StatusOK, issued)
		return
	}
	to := "/passes?grade=" + urlQueryEscape(req.Grade) + "&class=" + urlQueryEscape(req.Class)
	if req.PersonID != "" {
		to = "/passes?person=" + urlQueryEscape(req.PersonID)
	}
	back(w, r, to, "passes.issued_some")
}

func (s *Server) issue(person string, role pass.Role, from, until time.Time, by string) (store.PassRecord, error) {
	if !role.Valid() {
		return store.PassRecord{}, fmt.Errorf("role %q cannot hold a pass", role)
	}
	id := pass.NewPassID()
	code, err := s.o.Issuer.Issue(pass.Claims{Issuer: s.o.School, Subject: person, Role: role, Health: pass.HealthGreen,
		IssuedAt: from, Expiry: until, PassID: id})
	if err != nil {
		return store.PassRecord{}, err
	}
	return store.PassRecord{PassID: id, PersonID: person, Role: string(role), KID: s.o.Issuer.KeyID(), Code: code,
		IssuedAt: from.Truncate(time.Second), ExpiresAt: until.Truncate(time.Second), IssuedBy: by}, nil
}

// revokePass revokes a pass and sends every gate the new list.
func (s *Server) revokePass(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	if pass.ValidPassID(id) != nil {
		s.bad(w, r, v, fmt.Errorf("pass id %q: not a pass id", id))
		return
	}
	reason := strings.TrimSpace(r.FormValue("reason"))
	if isAPI(r) {
		var req struct{ Reason string }
		_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req)
		reason = req.Reason
	}
	if !plainText(reason, 200) {
		s.bad(w, r, v, errors.New("reason: at most 200 characters of plain text"))
		return
	}
	rec, err := s.db.RevokePass(r.Context(), id, v.Username, reason)
	if err != nil {
		s.notFoundOr(w, r, v, err)
		return
	}
	if err := s.pushRevocations(r.Context()); err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "revoke_pass", id, rec.PersonID+" "+reason)
	if isAPI(r) {
		writeJSON(w, http.StatusOK, rec)
		return
	}
	back(w, r, "/passes?person="+urlQueryEscape(rec.PersonID), "passes.revoked_done")
}

// pushRevocations sends the gates every revoked pass not yet expired.
func (s *Server) pushRevocations(ctx context.Context) error {
	rv, err := s.db.Revoked(ctx)
	if err != nil {
		return err
	}
	msg := wire.Revocations{V: wire.Version, Passes: []wire.Revocation{}}
	for _, p := range rv {
		msg.Passes = append(msg.Passes, wire.Revocation{ID: p.PassID, Until: p.ExpiresAt.Add(24 * time.Hour)})
	}
	s.o.Gates.Revoked(msg)
	return nil
}

// passQR is a pass's QR code as a PNG.
func (s *Server) passQR(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	if pass.ValidPassID(id) != nil {
		s.bad(w, r, v, fmt.Errorf("pass id %q: not a pass id", id))
		return
	}
	var rec *store.PassRecord
	ps, err := s.db.PassByID(r.Context(), id)
	if err != nil {
		s.notFoundOr(w, r, v, err)
		return
	}
	rec = &ps
	// A guard prints the passes of the visitors the gatehouse registers. A
	// pupil's or a teacher's pass is their credential at the gate: one a guard
	// could print would let anyone in as them.
	if v.Role == RoleGuard && rec.Role != string(pass.RoleVisitor) {
		s.audit(r, v, "denied", r.URL.Path, "guard: not a visitor's pass")
		s.problem(w, r, v, http.StatusForbidden, errors.New(v.lang.T("app.forbidden")))
		return
	}
	if _, c := v.scoped(); c != "" {
		if p, _ := s.db.PersonByID(r.Context(), rec.PersonID); !v.mayView(p) {
			s.problem(w, r, v, http.StatusForbidden, errors.New(v.lang.T("app.forbidden")))
			return
		}
	}
	img, err := QRPNG(rec.Code, 6)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "view_pass", id, rec.PersonID)
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, no-store")
	_, _ = w.Write(img)
}

// QRPNG draws text as a QR code (error correction M, a 4-module quiet zone),
// scale pixels a module.
func QRPNG(text string, scale int) ([]byte, error) {
	q, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	pw := &pngWriter{scale: scale}
	if err := q.Save(pw); err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return pw.buf.Bytes(), nil
}

// pngWriter is a qrcode.Writer that draws the matrix as a black and white PNG.
type pngWriter struct {
	scale int
	buf   bytes.Buffer
}

func (p *pngWriter) Write(m qrcode.Matrix) error {
	const quiet = 4
	bits := m.Bitmap()
	n := len(bits)
	size := (n + 2*quiet) * p.scale
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y, row := range bits {
		for x, dark := range row {
			if !dark {
				continue
			}
			for dy := range p.scale {
				for dx := range p.scale {
					img.SetColorIndex((x+quiet)*p.scale+dx, (y+quiet)*p.scale+dy, 1)
				}
			}
		}
	}
	return png.Encode(&p.buf, img)
}

func (p *pngWriter) Close() error { return nil }

// passSheet is a printable sheet of a class's valid passes, a card each.
func (s *Server) passSheet(w http.ResponseWriter, r *http.Request, v *viewer) {
	grade, class := s.classParam(r, v)
	if class == "" {
		s.bad(w, r, v, errors.New("name a grade and a class"))
		return
	}
	people, err := s.passesOf(r, grade, class, "")
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "print_passes", grade+"/"+class, fmt.Sprintf("%d people", len(people)))
	s.render(w, r, v, http.StatusOK, "sheet", passesData{Grade: grade, Class: class, People: people})
}

type visitorsData struct {
	Visitors []store.Visitor   `json:"registered"`
	WalkIns  []journal.Entry   `json:"walk_ins"` // today's walk-in visitors the guards registered at the gates
	Issued   *store.PassRecord `json:"-"`
	CanIssue bool              `json:"-"`
}

func (s *Server) visitorsData(r *http.Request) (visitorsData, error) {
	vs, err := s.db.Visitors(r.Context(), s.clock.Now())
	if err != nil {
		return visitorsData{}, err
	}
	from, to, _ := s.dayBounds(s.today())
	walk, err := s.db.Entries(r.Context(), store.Query{From: from, To: to, Credential: "walk_in", Limit: 1000})
	if err != nil {
		return visitorsData{}, err
	}
	return visitorsData{Visitors: vs, WalkIns: walk, CanIssue: s.o.Issuer != nil}, nil
}

func (s *Server) visitors(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := s.visitorsData(r)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "view_visitors", "", fmt.Sprintf("%d registered, %d walk-ins", len(d.Visitors), len(d.WalkIns)))
	s.respond(w, r, v, "visitors", d)
}

// registerVisitor registers a visit and issues its pass (role visitor, valid
// for the visit only).
func (s *Server) registerVisitor(w http.ResponseWriter, r *http.Request, v *viewer) {
	var req struct {
		Name   string    `json:"name"`
		Phone  string    `json:"phone"`
		Reason string    `json:"reason"`
		Host   string    `json:"host"`
		From   time.Time `json:"from"`
		To     time.Time `json:"to"`
	}
	now := s.clock.Now()
	if isAPI(r) {
		if !s.jsonBody(w, r, v, &req, 8192) {
			return
		}
	} else {
		req.Name, req.Phone = strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("phone"))
		req.Reason, req.Host = strings.TrimSpace(r.PostFormValue("reason")), strings.TrimSpace(r.PostFormValue("host"))
		loc := s.db.Location()
		var err error
		if req.From, err = time.ParseInLocation("2006-01-02T15:04", r.PostFormValue("from"), loc); err != nil {
			req.From = now
		}
		if req.To, err = time.ParseInLocation("2006-01-02T15:04", r.PostFormValue("to"), loc); err != nil {
			s.bad(w, r, v, fmt.Errorf("until %q: want a date and time", r.PostFormValue("to")))
			return
		}
	}
	if req.From.IsZero() {
		req.From = now
	}
	switch {
	case req.Name == "" || !plainText(req.Name, 64):
		s.bad(w, r, v, errors.New("name: required, at most 64 characters"))
		return
	case !phonePattern.MatchString(req.Phone):
		s.bad(w, r, v, fmt.Errorf("phone %q: not a phone number", req.Phone))
		return
	case req.Reason == "" || !plainText(req.Reason, 200) || !plainText(req.Host, 64):
		s.bad(w, r, v, errors.New("reason (required) and host: plain text, at most 200 and 64 characters"))
		return
	case !req.To.After(req.From) || req.To.Sub(req.From) > 31*24*time.Hour:
		s.bad(w, r, v, errors.New("the visit must end after it starts, and last at most 31 days"))
		return
	}
	if s.o.Issuer == nil {
		s.problem(w, r, v, http.StatusServiceUnavailable, errors.New(v.lang.T("passes.no_key")))
		return
	}
	vid := "V" + strings.ToUpper(pass.NewPassID()[:10])
	rec, err := s.issue(vid, pass.RoleVisitor, req.From, req.To, v.Username)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	vis := store.Visitor{ID: vid, Name: req.Name, Phone: req.Phone, Reason: req.Reason, Host: req.Host, ValidFrom: req.From, ValidTo: req.To,
		CreatedBy: v.Username, PassID: rec.PassID}
	if err := s.db.AddVisitor(r.Context(), vis, rec); err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "register_visitor", vid, req.Name+" → "+req.Host)
	if isAPI(r) {
		writeJSON(w, http.StatusOK, map[string]any{"visitor": vis, "pass": rec})
		return
	}
	d, err := s.visitorsData(r)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	d.Issued = &rec
	s.renderMsg(w, r, v, http.StatusOK, "visitors", d, v.lang.T("visitors.done"), "")
}
