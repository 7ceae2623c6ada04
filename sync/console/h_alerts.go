package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"campusgate/sync/store"
)

// alertView is an alert with the person it is about, as the roster has them.
// The stored alert is embedded under a name of its own, so .Alert is the
// alert as the gate sent it (store.Alert's field), in templates and JSON alike.
type alertView struct {
	storedAlert
	Person store.Person       `json:"person"`
	Events []store.AlertEvent `json:"events,omitempty"`
}

type storedAlert = store.Alert

type alertsData struct {
	// Unsaved are fever alerts the database could not store (a full disk):
	// shown, but acknowledged only once stored.
	Unsaved  []alertView   `json:"unsaved,omitempty"`
	Open     []alertView   `json:"open"` // no outcome yet: to handle
	Handled  []alertView   `json:"handled"`
	Device   []store.Alert `json:"device"`
	Outcomes []string      `json:"-"`
}

// outcomeOrder are store.Outcomes' codes, as the nurse's page offers them.
var outcomeOrder = func() []string {
	var out []string
	for _, o := range store.Outcomes {
		out = append(out, o.Code)
	}
	return out
}()

// dayBounds are the instants a day (YYYY-MM-DD, the school's zone) starts and ends.
func (s *Server) dayBounds(day string) (time.Time, time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, day, s.db.Location())
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("day %q: want YYYY-MM-DD", day)
	}
	return d, d.AddDate(0, 0, 1), nil
}

func (s *Server) today() string { return s.clock.Now().In(s.db.Location()).Format(time.DateOnly) }

// dayParam is the request's ?day=, today if none.
func (s *Server) dayParam(r *http.Request) (string, error) {
	day := r.FormValue("day")
	if day == "" {
		return s.today(), nil
	}
	if _, _, err := s.dayBounds(day); err != nil {
		return "", err
	}
	return day, nil
}

func (s *Server) withPeople(r *http.Request, as []store.Alert) []alertView {
	ids := make([]string, 0, len(as))
	for _, a := range as {
		ids = append(ids, a.Alert.PersonID)
	}
	people, _ := s.db.PeopleByID(r.Context(), store.PeopleQuery{IDs: ids}) // without them the alerts still show, by id
	out := make([]alertView, 0, len(as))
	for _, a := range as {
		p := people[a.Alert.PersonID]
		if p.ID == "" {
			p.ID = a.Alert.PersonID
		}
		out = append(out, alertView{storedAlert: a, Person: p})
	}
	return out
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request, v *viewer) {
	day, err := s.dayParam(r)
	if err != nil {
		s.bad(w, r, v, err)
		return
	}
	from, to, _ := s.dayBounds(day)
	pending, err := s.db.PendingFevers(r.Context())
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	dayAlerts, err := s.db.FeverAlerts(r.Context(), true, from, to, 500)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	device, err := s.db.FeverAlerts(r.Context(), false, from, to, 200)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	d := alertsData{Outcomes: outcomeOrder, Device: device}
	var handled []store.Alert
	for _, a := range dayAlerts {
		if a.Outcome != "" {
			handled = append(handled, a)
		}
	}
	d.Open, d.Handled, d.Unsaved = s.withPeople(r, pending), s.withPeople(r, handled), s.unsavedViews(r)
	s.audit(r, v, "view_alerts", day, fmt.Sprintf("%d open, %d handled", len(d.Open), len(d.Handled)))
	s.respond(w, r, v, "alerts", d)
}

func (s *Server) alertID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("alert id %q: want a number", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) alert(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, err := s.alertID(r)
	if err != nil {
		s.bad(w, r, v, err)
		return
	}
	a, err := s.db.AlertByID(r.Context(), id)
	if err != nil {
		s.notFoundOr(w, r, v, err)
		return
	}
	av := s.withPeople(r, []store.Alert{a})[0]
	if av.Events, err = s.db.AlertEvents(r.Context(), id); err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.audit(r, v, "view_alert", strconv.FormatInt(id, 10), av.Alert.PersonID)
	if isAPI(r) {
		writeJSON(w, http.StatusOK, av)
		return
	}
	s.render(w, r, v, http.StatusOK, "alert", struct {
		A        alertView
		Outcomes []string
	}{av, outcomeOrder})
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, err := s.alertID(r)
	if err != nil {
		s.bad(w, r, v, err)
		return
	}
	first, err := s.db.Acknowledge(r.Context(), id, v.Username)
	if err != nil {
		s.notFoundOr(w, r, v, err)
		return
	}
	if first {
		s.audit(r, v, "ack_alert", strconv.FormatInt(id, 10), "")
		s.hub.publish(event{Kind: "changed"})
	}
	if isAPI(r) {
		writeJSON(w, http.StatusOK, map[string]bool{"acknowledged": true, "first": first})
		return
	}
	back(w, r, r.PostFormValue("back"), "alerts.acked")
}

func (s *Server) outcome(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, err := s.alertID(r)
	if err != nil {
		s.bad(w, r, v, err)
		return
	}
	var req struct {
		Outcome string  `json:"outcome"`
		RetestC float64 `json:"retest_c"`
		Note    string  `json:"note"`
	}
	if isAPI(r) {
		if !s.jsonBody(w, r, v, &req, 8192) {
			return
		}
	} else {
		req.Outcome, req.Note = r.PostFormValue("outcome"), strings.TrimSpace(r.PostFormValue("note"))
		if t := strings.TrimSpace(r.PostFormValue("retest_c")); t != "" {
			if req.RetestC, err = strconv.ParseFloat(t, 64); err != nil {
				s.bad(w, r, v, fmt.Errorf("retest %q: want a temperature like 37.2", t))
				return
			}
		}
	}
	switch {
	case !slices.Contains(outcomeOrder, req.Outcome):
		s.bad(w, r, v, fmt.Errorf("outcome %q: want one of %s", req.Outcome, strings.Join(outcomeOrder, ", ")))
		return
	case req.RetestC != 0 && (req.RetestC < 34 || req.RetestC > 43):
		s.bad(w, r, v, fmt.Errorf("retest %.1f °C: want 34–43 °C", req.RetestC))
		return
	case !plainText(req.Note, 500):
		s.bad(w, r, v, errors.New("note: at most 500 characters of plain text"))
		return
	}
	if err := s.db.RecordOutcome(r.Context(), id, v.Username, req.Outcome, req.RetestC, req.Note); err != nil {
		s.notFoundOr(w, r, v, err)
		return
	}
	s.audit(r, v, "alert_outcome", strconv.FormatInt(id, 10), req.Outcome)
	s.hub.publish(event{Kind: "changed"})
	if isAPI(r) {
		writeJSON(w, http.StatusOK, map[string]bool{"recorded": true})
		return
	}
	back(w, r, r.PostFormValue("back"), "alerts.recorded")
}

func (s *Server) isolation(w http.ResponseWriter, r *http.Request, v *viewer) {
	as, err := s.db.Isolation(r.Context())
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	d := s.withPeople(r, as)
	s.audit(r, v, "view_isolation", "", fmt.Sprintf("%d waiting", len(d)))
	s.respond(w, r, v, "isolation", d)
}

// bad answers a request that cannot be done as asked (400).
func (s *Server) bad(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	s.problem(w, r, v, http.StatusBadRequest, err)
}

// oops answers a failure of the server's own (500), logged.
func (s *Server) oops(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	s.log.Error("console request failed", "path", r.URL.Path, "err", err)
	if store.DiskFull(err) {
		// Said in the user's words, not the engine's: they can do nothing
		// about it but wait or call the administrator.
		s.problem(w, r, v, http.StatusInsufficientStorage, errors.New(langOf(r).T("app.disk_full"))) // a viewer's lang is the request's
		return
	}
	s.problem(w, r, v, http.StatusInternalServerError, err)
}

func (s *Server) notFoundOr(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	if errors.Is(err, store.ErrNotFound) {
		s.problem(w, r, v, http.StatusNotFound, err)
		return
	}
	s.oops(w, r, v, err)
}

func (s *Server) problem(w http.ResponseWriter, r *http.Request, v *viewer, code int, err error) {
	if isAPI(r) {
		fail(w, code, err)
		return
	}
	s.renderMsg(w, r, v, code, "problem", nil, "", err.Error())
}
