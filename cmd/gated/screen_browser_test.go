package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/cmd/internal/browsertest"
	"campusgate/gate"
	"campusgate/gate/console"
	"campusgate/gate/journal"

	"github.com/chromedp/chromedp"
)

// screenFlow is a flow whose events the test sends, one state at a time, so
// the browser sees every state a person meets, however briefly the real flow
// stays in it.
type screenFlow struct {
	mu   sync.Mutex
	subs map[chan gate.Event]bool
}

func (f *screenFlow) Subscribe() (<-chan gate.Event, func()) {
	c := make(chan gate.Event, 16)
	c <- f.Current()
	f.mu.Lock()
	f.subs[c] = true
	f.mu.Unlock()
	return c, func() { f.mu.Lock(); delete(f.subs, c); f.mu.Unlock() }
}

func (f *screenFlow) publish(ev gate.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.subs {
		select {
		case c <- ev:
		default: // a page that went away
		}
	}
}

func (f *screenFlow) Current() gate.Event {
	return gate.Event{State: gate.StateReady, Message: gate.StateReady.Message()}
}

func (f *screenFlow) Guard(context.Context, gate.GuardAction) error { return gate.ErrNobodyReferred }

type noRecent struct{}

func (noRecent) Last(int) ([]journal.Entry, error) { return nil, nil }
func (noRecent) Backlog() (int, error)             { return 0, nil }

// screenShot is what the page shows, read from its structure.
type screenShot struct {
	Class     string  `json:"class"`
	Verdict   string  `json:"verdict"` // "" while hidden
	Message   string  `json:"message"`
	Temp      string  `json:"temp"`
	Name      string  `json:"name"`
	Body      string  `json:"body"` // all the visible text
	MainFont  float64 `json:"main_font"`
	Overflows string  `json:"overflows"` // what does not fit the viewport
}

const screenJS = `(() => {
  const vis = (el) => el && !el.hidden && !el.closest("[hidden]") && el.getClientRects().length > 0;
  const txt = (sel) => { const el = document.querySelector(sel); return vis(el) ? el.innerText.replace(/\s+/g, " ").trim() : ""; };
  const d = document.documentElement, out = [];
  if (d.scrollHeight > innerHeight) out.push("scrollHeight " + d.scrollHeight + " > innerHeight " + innerHeight);
  if (d.scrollWidth > innerWidth) out.push("scrollWidth " + d.scrollWidth + " > innerWidth " + innerWidth);
  for (const el of document.querySelectorAll("#screen p")) {
    if (!vis(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight || el.scrollWidth > el.clientWidth)
      out.push((el.id || el.parentElement.id + " ." + el.className) + " at " + [r.left, r.top, r.right, r.bottom].map(Math.round));
  }
  const main = vis(document.querySelector("#verdict")) ? "#verdict .zh" : "#message .zh";
  return JSON.stringify({ class: document.querySelector("#screen").className, verdict: txt("#verdict"),
    message: txt("#message"), temp: txt("#temp"), name: txt("#name"), body: document.body.innerText,
    main_font: parseFloat(getComputedStyle(document.querySelector(main)).fontSize), overflows: out.join("; ") });
})()`

// TestPersonScreenInBrowser follows people through the states of the gate on
// the person's screen (/screen) in a real headless Chromium, on an 800×480
// display and on a 480×800 one in portrait: the right element shows the
// right text, large, the verdict's colour is set, and nothing scrolls or
// leaves the screen, down to the longest reason the gate can give.
func TestPersonScreenInBrowser(t *testing.T) {
	flow := &screenFlow{subs: map[chan gate.Event]bool{}}
	srv := httptest.NewServer(console.New(flow, noRecent{}, console.Opts{GateID: "north-1"}))
	t.Cleanup(srv.Close) // after the browser's cleanup, which ends the page's stream
	ctx := browsertest.New(t, 3*time.Minute)

	person := &gate.PersonView{ID: "P20260101", Name: "王小明", Role: "pupil", Class: "1-2", Credential: "card"}
	readings := func(c float64) []journal.Reading {
		return []journal.Reading{{BodyC: c, SurfaceC: c - 0.5, Sensor: "mlx90614"}}
	}
	state := func(st gate.State, c float64) gate.Event {
		ev := gate.Event{State: st, Message: st.Message(), Person: person}
		if c > 0 {
			ev.Readings = readings(c)
		}
		return ev
	}
	decision := func(st gate.State, r gate.Reason, c float64) gate.Event {
		ev := state(st, c)
		ev.Decision, ev.Reason, ev.Message = map[gate.State]string{gate.StateAdmitted: "admit", gate.StateDenied: "deny"}[st], r, r.Message()
		return ev
	}

	for _, size := range [][2]int64{{800, 480}, {480, 800}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			if err := chromedp.Do(ctx,
				chromedp.EmulateViewport(size[0], size[1]),
				chromedp.Navigate(srv.URL+"/screen"),
				chromedp.WaitReady(chromedp.CSS("body[data-live]")), // the stream is connected
			); err != nil {
				t.Fatal(err)
			}
			look := func() screenShot {
				t.Helper()
				s, err := chromedp.Run(ctx, chromedp.Evaluate[string](screenJS))
				if err != nil {
					t.Fatal(err)
				}
				var sh screenShot
				if err := json.Unmarshal([]byte(s), &sh); err != nil {
					t.Fatal(err)
				}
				return sh
			}
			// expect waits for the screen to show class, then checks what it
			// shows: the verdict (or none), words in the message, the
			// temperature, the masked name, and that it all fits.
			expect := func(what, class, verdict, message, temp, name string) {
				t.Helper()
				js := `document.querySelector("#screen").classList.contains(` + quoteJS(class) + `) && document.querySelector("#message").innerText.includes(` + quoteJS(message) + `)`
				if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
					t.Fatalf("%s: the screen never showed %s with %q: %+v", what, class, message, look())
				}
				sh := look()
				if sh.Verdict != verdict || (temp == "") != (sh.Temp == "") || !strings.Contains(sh.Temp, temp) || sh.Name != name {
					t.Errorf("%s: verdict %q temp %q name %q, want %q %q %q", what, sh.Verdict, sh.Temp, sh.Name, verdict, temp, name)
				}
				if sh.Overflows != "" {
					t.Errorf("%s at %dx%d does not fit: %s", what, size[0], size[1], sh.Overflows)
				}
				if min := 40.0; sh.MainFont < min {
					t.Errorf("%s: the main text is %.0f px, want at least %.0f to read from a metre", what, sh.MainFont, min)
				}
				if dir := os.Getenv("SCREEN_SCREENSHOTS"); dir != "" { // to look at by eye
					if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
						_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%dx%d-%s.png", size[0], size[1], strings.ReplaceAll(what, " ", "-"))), shot, 0o644)
					}
				}
				for _, secret := range []string{"P20260101", "小明", "1-2", "mlx90614"} {
					if strings.Contains(sh.Body, secret) {
						t.Errorf("%s: the screen shows %q", what, secret)
					}
				}
			}

			expect("idle", "ready", "", "请扫码", "", "")
			flow.publish(state(gate.StateIdentify, 0))
			expect("scanned", "identify", "", "正在核验身份", "", "王**")
			flow.publish(state(gate.StatePresence, 0))
			expect("forehead", "presence", "", "请将额头靠近测温区", "", "王**")
			if sh := look(); !strings.Contains(sh.Message, "Hold your forehead to the sensor") {
				t.Errorf("no English beneath: %q", sh.Message)
			}
			flow.publish(state(gate.StateMeasuring, 36.64))
			expect("measuring", "measuring", "", "正在测温", "36.6 °C", "王**")
			flow.publish(decision(gate.StateAdmitted, gate.ReasonOK, 36.64))
			expect("admitted", "pass", "通过 PASS", gate.ReasonOK.Message().ZH, "36.6 °C", "王**")

			// The gate is ready at once; the screen keeps the decision a while.
			flow.publish(gate.Event{State: gate.StateReady, Message: gate.StateReady.Message()})
			if sh := look(); !strings.Contains(sh.Class, "pass") {
				t.Errorf("the decision was not held: %+v", sh)
			}
			expect("ready after the hold", "ready", "", "请扫码", "", "")

			flow.publish(state(gate.StateMeasuring, 38.36))
			expect("measuring a fever", "measuring", "", "正在测温", "38.4 °C", "王**")
			flow.publish(decision(gate.StateDenied, gate.ReasonFever, 38.36))
			expect("fever", "stop", "停止 STOP", gate.ReasonFever.Message().ZH, "38.4 °C", "王**")
			if sh := look(); !strings.Contains(sh.Message, gate.ReasonFever.Message().EN) {
				t.Errorf("fever: no English reason beneath: %q", sh.Message)
			}
			ref := state(gate.StateReferred, 36.1)
			ref.Reason, ref.Guard = gate.ReasonSensorStuck, true
			flow.publish(ref)
			expect("referred", "wait", "请稍候 WAIT", gate.ReasonSensorStuck.Message().ZH, "36.1 °C", "王**")

			// Every reason the gate can give fits, with a long name.
			long := *person
			long.Name = "Alexandra Konstantinopoulou"
			for _, r := range gate.Reasons() {
				st, verdict, class := gate.StateDenied, "停止 STOP", "stop"
				if r == gate.ReasonOK || r.Flagged() || r == gate.ReasonGuardAdmit || r == gate.ReasonRemoteOpen || r == gate.ReasonMiddayOK {
					st, verdict, class = gate.StateAdmitted, "通过 PASS", "pass"
				}
				ev := decision(st, r, 39.95)
				ev.Person = &long
				flow.publish(ev)
				expect(string(r), class, verdict, r.Message().ZH, "40.0 °C", "A***")
			}
		})
	}
}
