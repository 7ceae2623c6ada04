package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"campusgate/cmd/internal/bintest"
	"campusgate/cmd/internal/browsertest"
	"campusgate/gate/journal"
	"campusgate/sync/gatelink"
	"campusgate/sync/store"

	"github.com/chromedp/chromedp"
)

// TestDatabaseFull takes the disk away from a running campusd while a gate
// sends it entries (bintest.FullDisks: by rlimit, which SQLite reports as an
// I/O error, and as root on a tmpfs, SQLite's "database or disk is full"):
// the entries are refused and stay in the gate's journal, the console says
// why on every page, /healthz and the metrics say so too, campusd keeps
// running, and once writes work again every entry is stored, each once, with
// no restart.
func TestDatabaseFull(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	bintest.FullDisks(t, "16m", databaseFull)
}

// databaseFull runs campusd with its state in d, stores a gate's first
// entries, fills the disk, checks that the next are refused and said to be,
// frees it and checks that they are all stored once.
func databaseFull(t *testing.T, d bintest.FullDisk) {
	ctx := context.Background()
	state := d.Dir
	// SQLite reports EFBIG as an I/O error, and only ENOSPC as a full disk.
	banner, login, loginCode := "服务器数据库无法写入", "disk I/O error", http.StatusInternalServerError
	if d.ENOSPC {
		banner, login, loginCode = "服务器磁盘已满", "服务器磁盘已满，暂时无法登录", http.StatusInsufficientStorage
	}
	var out, errb bintest.Buffer
	password := addGate(t, state)
	if code := run(ctx, []string{"user", "add", "-state", state, "-role", "admin", "-password-stdin", "boss"}, strings.NewReader("a-long-password-1\n"), &out, &errb); code != 0 {
		t.Fatalf("user add: %s", errb.String())
	}
	httpAddr, mqttAddr, metricsAddr := bintest.FreeAddr(t), bintest.FreeAddr(t), bintest.FreeAddr(t)
	p := bintest.Start(t, campusdBin, "web console on", "-state", state, "-school", "hz", "-http", httpAddr, "-mqtt-listen", mqttAddr, "-metrics-addr", metricsAddr)
	defer func() { _ = p.Cmd.Process.Kill(); _ = p.Cmd.Wait() }()

	jar, _ := cookiejar.New(nil)
	admin := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := admin.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	resp, err := admin.Post("http://"+httpAddr+"/api/login", "application/json", strings.NewReader(`{"username": "boss", "password": "a-long-password-1"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	// And the nurse, in a real browser, with the alerts page open all day.
	if code := run(ctx, []string{"user", "add", "-state", state, "-role", "nurse", "-password-stdin", "liu"}, strings.NewReader("a-long-password-2\n"), &out, &errb); code != 0 {
		t.Fatalf("user add: %s", errb.String())
	}
	tab := browsertest.New(t, time.Minute)
	if err := chromedp.Do(tab, chromedp.Navigate("http://"+httpAddr+"/login?next=/alerts"),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "liu"), chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "a-long-password-2"),
		chromedp.Click(chromedp.CSS(`button.primary`)), chromedp.WaitVisible(chromedp.CSS(`section[data-live=open]`))); err != nil {
		t.Fatalf("the nurse's login: %v", err)
	}
	waitJS := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			html, _ := chromedp.Run(tab, chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage: %.2000s", what, err, html)
		}
	}

	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Opts{GateID: "north-1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	dial, _ := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + mqttAddr, ClientID: "north-1", Username: "north-1", Password: password})
	// The gate's link, run until stopGate (and again after campusd restarts).
	var l *gatelink.Link
	var stopGate func()
	startGate := func() {
		t.Helper()
		var err error
		if l, err = gatelink.New(gatelink.Opts{School: "hz", Gate: "north-1", Dial: dial, Store: j, Logger: slog.New(slog.DiscardHandler),
			Batch: 20, AckTimeout: 300 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = l.Run(lctx) }()
		stopGate = func() { cancel(); <-done }
	}
	startGate()
	defer func() { stopGate() }()
	admit := func(n int) {
		t.Helper()
		for i := range n {
			e := journal.Entry{Time: time.Now(), PersonID: fmt.Sprint("P", i), Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
			if err := j.Append(&e); err != nil {
				t.Fatal(err)
			}
		}
		l.Kick()
	}
	backlog := func() int { n, _ := j.Backlog(); return n }
	metric := func(name string) float64 { return bintest.Metrics(t, metricsAddr)[name] }

	admit(10)
	eventually(t, "the first entries stored", func() bool { return backlog() == 0 })

	d.Fill(p.Cmd.Process.Pid)
	admit(100)
	eventually(t, "the store's refusals", func() bool { return metric("campusd_ingest_store_errors_total") >= 3 })
	if n := backlog(); n != 100 {
		t.Fatalf("backlog %d while the server cannot write, want all 100 kept at the gate", n)
	}
	if v := metric("campusd_store_refusing_writes"); v != 1 {
		t.Fatalf("campusd_store_refusing_writes = %v", v)
	}
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "refuses") || strings.Contains(body, "(13)") {
		t.Fatalf("healthz while the disk is full: %d %s", code, body)
	}
	if code, body := get("/entries"); code != http.StatusOK || !strings.Contains(body, `id="store-down"`) || !strings.Contains(body, banner) {
		t.Fatalf("the console while the disk is full: %d %s\n%s", code, body, p.Out)
	}

	waitJS("the banner on the nurse's open page, without a reload", `document.getElementById("store-down") != null`)
	if said, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`#store-down`))); err != nil || !strings.Contains(said, banner) || strings.Contains(said, "error") {
		t.Fatalf("the nurse's banner: %q %v", said, err)
	}
	// A fever while the disk is full: on the nurse's screen all the same.
	fever := journal.Entry{Time: time.Now(), PersonID: "P9", Role: "pupil", Decision: "deny", Reason: "fever", Kind: "entry", BodyC: 38.4}
	if err := j.Append(&fever); err != nil {
		t.Fatal(err)
	}
	l.Alert(fever)
	l.Kick()
	waitJS("the fever on the nurse's screen while the disk is full", `document.querySelector("article.alert.fever[data-unsaved]")?.textContent.includes("38.4") ?? false`)
	// Another whose alert message is lost: found in its refused batch, which
	// the gate sends again and again, and on the screen once.
	lost := journal.Entry{Time: time.Now(), PersonID: "P8", Role: "pupil", Decision: "deny", Reason: "fever", Kind: "entry", BodyC: 38.9}
	if err := j.Append(&lost); err != nil {
		t.Fatal(err)
	}
	l.Kick()
	waitJS("the fever of a refused batch on the nurse's screen", `[...document.querySelectorAll("article.alert.fever[data-unsaved]")].some(a => a.textContent.includes("38.9"))`)
	resent := metric("campusd_ingest_store_errors_total")
	eventually(t, "the batch refused again", func() bool { return metric("campusd_ingest_store_errors_total") >= resent+2 })
	held := func(n int) bool {
		got, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll("article.alert.fever[data-unsaved]").length`))
		return err == nil && got == n
	}
	if !held(2) {
		t.Fatal("not 2 fevers held on the nurse's screen")
	}

	// campusd restarts with the disk still full: the fevers held in its
	// memory are gone, and come back as the gate sends their batch again.
	// (By rlimit the new process is limited once it runs, with the gate
	// away meanwhile, so that it stores nothing before.)
	stopGate()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = p.Cmd.Wait()
	p = bintest.Start(t, campusdBin, "web console on", "-state", state, "-school", "hz", "-http", httpAddr, "-mqtt-listen", mqttAddr, "-metrics-addr", metricsAddr)
	d.Fill(p.Cmd.Process.Pid)
	defer func() {
		if t.Failed() {
			t.Logf("campusd:\n%s", p.Out)
		}
	}()
	startGate()
	// (Asked of the new campusd itself: the nurse's open page still shows
	// what the old one held.)
	heldNow := func() []string {
		code, body := get("/api/alerts")
		var d struct {
			Unsaved []struct {
				Alert struct {
					BodyC float64 `json:"body_c"`
				} `json:"alert"`
			} `json:"unsaved"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &d) != nil {
			return nil
		}
		var cs []string
		for _, u := range d.Unsaved {
			cs = append(cs, fmt.Sprint(u.Alert.BodyC))
		}
		slices.Sort(cs)
		return cs
	}
	eventually(t, "both fevers held again after campusd restarted", func() bool { return slices.Equal(heldNow(), []string{"38.4", "38.9"}) })
	if n := backlog(); n != 102 {
		t.Fatalf("backlog %d after campusd restarted on a full disk, want all 102 kept at the gate", n)
	}
	if dir := os.Getenv("CONSOLE_SCREENSHOTS"); dir != "" { // a picture of it, to look at
		if b, err := chromedp.Run(tab, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(filepath.Join(dir, "store-down-"+filepath.Base(t.Name())+".png"), b, 0o644)
		}
	}
	// The right password, but no session can be stored: said so.
	resp, err = http.Post("http://"+httpAddr+"/api/login", "application/json", strings.NewReader(`{"username": "boss", "password": "a-long-password-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != loginCode || !strings.Contains(string(b), login) {
		t.Fatalf("logging in while the disk is full: %s %s", resp.Status, b)
	}

	d.Free(p.Cmd.Process.Pid)
	eventually(t, "the refused entries stored once writes work again", func() bool { return backlog() == 0 })
	waitJS("the fevers open alerts once stored", `!document.querySelector("[data-unsaved]") && ["38.4", "38.9"].every(c => [...document.querySelectorAll("article.alert.fever[data-alert]")].some(a => a.textContent.includes(c)))`)
	waitJS("the banner gone from the open page", `document.getElementById("store-down") == null`)
	eventually(t, "campusd_store_refusing_writes back to 0", func() bool { return metric("campusd_store_refusing_writes") == 0 })
	if code, body := get("/entries"); code != http.StatusOK || strings.Contains(body, `id="store-down"`) {
		t.Fatalf("the console after: %d %.300s", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("healthz after: %d", code)
	}
	if !strings.Contains(p.Out.String(), "the store takes writes again") {
		t.Errorf("recovery not logged:\n%s", p.Out)
	}

	stopGate()
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	if err := p.Cmd.Wait(); err != nil {
		t.Fatalf("campusd exit: %v\n%s", err, p.Out)
	}
	db, err := store.Open(ctx, filepath.Join(state, "campusd.db"), &store.Opts{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	es, err := db.Entries(ctx, store.Query{Gate: "north-1", Limit: 1000})
	if err != nil || len(es) != 112 {
		t.Fatalf("%d entries on the server, want 112: %v", len(es), err)
	}
	if gaps, _ := db.Gaps(ctx, "north-1"); len(gaps) != 0 {
		t.Fatalf("gaps %v", gaps)
	}
	if err := db.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
