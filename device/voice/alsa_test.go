package voice_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"campusgate/device/voice"
)

// sounds is the shipped prompts' directory.
const sounds = "../../firmware-config/sounds"

// needAplay skips a test that needs alsa-utils where it is not installed,
// and fails it under CI=true, whose .ci/run installs it.
func needAplay(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/aplay"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("aplay is required in CI (.ci/run installs alsa-utils)")
		}
		t.Skip("aplay not installed (apt-get install alsa-utils)")
	}
}

// sink is an ALSA setup of the test's own, with no sound card: the system's
// alsa.conf and a PCM "cgtest" of type file, whose slave is the null device,
// so that aplay goes through alsa-lib as on a box and the bytes that reached
// ALSA land in a file. Each play gets a file of its own, named by the time it
// started (they sort in playing order).
type sink struct{ dir string }

// newSink points ALSA_CONFIG_PATH at the test's setup. With paced, the PCM
// takes 32000 bytes a second, as a 16 kHz mono speaker would (the null device
// takes everything at once): a prompt plays for as long as it lasts, and can
// be cut off.
func newSink(t *testing.T, paced bool) *sink {
	t.Helper()
	needAplay(t)
	s := &sink{dir: t.TempDir()}
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

// plays are the bytes of each play so far, in order.
func (s *sink) plays(t *testing.T) [][]byte {
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

// waitPlays waits for n plays to have started.
func (s *sink) waitPlays(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := s.plays(t)
		if len(p) >= n {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d plays reached ALSA, want %d", len(p), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// samePCM fails unless got is want's samples, byte for byte, followed only by
// the silence aplay pads the last period with.
func samePCM(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if len(got) < len(want) || !bytes.Equal(got[:len(want)], want) {
		t.Errorf("%s: ALSA got %d bytes that are not the WAV's %d bytes of samples", what, len(got), len(want))
		return
	}
	if pad := got[len(want):]; len(pad) > 16000 || bytes.ContainsFunc(pad, func(r rune) bool { return r != 0 }) {
		t.Errorf("%s: %d bytes after the samples, not a period's silence", what, len(pad))
	}
}

func wav(t *testing.T, path string) voice.WAV {
	t.Helper()
	w, err := voice.ReadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// writeTone writes a 16 kHz mono WAV of a tone lasting d: a prompt of known
// length for the tests that cut one off.
func writeTone(t *testing.T, path string, d time.Duration, hz float64) []byte {
	t.Helper()
	n := int(d.Seconds() * 16000)
	data := make([]byte, 2*n)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/16000))
		binary.LittleEndian.PutUint16(data[2*i:], uint16(v))
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(16000), uint32(32000), uint16(2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// tones is a prompts' directory of tones: each prompt lasts d, in zh-CN.
func tones(t *testing.T, d time.Duration) (string, map[voice.Prompt][]byte) {
	t.Helper()
	dir := t.TempDir()
	data := map[voice.Prompt][]byte{}
	for i, p := range voice.Prompts {
		data[p] = writeTone(t, filepath.Join(dir, "zh-CN", string(p)+".wav"), d, 300+50*float64(i))
	}
	return dir, data
}
