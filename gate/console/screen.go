package console

import (
	_ "embed"
	"html/template"
	"math"
	"net/http"
	"strings"

	"campusgate/gate"
)

// The person's screen (/screen) is the box's own display facing the gate: what
// to do next, the temperature, and PASS or STOP with the reason. It is open to
// anyone who can reach the console, without the guard's PIN, because its
// stream (/screen/events) carries only what the person in front of the gate
// already sees about themselves: never an id, a class, a health status, the
// journal's sequence or the sensor's raw readings.

//go:embed screen.html
var screenHTML string

var screen = template.Must(template.Must(template.New("screen").Parse(screenHTML)).New("hold").Parse(holdJS)).Lookup("screen")

// Verdicts colour the screen: green pass, red stop, amber wait for the guard.
const (
	verdictPass = "pass"
	verdictStop = "stop"
	verdictWait = "wait"
)

// screenEvent is a flow event reduced to what the person's screen shows.
type screenEvent struct {
	State gate.State `json:"state"`
	// Message is the flow's own text for the state (constant texts only).
	Message  gate.Text `json:"message"`
	Verdict  string    `json:"verdict,omitempty"`
	Decision string    `json:"decision,omitempty"`
	// Reason and its words from gate/text.go, for a decision or a fault.
	Reason     gate.Reason `json:"reason,omitempty"`
	ReasonText *gate.Text  `json:"reason_text,omitempty"`
	// TempC is the last reading's body temperature, rounded as shown.
	TempC float64 `json:"temp_c,omitempty"`
	// Name is masked (王小明 → 王**): see maskName.
	Name string `json:"name,omitempty"`
}

func toScreen(ev gate.Event) screenEvent {
	se := screenEvent{State: ev.State, Message: ev.Message, Decision: ev.Decision, Reason: ev.Reason}
	switch ev.State {
	case gate.StateAdmitted:
		se.Verdict = verdictPass
	case gate.StateDenied, gate.StateFault:
		se.Verdict = verdictStop
	case gate.StateReferred:
		se.Verdict = verdictWait
	}
	if ev.Reason != "" {
		// A fault's Message may describe the sensor in detail for the guard;
		// the person gets the reason's few words.
		t := ev.Reason.Message()
		se.ReasonText = &t
		if ev.State == gate.StateFault {
			se.Message = t
		}
	}
	if n := len(ev.Readings); n > 0 && ev.Readings[n-1].BodyC > 0 {
		se.TempC = math.Round(ev.Readings[n-1].BodyC*10) / 10
	}
	if ev.Person != nil {
		se.Name = maskName(ev.Person.Name)
	}
	return se
}

// maskName keeps a name's first character and hides the rest, as commercial
// entry terminals do: enough for the person to see the scanner read their own
// card, not enough for the queue behind them to read a classmate's name. At
// most three stars, so a long romanised name fits the screen.
func maskName(name string) string {
	r := []rune(strings.TrimSpace(name))
	if len(r) < 2 {
		return strings.Repeat("*", len(r))
	}
	return string(r[0]) + strings.Repeat("*", min(len(r)-1, 3))
}

func (s *Server) screenPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page needs nothing from elsewhere, and nobody may frame it.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'")
	if err := screen.Execute(w, nil); err != nil {
		s.log.Warn("person's screen page", "err", err)
	}
}

// maxScreens is how many person's screens may follow one gate at once: its
// own display and a few more (a second screen, a test).
const maxScreens = 4

func (s *Server) screenEvents(w http.ResponseWriter, r *http.Request) {
	select {
	case s.screens <- struct{}{}:
		defer func() { <-s.screens }()
	default:
		http.Error(w, "too many screens follow this gate", http.StatusServiceUnavailable)
		return
	}
	s.stream(w, r, "screen", func(ev gate.Event) any { return toScreen(ev) })
}
