package main

import (
	"bytes"
	"campusgate/cmd/internal/bintest"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/console"
	"campusgate/sync/gatelink"
	"campusgate/sync/store"
	"campusgate/sync/wire"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestCampusdWithAGate provisions a gate, runs campusd, connects the gate's
// real link with the provisioned password, and finds its entries, its fever
// alert and its registry record through the API, and in the metrics.
func TestCampusdWithAGate(t *testing.T) {
	state := t.TempDir()
	var out, errb bintest.Buffer
	password := addGate(t, state)
	if code := run(context.Background(), []string{"gate", "add", "-state", state, "-school", "hz", "report"}, nil, &out, &errb); code == 0 {
		t.Fatal("gate id 'report' accepted")
	}
	out = bintest.Buffer{}
	if code := run(context.Background(), []string{"district", "add", "-state", state, "-print-password", "district@hz"}, nil, &out, &errb); code != 0 {
		t.Fatalf("district add: %d %s", code, errb.String())
	}
	districtPW := strings.TrimSpace(out.String())
	if code := run(context.Background(), []string{"district", "add", "-state", state, "district"}, nil, &out, &errb); code == 0 {
		t.Fatal("a district account named like a gate accepted")
	}

	httpAddr, mqttAddr, metricsAddr := bintest.FreeAddr(t), bintest.FreeAddr(t), bintest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var sout bintest.Buffer
	go func() {
		done <- run(ctx, []string{"-state", state, "-school", "hz", "-http", httpAddr, "-mqtt-listen", mqttAddr,
			"-district-report-at", "00:00", "-metrics-addr", metricsAddr}, nil, &sout, &errb)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("campusd exit %d\n%s", code, errb.String())
		}
	}()
	eventually(t, "campusd up", func() bool { return strings.Contains(sout.String(), "web console on") })

	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Opts{GateID: "north-1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := range 25 {
		e := journal.Entry{Time: time.Now(), PersonID: "P1", Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
		if i == 24 {
			e.Decision, e.Reason, e.BodyC = "deny", "fever", 38.5
		}
		if err := j.Append(&e); err != nil {
			t.Fatal(err)
		}
	}
	defer drainGate(t, mqttAddr, password, j)()

	// The first start printed the first admin's password, once.
	m := regexp.MustCompile(`first console account: admin / (\S+)`).FindStringSubmatch(sout.String())
	if m == nil {
		t.Fatalf("no first admin account printed:\n%s", sout.String())
	}
	ctx2 := context.Background()
	cl := console.NewClient("http://" + httpAddr)
	if err := cl.Get(ctx2, "/api/entries", nil); !console.IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("the API without logging in: %v", err)
	}
	if err := cl.Login(ctx2, "admin", m[1]); err != nil {
		t.Fatal(err)
	}
	get := func(path string, v any) {
		t.Helper()
		if err := cl.Get(ctx2, path, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var es struct{ Entries []journal.Entry }
	get("/api/entries?gate=north-1&limit=100", &es)
	if len(es.Entries) != 25 {
		t.Fatalf("%d entries on the server", len(es.Entries))
	}
	var alerts struct{ Open []store.Alert }
	get("/api/alerts", &alerts)
	if len(alerts.Open) != 1 || alerts.Open[0].Alert.BodyC != 38.5 {
		t.Fatalf("alerts %+v", alerts)
	}
	eventually(t, "gate online in the registry", func() bool {
		var gs struct{ Gates []store.Gate }
		get("/api/gates", &gs)
		return len(gs.Gates) == 1 && gs.Gates[0].Online && gs.Gates[0].ID == "north-1"
	})
	checkMetrics(t, metricsAddr)
	var page bytes.Buffer
	if err := cl.Download(ctx2, "/gates", &page); err != nil || !strings.Contains(page.String(), "north-1") || !strings.Contains(page.String(), "门岗设备") {
		t.Errorf("gates page lacks the gate: %v", err)
	}
	// One account: the first admin.
	if n, _ := countUsers(state); n != 1 {
		t.Errorf("%d accounts", n)
	}
	// The district account reads the day's report, retained, sent as campusd
	// started (after the report time).
	reports := make(chan []byte, 16)
	dc := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID("district@hz-test").
		SetUsername("district@hz").SetPassword(districtPW).SetProtocolVersion(4))
	if tok := dc.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("district connect: %v", tok.Error())
	}
	defer dc.Disconnect(0)
	dc.Subscribe(wire.ReportFilter, 1, func(_ mqtt.Client, m mqtt.Message) { reports <- m.Payload() }).WaitTimeout(5 * time.Second)
	select {
	case b := <-reports:
		r, err := wire.DecodeReport(b, "hz")
		if err != nil || r.Day != time.Now().Format(time.DateOnly) || r.Revision != 1 {
			t.Fatalf("district report %+v %v", r, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no district report")
	}

	// A wrong password is refused by the broker.
	bad, _ := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + mqttAddr, ClientID: "north-1", Username: "north-1", Password: "guess-guess-guess"})
	if c, err := bad(context.Background(), gatelink.Will{}, func(string, []byte) {}); err == nil {
		c.Close()
		t.Error("wrong gate password accepted")
	}
}

// addGate makes gate north-1's MQTT account (school hz) in state and
// returns its password.
func addGate(t *testing.T, state string) string {
	t.Helper()
	var out, errb bintest.Buffer
	if code := run(context.Background(), []string{"gate", "add", "-state", state, "-school", "hz", "-print-password", "north-1"}, nil, &out, &errb); code != 0 {
		t.Fatalf("gate add: %d %s", code, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// drainGate runs gate north-1's real link (school hz) on j with password
// until the server has acknowledged every entry, and returns what stops it.
func drainGate(t *testing.T, mqttAddr, password string, j *journal.Journal) (stop func()) {
	t.Helper()
	dial, _ := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + mqttAddr, ClientID: "north-1", Username: "north-1", Password: password})
	l, err := gatelink.New(gatelink.Opts{School: "hz", Gate: "north-1", Dial: dial, Store: j, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	eventually(t, "entries acknowledged", func() bool { n, _ := j.Backlog(); return n == 0 })
	return func() { cancel(); <-done }
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countUsers(state string) (int, error) {
	db, err := store.Open(context.Background(), filepath.Join(state, "campusd.db"), &store.Opts{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return db.CountUsers(context.Background())
}

// TestUserAdd: accounts from the command line, the password from stdin.
func TestUserAdd(t *testing.T) {
	state := t.TempDir()
	var out, errb bintest.Buffer
	args := []string{"user", "add", "-state", state, "-role", "head_teacher", "-class", "1/1-2", "-name", "王老师", "-password-stdin", "ht12"}
	if code := run(context.Background(), args, strings.NewReader("a-long-password-1\n"), &out, &errb); code != 0 {
		t.Fatalf("user add: %d %s", code, errb.String())
	}
	if code := run(context.Background(), args, strings.NewReader("a-long-password-1\n"), &out, &errb); code == 0 {
		t.Fatal("the same account twice")
	}
	for _, bad := range [][]string{{"user", "add", "-state", state, "-role", "head_teacher", "x"}, {"user", "add", "-state", state, "-role", "wizard", "y"},
		{"user", "add", "-state", state, "-role", "nurse"}} {
		if code := run(context.Background(), bad, strings.NewReader(""), &out, &errb); code == 0 {
			t.Errorf("%v accepted", bad)
		}
	}
	out = bintest.Buffer{}
	if code := run(context.Background(), []string{"user", "add", "-state", state, "-role", "nurse", "nurse-1"}, nil, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "shown once") {
		t.Fatalf("a made password: %d %s", code, out.String())
	}
	if n, _ := countUsers(state); n != 2 {
		t.Fatalf("%d accounts", n)
	}
}

// TestLoadRosterChecksAsTheConsole: campusd's -roster file is held to the
// checks of the console's CSV import, and refused whole.
func TestLoadRosterChecksAsTheConsole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`[{"id":"P1","name":"王小明","role":"pupil","grade":"1","class":"1-2","guardian_phone":"13800000001"}]`)
	if ps, err := loadRoster(path); err != nil || len(ps) != 1 {
		t.Fatalf("a good roster: %v %v", ps, err)
	}
	for _, bad := range []string{
		`[{"id":"P1","name":"王小明","role":"pupil","grade":"1","class":"1-2"},{"id":"P1","name":"李华","role":"pupil","grade":"1","class":"1-2"}]`,
		`[{"id":"P 1","name":"王小明","role":"pupil","grade":"1","class":"1-2"}]`,
		`[{"id":"P1","name":"王小明","role":"admin","grade":"1","class":"1-2"}]`,
		`[{"id":"P1","name":"王小明","role":"pupil"}]`,
		`[{"id":"P1","name":"王小明","role":"pupil","grade":"1","class":"1-2","guardian_phone":"call me"}]`,
	} {
		write(bad)
		if _, err := loadRoster(path); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
