package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"campusgate/gate"
	"campusgate/sync/store"

	"github.com/BurntSushi/toml"
)

// Staggered arrival (错时分段上学): the school sets a window per grade here;
// it goes to every gate as the [arrival] section of the school's settings,
// and the daily report counts arrivals against it.

// Arrival is the school's arrival schedule.
type Arrival struct {
	Policy  string        `json:"policy"` // warn (admit and flag) or deny
	Windows []gate.Window `json:"windows"`
}

const arrivalKey = "arrival"

// LoadArrival returns the stored schedule (none: policy warn, no windows).
func LoadArrival(ctx context.Context, db *store.DB) (Arrival, error) {
	a := Arrival{Policy: "warn"}
	v, err := db.Setting(ctx, arrivalKey)
	if err != nil || v == "" {
		return a, err
	}
	if err := json.Unmarshal([]byte(v), &a); err != nil {
		return a, fmt.Errorf("console: stored arrival schedule: %w", err)
	}
	return a, nil
}

// SchoolConfig is the settings document every gate gets: base (campusd's
// -gate-config, may be "") with the arrival schedule as its [arrival]
// section, checked as a gate checks it.
func SchoolConfig(base string, a Arrival) (string, error) {
	doc := map[string]any{}
	if _, err := toml.Decode(base, &doc); err != nil {
		return "", fmt.Errorf("the school's gate settings: %w", err)
	}
	if len(a.Windows) > 0 || a.Policy != "warn" {
		ws := make([]map[string]any, len(a.Windows))
		for i, w := range a.Windows {
			ws[i] = map[string]any{"grade": w.Grade, "start": w.Start, "end": w.End}
		}
		doc["arrival"] = map[string]any{"policy": a.Policy, "windows": ws}
	}
	if len(doc) == 0 {
		return "", nil
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(doc); err != nil {
		return "", err
	}
	if err := CheckGateConfig(buf.String()); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// MergeConfigs lays a gate's own settings over the school's: each section
// the gate's document has replaces the school's section of that name.
func MergeConfigs(school, gate string) (string, error) {
	doc, over := map[string]any{}, map[string]any{}
	if _, err := toml.Decode(school, &doc); err != nil {
		return "", fmt.Errorf("the school's gate settings: %w", err)
	}
	if _, err := toml.Decode(gate, &over); err != nil {
		return "", fmt.Errorf("the gate's settings: %w", err)
	}
	for k, v := range over {
		doc[k] = v
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(doc); err != nil {
		return "", err
	}
	return buf.String(), nil
}

type arrivalData struct {
	Arrival
	Grades []string
}

func (s *Server) arrival(w http.ResponseWriter, r *http.Request, v *viewer) {
	a, err := LoadArrival(r.Context(), s.db)
	if err != nil {
		s.oops(w, r, v, err)
		return
	}
	if isAPI(r) {
		writeJSON(w, http.StatusOK, a)
		return
	}
	s.render(w, r, v, http.StatusOK, "arrival", s.arrivalData(r, a))
}

func (s *Server) arrivalData(r *http.Request, a Arrival) arrivalData {
	d := arrivalData{Arrival: a}
	seen := map[string]bool{}
	cls, _ := s.db.Classes(r.Context())
	for _, c := range cls {
		if !seen[c[0]] {
			seen[c[0]], d.Grades = true, append(d.Grades, c[0])
		}
	}
	for _, w := range a.Windows {
		if !seen[w.Grade] {
			seen[w.Grade], d.Grades = true, append(d.Grades, w.Grade)
		}
	}
	sort.Slice(d.Grades, func(i, j int) bool { return naturalLess(d.Grades[i], d.Grades[j]) })
	return d
}

// setArrival stores the schedule and sends it to every gate.
func (s *Server) setArrival(w http.ResponseWriter, r *http.Request, v *viewer) {
	var a Arrival
	if isAPI(r) {
		if !s.jsonBody(w, r, v, &a, 16<<10) {
			return
		}
	} else {
		a.Policy = r.PostFormValue("policy")
		for _, g := range r.PostForm["grade"] {
			start, end := strings.TrimSpace(r.PostFormValue("start_"+g)), strings.TrimSpace(r.PostFormValue("end_"+g))
			if start == "" && end == "" {
				continue // no window for this grade
			}
			a.Windows = append(a.Windows, gate.Window{Grade: g, Start: start, End: end})
		}
	}
	if a.Policy == "" {
		a.Policy = "warn"
	}
	doc, err := SchoolConfig(s.o.GateConfig, a)
	if err != nil {
		s.bad(w, r, v, err)
		return
	}
	b, _ := json.Marshal(a)
	if err := s.db.PutSetting(r.Context(), arrivalKey, string(b)); err != nil {
		s.oops(w, r, v, err)
		return
	}
	s.o.Gates.SchoolConfigChanged(doc)
	s.audit(r, v, "arrival_windows", a.Policy, string(b))
	if isAPI(r) {
		writeJSON(w, http.StatusOK, a)
		return
	}
	back(w, r, "/arrival", "gates.sent")
}

// WindowCount is one grade's arrivals against its window.
type WindowCount struct {
	Grade      string `json:"grade"`
	Start      string `json:"start"`
	End        string `json:"end"`
	InWindow   int    `json:"in_window"`
	Early      int    `json:"early"`
	Late       int    `json:"late"`
	NotArrived int    `json:"not_arrived"`
}

// windowCounts counts each grade's first arrivals of day against the
// schedule's windows.
func (s *Server) windowCounts(people []store.Person, first map[string]time.Time, a Arrival) []WindowCount {
	byGrade := map[string]*WindowCount{}
	var out []WindowCount
	for _, w := range a.Windows {
		byGrade[w.Grade] = &WindowCount{Grade: w.Grade, Start: w.Start, End: w.End}
	}
	loc := s.db.Location()
	for _, p := range people {
		c := byGrade[p.Grade]
		if c == nil || p.Role != "pupil" {
			continue
		}
		at, ok := first[p.ID]
		hm := at.In(loc).Format("15:04")
		switch {
		case !ok:
			c.NotArrived++
		case hm < c.Start:
			c.Early++
		case hm >= c.End:
			c.Late++
		default:
			c.InWindow++
		}
	}
	for _, w := range a.Windows {
		out = append(out, *byGrade[w.Grade])
	}
	return out
}
