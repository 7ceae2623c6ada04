package scanner

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// feed pushes data into a fresh evdevConn in reads of step bytes, as the
// kernel may split them, decoding into a buffer of plen bytes after each, and
// returns what was typed and the bytes left undecoded.
func feed(data []byte, step, plen int) ([]byte, int) {
	c := &evdevConn{raw: make([]byte, 64*EventSize)}
	p := make([]byte, plen)
	var typed []byte
	for len(data) > 0 {
		n := copy(c.raw[c.n:], data[:min(step, len(data))])
		data = data[n:]
		c.n += n
		typed = append(typed, p[:c.decode(p)]...)
	}
	for c.n >= EventSize {
		typed = append(typed, p[:c.decode(p)]...)
	}
	return typed, c.n
}

// FuzzHIDEvents: any bytes from an evdev node give typed bytes, never a
// panic; how the reads split the events, and how much room the reader has,
// change nothing.
func FuzzHIDEvents(f *testing.F) {
	t0 := time.Unix(1767225600, 0)
	var ab []byte
	for _, ev := range []InputEvent{{Type: EvKey, Code: KeyLeftShift, Value: 1}, {Type: EvKey, Code: 30, Value: 1},
		{Type: EvKey, Code: 30, Value: 2}, {Type: EvKey, Code: 30, Value: 0}, {Type: EvKey, Code: KeyLeftShift, Value: 0},
		{Type: 0, Code: 0, Value: 0}, {Type: EvKey, Code: 48, Value: 1}, {Type: EvKey, Code: KeyKPEnter, Value: 1},
		{Type: EvKey, Code: 0xffff, Value: 1}, {Type: EvKey, Code: 127, Value: 1}} {
		ev.Time = t0
		ab = AppendInputEvent(ab, ev)
	}
	f.Add(ab, uint8(EventSize), uint8(63))
	f.Add(ab, uint8(5), uint8(0))
	f.Add(ab[:len(ab)-3], uint8(200), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, step, plen uint8) {
		var want []byte
		var dec keyDecoder
		for i := 0; i+EventSize <= len(data); i += EventSize {
			if ev := ParseInputEvent(data[i:]); ev.Type == EvKey {
				if b := dec.key(ev.Code, ev.Value); b != 0 {
					want = append(want, b)
				}
			}
		}
		got, left := feed(data, int(step)+1, int(plen)%8+1)
		if !bytes.Equal(got, want) {
			t.Fatalf("typed %q, want %q", got, want)
		}
		if left != len(data)%EventSize {
			t.Fatalf("%d bytes left of %d, want %d", left, len(data), len(data)%EventSize)
		}
	})
}

// FuzzKeyFor: the keystrokes KeyFor scripts for a text (as a scanner
// emulator sends them) type that text back through the decoder.
func FuzzKeyFor(f *testing.F) {
	f.Add("CG1:PUPIL-20260001\n")
	f.Add("{\"a\":[1,2]}|~`\t健康码")
	f.Add("!@#$%^&*()_+-=[]\\;',./<>?")
	f.Fuzz(func(t *testing.T, s string) {
		var raw, want []byte
		key := func(code uint16, v int32) { raw = AppendInputEvent(raw, InputEvent{Type: EvKey, Code: code, Value: v}) }
		for _, r := range s {
			code, shift, ok := KeyFor(r)
			if !ok {
				continue
			}
			if shift {
				key(KeyRightShift, 1)
			}
			key(code, 1)
			key(code, 0)
			if shift {
				key(KeyRightShift, 0)
			}
			want = append(want, byte(r))
		}
		got, _ := feed(raw, len(raw)+1, len(raw)+1)
		if w := strings.ReplaceAll(string(want), "\n", "\r"); string(got) != w {
			t.Fatalf("typed %q, want %q", got, w)
		}
	})
}

// FuzzParseFraming: a prefix or suffix name parses to a valid setting or is
// refused, and a valid one's name parses back to it.
func FuzzParseFraming(f *testing.F) {
	for _, s := range []string{"", "none", "STX", " stx ", "cr", "LF", "crlf", "etx", "cr\x00", "ＣＲ", "İ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParsePrefix(s); err == nil {
			if q, err := ParsePrefix(p.String()); !p.valid() || err != nil || q != p {
				t.Fatalf("prefix %q → %v → %v %v", s, p, q, err)
			}
		}
		if x, err := ParseSuffix(s); err == nil {
			if y, err := ParseSuffix(x.String()); !x.valid() || err != nil || y != x || len(x.Bytes()) == 0 {
				t.Fatalf("suffix %q → %v → %v %v", s, x, y, err)
			}
		}
	})
}
