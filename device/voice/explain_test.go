package voice

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// aplay's failures, as it prints them (alsa-utils 1.2), name their cause.
func TestExplainNamesTheCause(t *testing.T) {
	exit := &exec.ExitError{}
	for stderr, want := range map[string]error{
		"aplay: main:831: audio open error: Device or resource busy\n":                                                                   ErrDeviceBusy,
		"ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM nosuch\naplay: main:831: audio open error: No such file or directory\n": ErrNoDevice,
		"ALSA lib confmisc.c:855:(parse_card) cannot find card '0'\naplay: main:831: audio open error: No such file or directory\n":      ErrNoDevice,
	} {
		err := explain("hw:0", "/x/pass.wav", exit, stderr)
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "aplay -D hw:0 pass.wav") || !strings.Contains(err.Error(), "audio open error") {
			t.Errorf("explain(%q) = %v, want %v", stderr, err, want)
		}
	}
	if err := explain("default", "/x/pass.wav", exit, "aplay: pcm_write:2127: write error: Input/output error\n"); errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "write error") {
		t.Errorf("a write error: %v", err)
	}
}
