package voice_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"campusgate/device/voice"
)

// sounds is the shipped prompts' directory.
const sounds = "../../firmware-config/sounds"

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
