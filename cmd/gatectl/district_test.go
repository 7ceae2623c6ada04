package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"campusgate/cmd/internal/bintest"
	"campusgate/sync/broker"
	"campusgate/sync/ingest"
	"campusgate/sync/wire"

	"golang.org/x/crypto/bcrypt"
)

// TestDistrictWatchOnce: two schools' campusd publish their retained daily
// reports (one of them a correction, one school also a broken one) on the
// embedded broker; gatectl district watch -once, logged in as a district
// account, prints the table of the latest revisions and exits.
func TestDistrictWatchOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	acc := &broker.Accounts{Cost: bcrypt.MinCost}
	serverPW, districtPW := broker.NewPassword(), broker.NewPassword()
	for user, a := range map[string]broker.Account{"campusd@hz-001": {Role: broker.RoleServer}, "campusd@hz-002": {Role: broker.RoleServer}} {
		if err := acc.Add(user, serverPW, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := acc.Add("district@hz", districtPW, broker.Account{Role: broker.RoleDistrict}); err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(ctx, broker.Opts{Listen: "127.0.0.1:0", Auth: acc, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	at := time.Date(2026, 12, 1, 1, 30, 0, 0, time.UTC)
	publish := func(school string, payloads ...[]byte) {
		t.Helper()
		user := "campusd@" + school
		c, err := ingest.Dial(ctx, ingest.ClientOpts{Broker: "tcp://" + b.Addr(), ClientID: user + "-test", Username: user, Password: serverPW, Logger: quiet},
			func(context.Context, string, []byte) {})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, p := range payloads {
			if err := c.Publish(ctx, wire.ReportTopic(school), 1, true, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	first := wire.DailyReport{V: 1, School: "hz-001", Day: "2026-12-01", Revision: 1, GeneratedAt: at,
		Expected: 812, Arrived: 790, Absent: 22, Gates: 3, GatesOnline: 3, Zero: true}
	fixed := first
	fixed.Revision, fixed.GeneratedAt, fixed.Arrived, fixed.Absent, fixed.Fevers, fixed.Isolated, fixed.Denied, fixed.GatesOnline, fixed.Zero =
		2, at.Add(40*time.Minute), 805, 7, 1, 1, 2, 2, false
	publish("hz-001", wire.Encode(first), wire.Encode(fixed))
	publish("hz-002", wire.Encode(wire.DailyReport{V: 1, School: "hz-002", Day: "2026-12-01", Revision: 1, GeneratedAt: at, Gates: 1, Zero: true}))

	watch := func(extra ...string) (string, string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		args := append([]string{"district", "watch", "-broker", "mqtt://" + b.Addr(), "-user", "district@hz", "-password", districtPW, "-once", "-wait", "2s"}, extra...)
		code := run(ctx, args, strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	out, errs, code := watch()
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	t.Logf("\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header, two schools and the total:\n%s", out)
	}
	for _, h := range []string{"学校 school", "应到 expected", "实到 arrived", "缺勤 absent", "发热 fevers", "隔离 isolated", "拒入 denied", "闸机在线 gates online", "修订 revision", "更新 updated"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("no column %q: %s", h, lines[0])
		}
	}
	updated := fixed.GeneratedAt.Local().Format("01-02 15:04")
	if f := strings.Fields(lines[1]); strings.Join(f, " ") != "hz-001 2026-12-01 812 805 7 1 1 2 2/3 2 "+updated {
		t.Errorf("hz-001, the correction: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); strings.Join(f[:10], " ") != "hz-002 2026-12-01 0 0 0 0 0 0 0/1 1" {
		t.Errorf("hz-002, a zero report: %q", lines[2])
	}
	if f := strings.Fields(lines[3]); strings.Join(f, " ") != "合计 total (2) 2026-12-01 812 805 7 1 1 2 2/4" {
		t.Errorf("total: %q", lines[3])
	}
	// The columns line up as a terminal shows them (a Chinese character is two columns wide).
	col := displayWidth(lines[0][:strings.Index(lines[0], "修订")])
	if got := displayWidth(lines[1][:strings.LastIndex(lines[1], " 2 ")+1]); got != col {
		t.Errorf("revision column at %d in the header, %d in the row:\n%s", col, got, out)
	}

	// One listed school with no report; a broken report is refused, not shown.
	publish("hz-002", []byte(`{"v":1,"school":"hz-002","day":"2026-12-02","revision":2,"generated_at":"2026-12-02T01:30:00Z","expected":5,"zero_report":true}`))
	out, errs, code = watch("-schools", "hz-002,hz-009")
	if code != 0 || !strings.Contains(errs, "arrived 0 + absent 0 is not expected 5") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "hz-002") || strings.Contains(out, "2026-12-02") || strings.Fields(lines[2])[1] != "无报告" {
		t.Fatalf("listed schools:\n%s", out)
	}

	// Live: the table is redrawn when a correction comes in.
	var live bintest.Buffer
	liveCtx, stopLive := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- run(liveCtx, []string{"district", "watch", "-broker", "mqtt://" + b.Addr(), "-user", "district@hz", "-password", districtPW, "-schools", "hz-001"},
			strings.NewReader(""), &live, &live)
	}()
	third := fixed
	third.Revision, third.Fevers, third.Isolated, third.Denied = 3, 2, 2, 3
	// waitRow waits for a row whose first ten cells are want.
	waitRow := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			for _, l := range strings.Split(live.String(), "\n") {
				if f := strings.Fields(l); len(f) >= 10 && strings.Join(f[:10], " ") == want {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("live table never showed %q:\n%s", want, live.String())
			}
		}
	}
	waitRow("hz-001 2026-12-01 812 805 7 1 1 2 2/3 2") // retained
	publish("hz-001", wire.Encode(third))
	waitRow("hz-001 2026-12-01 812 805 7 2 2 3 2/3 3")
	stopLive()
	if code := <-done; code != 0 || strings.Count(live.String(), "\x1b[2J") < 3 {
		t.Fatalf("live: exit %d\n%q", code, live.String())
	}

	// A wrong password is a clear failure.
	if _, errs, code := watch("-password", "wrong-password-123"); code != 1 || !strings.Contains(errs, "connect") {
		t.Errorf("wrong password: exit %d: %s", code, errs)
	}
}
