package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"campusgate/device/voice"
	"campusgate/device/voice/voicetest"
)

// voiceConfig writes a simulated gate's config with [voice] on, its prompts
// in sounds, and returns its path.
func voiceConfig(t *testing.T, dir, sounds string) string {
	t.Helper()
	cfg := filepath.Join(dir, "gated.toml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
gate_id = "north-1"
journal = %q
[identity]
allow_plain_ids = true
[temperature]
read_interval = "20ms"
retest_pause = "200ms"
[voice]
enabled = true
device = "cgtest"
dir = %q
`, filepath.Join(dir, "j.db"), sounds)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A simulated gated with [voice] on: a person admitted hears the pass
// prompt, the next one, refused for a fever, the fever prompt, through the
// real aplay and alsa-lib.
func TestVoiceSpeaksForThePeople(t *testing.T) {
	sink := voicetest.NewSink(t, false)
	sounds, err := filepath.Abs("../../firmware-config/sounds")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := startGatedArgs(t, "-simulate", "-config", voiceConfig(t, dir, sounds))
	ctx := context.Background()
	if r, err := present(ctx, p.addr, "C0101", 36.6); err != nil || r.Decision != "admit" {
		t.Fatalf("first person: %+v %v\n%s", r, err, p.out)
	}
	sink.WaitPlays(t, 1)
	if r, err := present(ctx, p.addr, "C0215", 38.4); err != nil || r.Reason != "fever" {
		t.Fatalf("second person: %+v %v\n%s", r, err, p.out)
	}
	data := map[voice.Prompt][]byte{}
	for _, pr := range voice.Prompts {
		w, err := voice.ReadWAV(filepath.Join(sounds, "zh-CN", string(pr)+".wav"))
		if err != nil {
			t.Fatal(err)
		}
		data[pr] = w.Data
	}
	var heard []voice.Prompt
	for range 100 { // the fever prompt follows the decision by a moment
		heard = heard[:0]
		for _, b := range sink.Plays(t) {
			name := voice.Prompt("?")
			for pr, d := range data {
				if voicetest.Same(b, d) {
					name = pr
				}
			}
			heard = append(heard, name)
		}
		if n := len(heard); n > 0 && heard[n-1] == voice.Fever {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("heard %v", heard)
	// The fever is measured twice (a retest) and may ask for the forehead:
	// those prompts may come between, nothing else.
	n := len(heard)
	ok := n >= 2 && heard[0] == voice.Pass && heard[n-1] == voice.Fever
	for i := 1; ok && i < n-1; i++ {
		ok = heard[i] == voice.Retry || heard[i] == voice.Forehead
	}
	if !ok {
		t.Errorf("heard %v, want pass, then fever (retry or forehead between)\n%s", heard, p.out)
	}
}

// A prompt file missing is known at start, as a wrong key is: exit 125,
// naming it.
func TestVoiceMissingPromptExits125(t *testing.T) {
	voicetest.NeedAplay(t) // without it, that is what gated names
	dir := t.TempDir()
	out, err := exec.Command(gatedBin, "-simulate", "-config", voiceConfig(t, dir, filepath.Join(dir, "nowhere"))).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 125 {
		t.Fatalf("exit %v, want 125\n%s", err, out)
	}
	if !strings.Contains(string(out), "no zh-CN prompts in "+filepath.Join(dir, "nowhere")) || !strings.Contains(string(out), "enabled = false") {
		t.Errorf("message does not name the prompt, or the way out:\n%s", out)
	}
}
