package voice

import (
	"context"
	"errors"

	"campusgate/gate"
	"campusgate/gate/pass"
)

// For is the prompt for a flow event: what the person in front of the gate
// needs to hear, in the screen's words (gate/console's toScreen is the same
// event shown). Silent where the screen is enough: the box never talks to an
// empty gate ("ready" follows every decision at once, and would cut the
// result off), nor over a person being checked or measured. Hush where a new
// person starts: the previous one's words stop.
//
// The voice says pass, stop or fever, never why a pass was refused (a health
// code's colour, a revoked pass): the queue hears it too. The screen shows the
// reason to the person.
func For(ev gate.Event) Prompt {
	switch ev.State {
	case gate.StateReady:
		if ev.Reason == gate.Reason(pass.ReasonMalformed) {
			return Scan // the scanner read something, but no code: try again
		}
		return Silent
	case gate.StateIdentify, gate.StateEmergency:
		return Hush
	case gate.StatePresence:
		return Forehead
	case gate.StateMeasuring:
		return Silent // let "hold your forehead to the sensor" finish: the person is doing it
	case gate.StateRetest, gate.StateRetry:
		return Retry
	case gate.StateReferred:
		return Guard
	case gate.StateAdmitted:
		// Only a reading of the gate's own says the temperature is normal.
		if ev.Reason == gate.ReasonOK || ev.Reason == gate.ReasonMiddayOK || ev.Reason.Flagged() {
			return Pass
		}
		return GoIn
	case gate.StateDenied:
		switch ev.Reason {
		case gate.ReasonFever:
			return Fever
		case gate.ReasonTimeout:
			return Scan // "超时，请重新扫码"
		}
		return Stop
	case gate.StateFault:
		return Fault
	}
	return Silent
}

// Follow speaks for the flow's events until events is closed or ctx ends,
// then stops the prompt playing. It never waits for a prompt to finish, so it
// keeps up with the flow (whose subscription drops events for a slow reader).
//
// The same prompt for the same turn (the state re-emitted, a second retry, a
// second unreadable scan) does not restart it while it plays: it would
// stutter. Once it has been heard, the same event says it again. Two people's
// results are two turns (the journal's sequence tells them apart), so the
// second "pass" restarts the prompt.
func (p *Player) Follow(ctx context.Context, events <-chan gate.Event) {
	defer p.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			p.say(ctx, For(ev), ev.Seq)
		}
	}
}

func (p *Player) say(ctx context.Context, pr Prompt, seq uint64) {
	switch pr {
	case Silent:
		return
	case Hush:
		p.Stop()
		return
	}
	p.mu.Lock()
	cur := p.cur
	p.mu.Unlock()
	if cur != nil && cur.prompt == pr && cur.seq == seq {
		return
	}
	t := p.start(ctx, pr, seq)
	go p.report(ctx, t)
}

// report logs a prompt that did not play: a warning the first time, then at
// debug level while the same failure repeats (a box whose speaker is
// unplugged would otherwise log every person).
func (p *Player) report(ctx context.Context, t *take) {
	<-t.done
	err := t.err
	if errors.Is(err, ErrInterrupted) || ctx.Err() != nil {
		return
	}
	p.mu.Lock()
	repeated := err != nil && err.Error() == p.lastErr
	if err == nil {
		p.lastErr = ""
	} else {
		p.lastErr = err.Error()
	}
	p.mu.Unlock()
	switch {
	case err == nil:
	case repeated:
		p.log.Debug("voice: prompt not played", "prompt", t.prompt, "err", err)
	default:
		p.log.Warn("voice: prompt not played (the gate goes on in silence)", "prompt", t.prompt, "err", err)
	}
}
