package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"campusgate/gate"
	"campusgate/gate/journal"
)

// listFlow sends a fixed list of events to each subscriber, then ends the
// stream, so a test reads exactly what the screen was sent.
type listFlow struct {
	fakeFlow
	events []gate.Event
}

func (f *listFlow) Subscribe() (<-chan gate.Event, func()) {
	c := make(chan gate.Event, len(f.events))
	for _, ev := range f.events {
		c <- ev
	}
	close(c)
	return c, func() {}
}

func TestMaskName(t *testing.T) {
	for in, want := range map[string]string{
		"王小明": "王**", "李娜": "李*", "欧阳娜娜": "欧***", "Zhang Weiwei": "Z***", "王": "*", "": "", " 张三 ": "张*",
	} {
		if got := maskName(in); got != want {
			t.Errorf("maskName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestScreenStream follows one person through every state of the flow and
// checks what the person's screen is sent: from the LAN without a PIN, and
// nothing of the event beyond its state, texts, temperature, decision, reason
// and the masked name.
func TestScreenStream(t *testing.T) {
	person := &gate.PersonView{ID: "P20260101", Name: "王小明", Role: "pupil", Grade: "1", Class: "1-2",
		Credential: "CARD0042", Assurance: "card", Health: "green"}
	reading := func(c float64) []journal.Reading {
		return []journal.Reading{{SurfaceC: 34.91, BodyC: c, AmbientC: 23.47, Sensor: "mlx90614", At: time.Now()}}
	}
	ev := func(st gate.State, mod func(*gate.Event)) gate.Event {
		e := gate.Event{At: time.Now(), State: st, Message: st.Message()}
		if st != gate.StateReady {
			e.Person = person
		}
		if mod != nil {
			mod(&e)
		}
		return e
	}
	decided := func(decision string, r gate.Reason, c float64) func(*gate.Event) {
		return func(e *gate.Event) {
			e.Decision, e.Reason, e.Message, e.Readings, e.Seq = decision, r, r.Message(), reading(c), 4711
		}
	}
	events := []gate.Event{
		ev(gate.StateReady, nil),
		ev(gate.StateIdentify, nil),
		ev(gate.StatePresence, nil),
		ev(gate.StateMeasuring, func(e *gate.Event) { e.Readings = reading(36.64) }),
		ev(gate.StateAdmitted, decided("admit", gate.ReasonOK, 36.64)),
		ev(gate.StateRetest, func(e *gate.Event) { e.Readings = reading(37.9) }),
		ev(gate.StateDenied, decided("deny", gate.ReasonFever, 38.36)),
		ev(gate.StateReferred, func(e *gate.Event) {
			e.Reason, e.Guard, e.Readings = gate.ReasonSensorStuck, true, reading(36.1)
		}),
		ev(gate.StateFault, func(e *gate.Event) {
			e.Person, e.Reason, e.Guard = nil, gate.ReasonSensorError, true
			e.Message = gate.Text{ZH: "测温传感器无响应：连续3次读取失败 i2c: NACK", EN: "sensor not responding: i2c: NACK"}
		}),
	}
	want := []screenEvent{
		{State: gate.StateReady, Message: gate.StateReady.Message()},
		{State: gate.StateIdentify, Message: gate.StateIdentify.Message(), Name: "王**"},
		{State: gate.StatePresence, Message: gate.StatePresence.Message(), Name: "王**"},
		{State: gate.StateMeasuring, Message: gate.StateMeasuring.Message(), Name: "王**", TempC: 36.6},
		{State: gate.StateAdmitted, Message: gate.ReasonOK.Message(), Verdict: "pass", Decision: "admit",
			Reason: gate.ReasonOK, ReasonText: new(gate.ReasonOK.Message()), TempC: 36.6, Name: "王**"},
		{State: gate.StateRetest, Message: gate.StateRetest.Message(), Name: "王**", TempC: 37.9},
		{State: gate.StateDenied, Message: gate.ReasonFever.Message(), Verdict: "stop", Decision: "deny",
			Reason: gate.ReasonFever, ReasonText: new(gate.ReasonFever.Message()), TempC: 38.4, Name: "王**"},
		{State: gate.StateReferred, Message: gate.StateReferred.Message(), Verdict: "wait",
			Reason: gate.ReasonSensorStuck, ReasonText: new(gate.ReasonSensorStuck.Message()), TempC: 36.1, Name: "王**"},
		// The guard's detail of a fault stays on the guard's page.
		{State: gate.StateFault, Message: gate.ReasonSensorError.Message(), Verdict: "stop",
			Reason: gate.ReasonSensorError, ReasonText: new(gate.ReasonSensorError.Message())},
	}
	s := New(&listFlow{events: events}, fakeRecent{}, Opts{GateID: "north-1", PINHash: "$2a$04$unused"})

	// From the LAN, without a PIN.
	r := httptest.NewRequestWithContext(context.Background(), "GET", "/screen/events", nil)
	r.RemoteAddr = "192.168.1.20:5000"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r) // returns when the list ends
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("screen stream from the LAN: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	body := w.Body.String()
	var got []screenEvent
	allowed := []string{"state", "message", "verdict", "decision", "reason", "reason_text", "temp_c", "name"}
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "event: ") && line != "event: screen\n" {
			t.Errorf("event name %q", line)
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal([]byte(data), &keys); err != nil {
			t.Fatal(err)
		}
		for k := range keys {
			if !slices.Contains(allowed, k) {
				t.Errorf("the screen is sent %q: %s", k, data)
			}
		}
		var se screenEvent
		if err := json.Unmarshal([]byte(data), &se); err != nil {
			t.Fatal(err)
		}
		got = append(got, se)
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d:\n%s", len(got), len(want), body)
	}
	for i := range want {
		g, _ := json.Marshal(got[i])
		w, _ := json.Marshal(want[i])
		if string(g) != string(w) {
			t.Errorf("%s:\n got %s\nwant %s", want[i].State, g, w)
		}
	}
	for _, secret := range []string{"P20260101", "王小明", "小明", "1-2", "CARD0042", "green", "pupil", "mlx90614",
		"34.91", "23.47", "4711", "NACK", "guard_needed", "north-1"} {
		if strings.Contains(body, secret) {
			t.Errorf("the screen's stream carries %q", secret)
		}
	}

	// The page is open too; the guard's stream, status and actions still need the PIN.
	if w := do(s, "GET", "/screen", "192.168.1.20:5000", "", nil); w.Code != 200 ||
		!strings.Contains(w.Body.String(), `new EventSource("/screen/events")`) || strings.Contains(w.Body.String(), "王") {
		t.Errorf("screen page from the LAN: %d", w.Code)
	}
	for _, req := range [][2]string{{"GET", "/events"}, {"GET", "/api/status"}, {"GET", "/"}, {"POST", "/screen"}, {"GET", "/screen/x"}} {
		if w := do(s, req[0], req[1], "192.168.1.20:5000", "", nil); w.Code != http.StatusUnauthorized {
			t.Errorf("%s %s from the LAN without a PIN: %d", req[0], req[1], w.Code)
		}
	}
}

// TestScreenStreamsBounded: the person's screen needs no PIN, so the streams
// it may hold open are bounded.
func TestScreenStreamsBounded(t *testing.T) {
	s := New(&listFlow{}, fakeRecent{}, Opts{GateID: "north-1", PINHash: "$2a$04$unused"})
	for range maxScreens { // as many screens as allowed, following
		s.screens <- struct{}{}
	}
	r := httptest.NewRequestWithContext(context.Background(), "GET", "/screen/events", nil)
	r.RemoteAddr = "192.168.1.20:5000"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("one screen too many: %d", w.Code)
	}
	<-s.screens // one leaves: the next may follow
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("after one left: %d", w.Code)
	}
}
