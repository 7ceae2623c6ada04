package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"campusgate/gate"
	"campusgate/sync/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the parsed templates: each page with the layout around it.
type pages struct{ t map[string]*template.Template }

func loadPages() (*pages, error) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"json": func(v any) (template.JS, error) {
			b, err := json.Marshal(v)
			return template.JS(b), err
		},
		"add":  func(a, b int) int { return a + b },
		"pct":  func(a, b int) int { return percent(a, b) },
		"join": strings.Join,
		"list": func(s ...string) []string { return s },
		"outcomeArgs": func(p page, id int64) outcomeArgs {
			back := "/alerts"
			if p.Name == "alert" {
				back = fmt.Sprintf("/alerts/%d", id)
			}
			return outcomeArgs{P: p, ID: id, Back: back}
		},
		"alertArgs": func(p page, a alertView) alertArgs { return alertArgs{P: p, A: a} },
	}
	p := &pages{t: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", f)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", f, err)
		}
		p.t[name] = t
	}
	return p, nil
}

// alertArgs are the alertHead template's: the page and one alert.
type alertArgs struct {
	P page
	A alertView
}

type outcomeArgs struct {
	P    page
	ID   int64
	Back string
}

func percent(a, b int) int {
	if b == 0 {
		return 0
	}
	return a * 100 / b
}

// page is what every template gets: the data, and the viewer's language.
type page struct {
	lang
	V      *viewer
	School string
	Name   string // the page's template name (the nav marks it)
	Now    time.Time
	loc    *time.Location
	Flash  string
	Key    string // the flash's catalogue key, for tests and styles
	Error  string
	Data   any
	// Store is set while the database refuses the gates' entries.
	Store *storeDown
}

// storeDown is the database refusing writes, as the banner says it.
type storeDown struct {
	Full  bool   // for want of space
	Since string // on the school's clock
	Err   string // the refusal, shown to admins
}

// storeDown reads Opts.StoreFailing; nil while the database takes writes.
func (s *Server) storeDown() *storeDown {
	if s.o.StoreFailing == nil {
		return nil
	}
	since, err := s.o.StoreFailing()
	if since.IsZero() {
		return nil
	}
	d := &storeDown{Full: store.DiskFull(err), Since: since.In(s.db.Location()).Format("01-02 15:04")}
	if err != nil {
		d.Err = err.Error()
	}
	return d
}

// Time is t on the school's clock, as 15:04:05.
func (p page) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(p.loc).Format("15:04:05")
}

// Stamp is t on the school's clock with its date.
func (p page) Stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(p.loc).Format("2006-01-02 15:04")
}

// Since is how long ago t was, in minutes.
func (p page) Since(t time.Time) int { return int(p.Now.Sub(t).Minutes()) }

// Temp formats a temperature.
func (p page) Temp(c float64) string {
	if c == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f °C", c)
}

// Reason is the decision's reason in words.
func (p page) Reason(code string) string { return gate.Reason(code).Message().In(string(p.lang)) }

// Role is a role's name in words.
func (p page) Role(r string) string { return p.T("role." + r) }

// Q is the current query with key set to value (for links that keep the
// other filters).
func (p page) Q(base string, values url.Values, kv ...string) string {
	q := url.Values{}
	for k, vs := range values {
		q[k] = vs
	}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return base + "?" + q.Encode()
}

// respond answers a page's request: d as JSON for the API, else the page.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, v *viewer, page string, d any) {
	if isAPI(r) {
		writeJSON(w, http.StatusOK, d)
		return
	}
	s.render(w, r, v, http.StatusOK, page, d)
}

// render shows a page; a ?flash= naming a message of the catalogue (a form
// came back to it, see back) shows above it. Only catalogue keys: a link
// cannot make the console say anything else.
func (s *Server) render(w http.ResponseWriter, r *http.Request, v *viewer, code int, name string, data any) {
	flash, key := "", r.URL.Query().Get("flash")
	if _, ok := catalog[key]; ok {
		l := langOf(r)
		if v != nil {
			l = v.lang
		}
		flash = l.T(key)
	} else {
		key = ""
	}
	s.renderPage(w, r, v, code, name, data, flash, key, "")
}

func (s *Server) renderMsg(w http.ResponseWriter, r *http.Request, v *viewer, code int, name string, data any, flash, errText string) {
	s.renderPage(w, r, v, code, name, data, flash, "", errText)
}

func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, v *viewer, code int, name string, data any, flash, key, errText string) {
	t, ok := s.pages.t[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	l := langOf(r)
	if v != nil {
		l = v.lang
	}
	p := page{lang: l, V: v, School: s.o.School, Name: name, Now: s.clock.Now(), loc: s.db.Location(), Flash: flash, Key: key, Error: errText, Data: data}
	if v != nil {
		p.Store = s.storeDown()
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		s.log.Error("page not rendered", "page", name, "err", err)
		http.Error(w, "page not rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

// back redirects to the page a form came from, with a message of the
// catalogue (its key).
func back(w http.ResponseWriter, r *http.Request, to, flash string) {
	u, err := url.Parse(to)
	if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	q.Set("flash", flash)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// jsonBody decodes an API call's JSON body (at most limit bytes) into req;
// on a bad body it answers 400 itself and returns false.
func (s *Server) jsonBody(w http.ResponseWriter, r *http.Request, v *viewer, req any, limit int64) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit)).Decode(req); err != nil {
		s.bad(w, r, v, fmt.Errorf("body: %w", err))
		return false
	}
	return true
}
