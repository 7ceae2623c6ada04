package main

import (
	"context"
	"fmt"

	"campusgate/device/voice"
	"campusgate/gate"
)

// newVoice is the box's speaker, or nil with [voice] off (the default, and
// so -simulate's without a config). A prompt file or aplay missing is a
// broken installation, told at start like a wrong key: better than a gate
// that was meant to speak and stays silent unnoticed.
func (d *daemon) newVoice() (*voice.Player, error) {
	vc := d.cfg.Voice
	if !vc.Enabled {
		return nil, nil
	}
	p, err := voice.New(&voice.Opts{Device: vc.Device, Dir: vc.Dir, Languages: vc.Languages(), Logger: d.log})
	if err != nil {
		return nil, errConfig{fmt.Errorf("%w (or set [voice] enabled = false)", err)}
	}
	d.log.Info("voice on", "device", vc.Device, "language", vc.Language, "dir", vc.Dir)
	return p, nil
}

// speak follows the flow with the voice until ctx ends; done closes once the
// last prompt is silenced.
func speak(ctx context.Context, p *voice.Player, flow *gate.Flow) (done <-chan struct{}) {
	c := make(chan struct{})
	if p == nil {
		close(c)
		return c
	}
	events, stop := flow.Subscribe()
	go func() {
		defer close(c)
		defer stop()
		p.Follow(ctx, events)
	}()
	return c
}
