package console_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"campusgate/gate"
)

// TestScreenFollowsTheFlow watches the person's screen stream of a real flow
// (the emulated chip, the real driver, flow and journal) while one pupil is
// admitted and the next is refused for a fever.
func TestScreenFollowsTheFlow(t *testing.T) {
	b := newBox(t, nil)
	srv := httptest.NewServer(b.srv)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/screen/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	type screenEvent struct {
		State   gate.State `json:"state"`
		Verdict string     `json:"verdict"`
		Reason  gate.Reason
		TempC   float64                  `json:"temp_c"`
		Text    *struct{ ZH, EN string } `json:"reason_text"`
	}
	got := make(chan screenEvent, 64)
	go func() {
		defer close(got)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var se screenEvent
				if err := json.Unmarshal([]byte(data), &se); err != nil {
					t.Error(err)
					return
				}
				got <- se
			}
		}
	}()
	// until reads the screen's events up to a decision.
	until := func() (states []gate.State, last screenEvent) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case se := <-got:
				states = append(states, se.State)
				if se.State == gate.StateAdmitted || se.State == gate.StateDenied {
					return states, se
				}
			case <-timeout:
				t.Fatalf("no decision on the screen after %v", states)
			}
		}
	}
	b.mustAdmit(b.present(36.1, nil))
	states, last := until()
	// The forehead is there before the scan, so presence may pass unseen.
	if states[0] != gate.StateReady || !containsAll(states, gate.StateIdentify, gate.StateMeasuring) {
		t.Errorf("states on the screen %v, want ready, identify, measuring, admitted", states)
	}
	if last.Verdict != "pass" || last.Reason != gate.ReasonOK || last.TempC < 36 || last.TempC > 37.5 || last.Text == nil {
		t.Errorf("admitted: %+v", last)
	}
	if v := b.present(38.5, nil); v.final.Reason != gate.ReasonFever {
		t.Fatalf("38.5 °C: %+v", v.final)
	}
	states, last = until()
	if !containsAll(states, gate.StateMeasuring) || last.Verdict != "stop" || last.Reason != gate.ReasonFever ||
		last.TempC < 37.3 || last.Text == nil || last.Text.ZH != gate.ReasonFever.Message().ZH {
		t.Errorf("fever: %v then %+v", states, last)
	}
}

func containsAll(states []gate.State, want ...gate.State) bool {
	for _, w := range want {
		found := false
		for _, s := range states {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}
