package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"campusgate/cmd/internal/bintest"
	"campusgate/gate/journal"
	"campusgate/sync/console"
	"campusgate/sync/gatelink"
)

// TestNoSecretsOrPersonalDataInLogs runs campusd with debug logging (-v)
// through what handles secrets and personal data (accounts made from the
// command line with -password-stdin, a gate's password, logins right and
// wrong, a roster import with names and guardians' phones, family links,
// a gate's entries and a fever alert) and checks everything campusd wrote
// (stdout and stderr, from start to stop) holds no password, no session or
// family-link token, no name, phone or person id. (A first start with no
// account prints the first admin's password once, by design; here the
// accounts come first.)
func TestNoSecretsOrPersonalDataInLogs(t *testing.T) {
	state := t.TempDir()
	var out, errb bintest.Buffer
	const nursePW = "nurse-secret-pw-7731"
	if code := run(context.Background(), []string{"user", "add", "-state", state, "-role", "nurse", "-name", "刘护士", "-password-stdin", "nurse-1"},
		strings.NewReader(nursePW+"\n"), &out, &errb); code != 0 {
		t.Fatalf("user add: %d %s", code, errb.String())
	}
	if strings.Contains(out.String()+errb.String(), nursePW) {
		t.Errorf("user add -password-stdin echoed the password: %s", out.String())
	}
	const adminPW = "admin-secret-pw-9034"
	if code := run(context.Background(), []string{"user", "add", "-state", state, "-role", "admin", "-password-stdin", "admin"},
		strings.NewReader(adminPW+"\n"), &out, &errb); code != 0 {
		t.Fatalf("user add: %d %s", code, errb.String())
	}
	gatePW := addGate(t, state)

	httpAddr, mqttAddr := bintest.FreeAddr(t), bintest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var sout, serr bintest.Buffer
	go func() {
		done <- run(ctx, []string{"-v", "-state", state, "-school", "hz", "-http", httpAddr, "-mqtt-listen", mqttAddr,
			"-district-report-at", "00:00", "-metrics-addr", ""}, nil, &sout, &serr)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("campusd exit %d\n%s", code, serr.String())
			}
		}
	}
	defer stop()
	eventually(t, "campusd up", func() bool { return strings.Contains(sout.String(), "web console on") })
	base := "http://" + httpAddr
	bg := context.Background()

	// Logins: wrong ones (a password that is someone else's, a near miss),
	// then right ones; the session token from the cookie.
	wrong := []string{"wrong-password-5521", nursePW + "x", gatePW}
	for _, pw := range wrong {
		if err := console.NewClient(base).Login(bg, "nurse-1", pw); err == nil {
			t.Fatalf("login with %q accepted", pw)
		}
	}
	if err := console.NewClient(base).Login(bg, "nobody-such", "another-secret-8812"); err == nil {
		t.Fatal("a missing user logged in")
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Post(base+"/api/login", "application/json", strings.NewReader(fmt.Sprintf(`{"username": "nurse-1", "password": %q}`, nursePW)))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("nurse login: %v %v", resp, err)
	}
	resp.Body.Close()
	u, _ := url.Parse(base)
	var sessionTok string
	for _, c := range jar.Cookies(u) {
		sessionTok = c.Value
	}
	admin := console.NewClient(base)
	if err := admin.Login(bg, "admin", adminPW); err != nil {
		t.Fatal(err)
	}
	// An account made on the console, and a password change.
	const guardPW = "guard-secret-pw-4409"
	if err := admin.Post(bg, "/api/accounts", map[string]string{"username": "guard-1", "display_name": "门卫张", "role": "guard", "password": guardPW}, nil); err != nil {
		t.Logf("account with a password: %v", err)
	}
	const newNursePW = "nurse-new-secret-6620"
	if err := console.NewClient(base).Login(bg, "nurse-1", nursePW); err == nil {
		nc := console.NewClient(base)
		_ = nc.Login(bg, "nurse-1", nursePW)
		_ = nc.Post(bg, "/api/password", map[string]string{"current": nursePW, "new": newNursePW}, nil)
	}

	// The roster: names, guardians' phones; one bad line first.
	people := []struct{ id, name, phone string }{{"S20260001", "欧阳明月", "13912345678"}, {"S20260002", "司马小龙", "13887654321"}}
	csv := "id,name,role,grade,class,card_id,guardian_phone\n"
	for _, p := range people {
		csv += fmt.Sprintf("%s,%s,pupil,1,1-2,,%s\n", p.id, p.name, p.phone)
	}
	_ = admin.PostRaw(bg, "/api/roster", "text/csv", strings.NewReader(csv+"S20260003,诸葛坏行,wizard,1,1-2,,13700000000\n"), nil)
	if err := admin.PostRaw(bg, "/api/roster", "text/csv", strings.NewReader(csv), nil); err != nil {
		t.Fatalf("roster import: %v", err)
	}
	var links []struct {
		URL string `json:"url"`
	}
	if err := admin.Post(bg, "/api/family-links?grade=1&class=1-2", nil, &links); err != nil || len(links) == 0 {
		t.Fatalf("family links: %v %v", links, err)
	}
	familyTok := links[0].URL[strings.LastIndex(links[0].URL, "/")+1:]
	for _, tok := range []string{familyTok, "guessed-token-ABCDEFGH"} {
		if r, err := http.Get(base + "/family/" + tok); err == nil {
			r.Body.Close()
		}
	}

	// A gate's entries, one a fever, for the roster's pupils.
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Opts{GateID: "north-1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i, p := range people {
		e := journal.Entry{Time: time.Now(), PersonID: p.id, Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
		if i == 1 {
			e.Decision, e.Reason, e.BodyC = "deny", "fever", 38.6
		}
		if err := j.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	stopGate := drainGate(t, mqttAddr, gatePW, j)
	// A gate with a wrong password, and one named like another.
	bad, _ := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + mqttAddr, ClientID: "north-1", Username: "north-1", Password: "gate-guess-secret-1234"})
	if c, err := bad(bg, gatelink.Will{}, func(string, []byte) {}); err == nil {
		c.Close()
	}
	var alerts struct{ Open []struct{ ID int64 } }
	nurse := console.NewClient(base)
	if err := nurse.Login(bg, "nurse-1", newNursePW); err != nil {
		_ = nurse.Login(bg, "nurse-1", nursePW)
	}
	eventually(t, "the fever alert", func() bool { _ = nurse.Get(bg, "/api/alerts", &alerts); return len(alerts.Open) == 1 })
	_ = nurse.Post(bg, fmt.Sprintf("/api/alerts/%d/ack", alerts.Open[0].ID), nil, nil)
	_ = nurse.Get(bg, "/api/people/"+people[1].id, nil)
	stopGate()
	stop()

	logs := sout.String() + serr.String()
	secrets := map[string]string{"admin's password": adminPW, "nurse's password": nursePW, "nurse's new password": newNursePW, "guard's password": guardPW,
		"gate's password": gatePW, "a wrong gate password": "gate-guess-secret-1234", "a missing user's password": "another-secret-8812",
		"session token": sessionTok, "family link token": familyTok, "a guessed family token": "guessed-token-ABCDEFGH"}
	for _, w := range wrong {
		secrets["a wrong password "+w] = w
	}
	for _, p := range people {
		secrets["name "+p.name] = p.name
		secrets["phone "+p.phone] = p.phone
		secrets["person id "+p.id] = p.id
	}
	secrets["a bad line's name"] = "诸葛坏行"
	secrets["a bad line's phone"] = "13700000000"
	for what, s := range secrets {
		if s == "" {
			t.Errorf("%s: empty in the test", what)
			continue
		}
		if i := strings.Index(logs, s); i >= 0 {
			t.Errorf("campusd's output holds the %s: …%s…", what, logs[max(0, i-120):min(len(logs), i+len(s)+40)])
		}
	}
	if !strings.Contains(logs, "level=DEBUG") && !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Logf("no debug line was written (the run logs little at -v)")
	}
	if t.Failed() {
		t.Logf("campusd's output:\n%s", logs)
	}
}
