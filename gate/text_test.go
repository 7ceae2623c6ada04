package gate

import "testing"

// States is the whole list: what speaks or shows something for every state
// (the voice's table test) relies on it.
func TestStatesAreEveryState(t *testing.T) {
	seen := map[State]bool{}
	for _, s := range States() {
		if s.Message() == (Text{}) || seen[s] {
			t.Errorf("state %q: no message, or listed twice", s)
		}
		seen[s] = true
	}
	for s := range stateText {
		if !seen[s] {
			t.Errorf("state %q is missing from States()", s)
		}
	}
}
