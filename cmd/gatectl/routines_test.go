package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"campusgate/cmd/internal/browsertest"
	"campusgate/gate/journal"
	"campusgate/sync/console"
	"campusgate/sync/store"
	"campusgate/sync/wire"

	"github.com/chromedp/chromedp"
)

// TestRoutinesEndToEnd runs the schools' daily routines on the whole system
// (campusd, two gates and a midday desk, as make run starts them): the
// family morning report filled in on a real browser and obeyed at the gate;
// the midday check at a desk, by its sensor and by a handheld reading typed
// in; a registered visitor and a walk-in visitor; staggered arrival windows
// set in the console and enforced at the gates; and the daily report of it
// all.
func TestRoutinesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole system and a browser")
	}
	sys := startSim(t, 2, "-checkpoints", "1")
	ctx := context.Background()
	base := "http://" + sys.http
	login := func(user string) *console.Client {
		t.Helper()
		c := console.NewClient(base)
		if err := c.Login(ctx, user, sys.accounts[user]); err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
		return c
	}
	admin, teacher := login("admin"), login("teacher")
	consoleOf := func(gate string) string {
		b, err := os.ReadFile(filepath.Join(sys.state, "gates", gate, "console.addr"))
		if err != nil {
			t.Fatal(err)
		}
		return "http://" + strings.TrimSpace(string(b))
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s\n%s", what, sys.logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	gateState := func(gate string) store.Gate {
		var d struct{ Gates []store.Gate }
		if err := admin.Get(ctx, "/api/gates", &d); err != nil {
			t.Fatal(err)
		}
		for _, g := range d.Gates {
			if g.ID == gate {
				return g
			}
		}
		return store.Gate{}
	}
	eventually("all three boxes online", func() bool {
		return gateState("north-1").Online && gateState("south-1").Online && gateState("desk-1").Online
	})

	// --- The family morning report. The demo school lets a pupil without
	// one in, flagged; north-1 is set to refuse instead.
	if got := sys.present(t, "south-1", "C0102", 36.5); !strings.Contains(got, "admit (no_daily_pass_flagged)") {
		t.Fatalf("李华 without a report at south-1 (flag): %s", got)
	}
	before := gateState("north-1").ConfigVersion
	if err := admin.Post(ctx, "/api/gates/north-1/config", map[string]string{"toml": "[morning_report]\npolicy = \"deny\"\n"}, nil); err != nil {
		t.Fatal(err)
	}
	eventually("north-1 takes its own settings", func() bool { return gateState("north-1").ConfigVersion > before })
	if got := sys.present(t, "north-1", "C0102", 36.5); !strings.Contains(got, "deny (no_daily_pass)") {
		t.Fatalf("李华 without a report at north-1 (deny): %s", got)
	}
	var links []struct {
		Children []string
		URL      string
	}
	if err := teacher.Post(ctx, "/api/family-links", map[string]string{}, &links); err != nil {
		t.Fatal(err)
	}
	var familyURL string
	for _, l := range links {
		if len(l.Children) == 1 && l.Children[0] == "李华" {
			familyURL = l.URL
		}
	}
	if familyURL == "" {
		t.Fatalf("no link for 李华's family: %+v", links)
	}
	rosterBefore := gateState("north-1").RosterVersion
	bctx := browsertest.New(t, 3*time.Minute)
	err := chromedp.Do(bctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), // the family's phone
		chromedp.Navigate(familyURL),
		chromedp.WaitVisible(chromedp.CSS(`section.family input[name=temp_c]`)),
		chromedp.SendKeys(chromedp.CSS(`section.family input[name=temp_c]`), "36.5"),
		chromedp.Click(chromedp.CSS(`section.family input[name=contact][value=no]`)),
		chromedp.SendKeys(chromedp.CSS(`section.family input[name=location]`), "本市"),
		chromedp.Click(chromedp.CSS(`section.family button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash[data-flash="family.saved"]`)),
		chromedp.WaitVisible(chromedp.CSS(`section.family p.status.green`)),
	)
	if err != nil {
		html, _ := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("body")))
		t.Fatalf("the family's form: %v\n%.3000s", err, html)
	}
	eventually("the report's roster reaches north-1", func() bool { return gateState("north-1").RosterVersion > rosterBefore })
	if got := sys.present(t, "north-1", "C0102", 36.5); !strings.Contains(got, "admit (ok)") {
		t.Fatalf("李华 with a green report: %s", got)
	}
	// The next morning's report (the same day here) says he coughs: north-1 refuses.
	rosterBefore = gateState("north-1").RosterVersion
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(familyURL, url.Values{"person_id": {"P20260102"}, "temp_c": {"36.8"}, "contact": {"no"}, "symptom": {"cough"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a report with a cough: %v %v", resp, err)
	}
	resp.Body.Close()
	eventually("the cough reaches north-1", func() bool { return gateState("north-1").RosterVersion > rosterBefore })
	if got := sys.present(t, "north-1", "C0102", 36.5); !strings.Contains(got, "deny (health_yellow)") {
		t.Fatalf("李华 with a cough: %s", got)
	}
	var morning struct {
		Reported, Missing int
		Pupils            []struct {
			ID     string
			Report *store.HealthReport
		}
	}
	if err := teacher.Get(ctx, "/api/morning", &morning); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range morning.Pupils {
		if p.ID == "P20260102" && p.Report != nil && p.Report.Status == "yellow" {
			found = true
		}
	}
	if !found || morning.Reported != 1 {
		t.Fatalf("the head teacher's view of the reports: %+v", morning)
	}

	// --- The midday check at desk-1: by its sensor, and by a handheld.
	if got := sys.present(t, "desk-1", "C0101", 36.4); !strings.Contains(got, "admit (midday_ok)") {
		t.Fatalf("midday check: %s", got)
	}
	body := bytes.NewBufferString(`{"code": "C0215", "reading_c": 38.2, "guard_id": "G12"}`)
	resp, err = http.Post(consoleOf("desk-1")+"/api/handheld", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	var hh map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&hh)
	resp.Body.Close()
	if resp.StatusCode != 200 || hh["reason"] != "fever" {
		t.Fatalf("handheld at the desk: %d %v", resp.StatusCode, hh)
	}

	// --- Visitors: one registered in the console, one walking in at south-1.
	var vis struct {
		Visitor store.Visitor
		Pass    store.PassRecord
	}
	if err := admin.Post(ctx, "/api/visitors", map[string]any{"name": "周师傅", "phone": "13900000009", "reason": "送教材", "host": "教务处",
		"to": time.Now().Add(2 * time.Hour)}, &vis); err != nil {
		t.Fatal(err)
	}
	if got := sys.present(t, "south-1", vis.Pass.Code, 36.6); !strings.Contains(got, "admit (ok)") {
		t.Fatalf("the registered visitor: %s", got)
	}
	body = bytes.NewBufferString(`{"name": "吴女士", "phone": "13900000010", "reason": "家长会资料", "host": "王老师", "health": "green", "guard_id": "G07"}`)
	resp, err = http.Post(consoleOf("south-1")+"/api/visitor", "application/json", body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("walk-in at south-1: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := sys.present(t, "south-1", "", 36.7); !strings.Contains(got, "admit (ok)") {
		t.Fatalf("the walk-in at the sensor: %s", got)
	}

	// --- Staggered arrival: grade 1 may come in only in a window that is not now.
	now := time.Now()
	start, end := now.Add(2*time.Hour).Format("15:04"), now.Add(3*time.Hour).Format("15:04")
	if end < start {
		start, end = "00:00", "00:01" // near midnight: a window long past
	}
	southBefore := gateState("south-1").ConfigVersion
	if err := admin.Post(ctx, "/api/arrival", map[string]any{"policy": "deny", "windows": []map[string]string{{"grade": "1", "start": start, "end": end}}}, nil); err != nil {
		t.Fatal(err)
	}
	eventually("the arrival windows reach south-1", func() bool { return gateState("south-1").ConfigVersion > southBefore })
	if got := sys.present(t, "south-1", "C0101", 36.5); !strings.Contains(got, "deny (outside_window)") {
		t.Fatalf("grade 1 outside its window: %s", got)
	}

	// --- The daily report shows it all.
	eventually("the entries reach the server", func() bool {
		var d struct{ Entries []journal.Entry }
		_ = admin.Get(ctx, "/api/entries?reason=outside_window", &d)
		return len(d.Entries) > 0
	})
	var rep console.Report
	if err := admin.Get(ctx, "/api/reports/daily", &rep); err != nil {
		t.Fatal(err)
	}
	var c12 console.ClassCount
	for _, c := range rep.Classes {
		if c.Class == "1-2" {
			c12 = c
		}
	}
	if !rep.Midday || c12.MiddayChecked != 1 || c12.MiddayMissed != 1 {
		t.Errorf("midday in the report: %v %+v", rep.Midday, c12)
	}
	// Grade 1: 李华 came in (before the window, set later in the day); 王小明 was only checked at noon and refused at the gate.
	if len(rep.Windows) != 1 || rep.Windows[0].Grade != "1" || rep.Windows[0].InWindow+rep.Windows[0].Early+rep.Windows[0].Late != 1 || rep.Windows[0].NotArrived != 1 {
		t.Errorf("arrivals against the window: %+v", rep.Windows)
	}
	var visitors struct {
		WalkIns []journal.Entry `json:"walk_ins"`
	}
	if err := admin.Get(ctx, "/api/visitors", &visitors); err != nil {
		t.Fatal(err)
	}
	if len(visitors.WalkIns) != 1 || visitors.WalkIns[0].Visitor == nil || visitors.WalkIns[0].Visitor.Name != "吴女士" {
		t.Errorf("walk-ins on the server: %+v", visitors.WalkIns)
	}
	var alerts struct{ Open []struct{ Alert wire.Alert } }
	if err := login("nurse").Get(ctx, "/api/alerts", &alerts); err != nil {
		t.Fatal(err)
	}
	if len(alerts.Open) == 0 || alerts.Open[0].Alert.PersonID != "P20260215" {
		t.Errorf("the midday fever did not reach the nurse: %+v", alerts)
	}
}
