package voice_test

import (
	"testing"

	"campusgate/device/voice"
	"campusgate/gate"
)

// Every state a person meets has a prompt or is silent on purpose, and every
// decision, for every reason, says something.
func TestForEveryStateAndReason(t *testing.T) {
	want := map[gate.State]voice.Prompt{
		gate.StateReady:     voice.Silent, // follows every result at once: it would cut the result off
		gate.StateIdentify:  voice.Hush,   // a new person: the last one's words stop
		gate.StatePresence:  voice.Forehead,
		gate.StateMeasuring: voice.Silent, // the person is doing what the last prompt asked
		gate.StateRetest:    voice.Retry,
		gate.StateRetry:     voice.Retry,
		gate.StateReferred:  voice.Guard,
		gate.StateAdmitted:  voice.Pass,
		gate.StateDenied:    voice.Stop,
		gate.StateFault:     voice.Fault,
		gate.StateEmergency: voice.Hush, // the guard holds the gate open: nothing to tell each person
	}
	for _, s := range gate.States() {
		w, ok := want[s]
		if !ok {
			t.Errorf("state %s: no prompt decided (a new state? give it one, or Silent)", s)
			continue
		}
		ev := gate.Event{State: s}
		if s == gate.StateAdmitted {
			ev.Reason = gate.ReasonOK
		}
		if got := voice.For(ev); got != w {
			t.Errorf("For(%s) = %q, want %q", s, got, w)
		}
	}
	for _, r := range gate.Reasons() {
		deny := voice.For(gate.Event{State: gate.StateDenied, Decision: "deny", Reason: r})
		admit := voice.For(gate.Event{State: gate.StateAdmitted, Decision: "admit", Reason: r})
		if deny == voice.Silent || deny == voice.Hush || admit == voice.Silent || admit == voice.Hush {
			t.Errorf("reason %s: denied says %q, admitted %q: a decision must be heard", r, deny, admit)
		}
		if f := voice.For(gate.Event{State: gate.StateFault, Reason: r}); f != voice.Fault {
			t.Errorf("fault for %s: %q", r, f)
		}
	}
	type stateReason struct {
		State  gate.State
		Reason gate.Reason
	}
	for ev, w := range map[stateReason]voice.Prompt{
		{State: gate.StateDenied, Reason: gate.ReasonFever}:             voice.Fever,
		{State: gate.StateDenied, Reason: gate.ReasonTimeout}:           voice.Scan,
		{State: gate.StateDenied, Reason: gate.ReasonHealthRed}:         voice.Stop, // never the colour aloud
		{State: gate.StateDenied, Reason: gate.ReasonGuardDeny}:         voice.Stop,
		{State: gate.StateAdmitted, Reason: gate.ReasonNoReportFlagged}: voice.Pass,
		{State: gate.StateAdmitted, Reason: gate.ReasonMiddayOK}:        voice.Pass,
		{State: gate.StateAdmitted, Reason: gate.ReasonGuardAdmit}:      voice.GoIn, // no normal reading of the gate's
		{State: gate.StateAdmitted, Reason: gate.ReasonRemoteOpen}:      voice.GoIn,
		{State: gate.StateReady, Reason: "malformed"}:                   voice.Scan,
		{State: gate.StateReady, Reason: gate.ReasonJournalFull}:        voice.Silent, // the fault said it
		{State: gate.StateFault, Reason: gate.ReasonSensorStuck}:        voice.Fault,
		{State: gate.StateReferred, Reason: gate.ReasonSensorDrift}:     voice.Guard,
	} {
		if got := voice.For(gate.Event{State: ev.State, Reason: ev.Reason}); got != w {
			t.Errorf("For(%s, %s) = %q, want %q", ev.State, ev.Reason, got, w)
		}
	}
}
