package voice

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// WAV is what a prompt file holds.
type WAV struct {
	Rate     int
	Channels int
	Bits     int
	Data     []byte // the PCM samples of the data chunk, as aplay hands them to ALSA
}

// ReadWAV reads a prompt file: mono, 16-bit PCM (what generate.sh writes,
// and what any ALSA device plays through the default plug without surprise).
func ReadWAV(path string) (WAV, error) {
	// Prompts are a few seconds long; 4 MiB is a runaway file.
	return readWAV(path, 4<<20)
}

// checkWAV checks a prompt file's header only: New checks every prompt in
// every language at start-up, and needs no samples for it (Data holds the
// first few).
func checkWAV(path string) error {
	_, err := readWAV(path, 4096) // past any LIST chunk before the samples
	return err
}

// readWAV reads at most limit bytes of path.
func readWAV(path string, limit int64) (WAV, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return WAV{}, fmt.Errorf("%s: %w", path, ErrNoPrompt)
	}
	if err != nil {
		return WAV{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return WAV{}, fmt.Errorf("%s: %w", path, err)
	}
	w, err := parseWAV(b)
	if err != nil {
		return WAV{}, fmt.Errorf("%s: %w: %v", path, ErrBadPrompt, err)
	}
	return w, nil
}

func parseWAV(b []byte) (WAV, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return WAV{}, errors.New("no RIFF WAVE header")
	}
	var w WAV
	haveFmt := false
	for r := b[12:]; len(r) >= 8; {
		id, n := string(r[:4]), int(binary.LittleEndian.Uint32(r[4:8]))
		r = r[8:]
		if n < 0 || n > len(r) {
			if id == "data" { // a stream written without its final size
				n = len(r)
			} else {
				return WAV{}, fmt.Errorf("chunk %q runs past the end", id)
			}
		}
		body := r[:n]
		switch id {
		case "fmt ":
			if n < 16 {
				return WAV{}, errors.New("short fmt chunk")
			}
			if tag := binary.LittleEndian.Uint16(body); tag != 1 && tag != 0xfffe {
				return WAV{}, fmt.Errorf("format tag %#x, want PCM", tag)
			}
			w.Channels = int(binary.LittleEndian.Uint16(body[2:]))
			w.Rate = int(binary.LittleEndian.Uint32(body[4:]))
			w.Bits = int(binary.LittleEndian.Uint16(body[14:]))
			haveFmt = true
		case "data":
			if !haveFmt {
				return WAV{}, errors.New("data before fmt")
			}
			w.Data = body
			if w.Channels != 1 || w.Bits != 16 || w.Rate < 8000 || w.Rate > 48000 {
				return WAV{}, fmt.Errorf("%d channels, %d bits, %d Hz", w.Channels, w.Bits, w.Rate)
			}
			if len(w.Data) == 0 {
				return WAV{}, errors.New("no samples")
			}
			return w, nil
		}
		r = r[min(n+n%2, len(r)):] // chunks are padded to an even size
	}
	return WAV{}, errors.New("no data chunk")
}
