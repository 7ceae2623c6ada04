// Package voicetest plays prompts through the real aplay and alsa-lib into
// files, on a machine with no sound card, for device/voice's tests and
// gated's.
package voicetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// NeedAplay skips a test that needs alsa-utils where it is not installed,
// and fails it under CI=true, whose .ci/run installs it.
func NeedAplay(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("aplay"); err != nil { // where voice.New looks for it
		if os.Getenv("CI") == "true" {
			t.Fatal("aplay is required in CI (.ci/run installs alsa-utils)")
		}
		t.Skip("aplay not installed (apt-get install alsa-utils)")
	}
}

// Sink is an ALSA setup of the test's own, with no sound card: the system's
// alsa.conf and a PCM "cgtest" of type file, whose slave is the null device,
// so that aplay goes through alsa-lib as on a box and the bytes that reached
// ALSA land in a file. Each play gets a file of its own, named by the time it
// started (they sort in playing order).
type Sink struct{ dir string }

// NewSink points ALSA_CONFIG_PATH at the test's setup. With paced, the PCM
// takes 32000 bytes a second, as a 16 kHz mono speaker would (the null device
// takes everything at once): a prompt plays for as long as it lasts, and can
// be cut off.
func NewSink(t testing.TB, paced bool) *Sink {
	t.Helper()
	NeedAplay(t)
	s := &Sink{dir: t.TempDir()}
	out := s.dir + "/$(date +%%s%%N).raw" // alsa-lib fills in %r, %c, ... itself: %% is a %
	// alsa-lib writes to a file named "|cmd" through popen, and waits for cmd
	// when aplay closes the device: a reader that takes its time makes aplay
	// last as long as the prompt. It stops when aplay is gone (cut off).
	cmd := `|cat > ` + out
	if paced {
		cmd = `|f=` + out + `; : >$f; while kill -0 $PPID 2>/dev/null && [ \"$(head -c 3200 | tee -a $f | wc -c)\" -gt 0 ]; do sleep 0.1; done`
		t.Cleanup(func() { time.Sleep(300 * time.Millisecond) }) // a cut-off reader's last write
	}
	conf := fmt.Sprintf(`</usr/share/alsa/alsa.conf>
pcm.cgtest {
	type file
	slave.pcm "null"
	file "%s"
	format "raw"
}
`, cmd)
	p := filepath.Join(s.dir, "asound.conf")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", p)
	return s
}

// Plays are the bytes of each play so far, in order.
func (s *Sink) Plays(t testing.TB) [][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.dir, "*.raw"))
	slices.Sort(files)
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// WaitPlays waits for n plays to have started.
func (s *Sink) WaitPlays(t testing.TB, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := s.Plays(t)
		if len(p) >= n {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d plays reached ALSA, want %d", len(p), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SamePCM fails unless got is want's samples, byte for byte, followed only by
// the silence aplay pads the last period with.
func SamePCM(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !Same(got, want) {
		t.Errorf("%s: ALSA got %d bytes that are not the WAV's %d bytes of samples and a period's silence", what, len(got), len(want))
	}
}

// Same says whether got is want's samples, byte for byte, and the silence
// aplay pads the last period with.
func Same(got, want []byte) bool {
	if len(got) < len(want) || !bytes.Equal(got[:len(want)], want) {
		return false
	}
	pad := got[len(want):]
	return len(pad) <= 16000 && !bytes.ContainsFunc(pad, func(r rune) bool { return r != 0 })
}
