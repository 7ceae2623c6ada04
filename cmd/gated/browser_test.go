package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"campusgate/cmd/internal/browsertest"
	"campusgate/gate/journal"

	"github.com/chromedp/chromedp"
)

// TestGuardConsoleInBrowser follows people through a simulated gated in a
// real headless Chromium: the live state, the last decisions, a referral the
// guard settles with a handheld reading, a guard action with nobody waiting,
// and an emergency opening.
func TestGuardConsoleInBrowser(t *testing.T) {
	dir := t.TempDir()
	p := startGated(t, filepath.Join(dir, "j.db"))
	ctx := browsertest.New(t, 2*time.Minute)
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v\ngated:\n%s", what, err, p.out)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// waitText waits until the element's text contains want.
	waitText := func(sel, want string) {
		t.Helper()
		js := `(document.querySelector(` + quoteJS(sel) + `)?.textContent || "").includes(` + quoteJS(want) + `)`
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			got, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
			t.Fatalf("%s never showed %q (shows %q): %v", sel, want, got, err)
		}
	}
	presentAsync := func(code string, temp float64) <-chan presentResult {
		c := make(chan presentResult, 1)
		go func() {
			r, err := present(context.Background(), p.addr, code, temp)
			if err != nil {
				t.Errorf("present %s: %v", code, err)
			}
			c <- r
		}()
		return c
	}

	do("open the console",
		chromedp.Navigate("http://"+p.addr+"/"),
		chromedp.WaitVisible(chromedp.CSS("#state.ready")),
		chromedp.WaitReady(chromedp.CSS("body[data-live]")), // the event stream is connected
	)
	if got := text("#gate"); got == "" {
		t.Fatalf("gate id %q", got)
	}

	// A pupil with a normal temperature: green, named, and in the table.
	if r := <-presentAsync("C0101", 36.6); r.Decision != "admit" {
		t.Fatalf("C0101: %+v", r)
	}
	do("admitted", chromedp.WaitVisible(chromedp.CSS("#state.admitted")))
	waitText("#state", "请通行")
	waitText("#person", "王小明")
	waitText("#temps", "36.6")
	waitText("#recent", "P20260101")

	// A confirmed fever: red, with the reason.
	if r := <-presentAsync("C0215", 38.4); r.Decision != "deny" || r.Reason != "fever" {
		t.Fatalf("C0215: %+v", r)
	}
	do("denied", chromedp.WaitVisible(chromedp.CSS("#state.denied")))
	waitText("#reason", "fever")
	waitText("#person", "张梓涵")

	// A reading the sensor cannot make sense of: the guard is called, and
	// settles it with a handheld thermometer from the console.
	referred := presentAsync("C0102", 30.0)
	if r := <-referred; r.Decision != "refer" {
		t.Fatalf("C0102 at 30 °C: %+v, want a referral", r)
	}
	do("referred", chromedp.WaitVisible(chromedp.CSS("#state.referred")))
	waitText("#reason", "guard needed")
	do("guard enters a handheld reading",
		chromedp.SetValue(chromedp.CSS("#guard"), "G07"),
		chromedp.SetValue(chromedp.CSS("#why"), "手持体温计复测"),
		chromedp.SetValue(chromedp.CSS("#reading"), "36.5"),
		chromedp.Click(chromedp.CSS(`button[data-kind="reading"]`)),
	)
	waitText("#msg", "已执行")
	do("admitted by the guard", chromedp.WaitVisible(chromedp.CSS("#state.admitted")))
	waitText("#recent", "P20260102")

	// Admit with nobody waiting: refused, and said so in words.
	do("admit with nobody waiting", chromedp.Click(chromedp.CSS(`button[data-kind="admit"]`)))
	waitText("#msg", "没有等待门卫处理的人员")

	// Emergency open and close.
	do("emergency open",
		chromedp.SetValue(chromedp.CSS("#why"), "消防演练 fire drill"),
		chromedp.Click(chromedp.CSS(`button[data-kind="emergency_open"]`)),
		chromedp.WaitVisible(chromedp.CSS("#state.emergency")),
	)
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		if out := os.Getenv("CONSOLE_SCREENSHOT"); out != "" {
			_ = os.WriteFile(out, shot, 0o644)
		}
	}
	do("emergency close",
		chromedp.Click(chromedp.CSS(`button[data-kind="emergency_close"]`)),
		chromedp.WaitVisible(chromedp.CSS("#state.ready")),
	)

	// The journal holds what the guard did, with who and why.
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	j, err := journal.Open(filepath.Join(dir, "j.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	last, _ := j.Last(10)
	var kinds []string
	for _, e := range last {
		kinds = append(kinds, e.Kind+"/"+e.Reason)
		if e.PersonID == "P20260102" && (e.Guard == nil || e.Guard.ID != "G07" || e.Decision != "admit") {
			t.Errorf("guard-settled entry: %+v", e)
		}
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "emergency/emergency_open") || !strings.Contains(got, "emergency/emergency_close") {
		t.Errorf("journal: %s", got)
	}
}

// quoteJS makes a JavaScript string literal of s.
func quoteJS(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
