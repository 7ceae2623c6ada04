package scanner_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"campusgate/device/scanner"
)

var t0 = time.Date(2026, 3, 2, 7, 30, 0, 0, time.UTC)

func mustFramer(t testing.TB, p scanner.Prefix, s scanner.Suffix, maxLen int, gap time.Duration) *scanner.Framer {
	t.Helper()
	f, err := scanner.NewFramer(p, s, maxLen, gap)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// describe renders frames as "text" or "!Kind" for comparisons.
func describe(fr []scanner.Frame) []string {
	var out []string
	for _, f := range fr {
		if f.Err != nil {
			out = append(out, "!"+f.Err.Kind.String())
		} else {
			out = append(out, f.Text)
		}
	}
	return out
}

func frame(p scanner.Prefix, s scanner.Suffix, code string) []byte {
	return append(append(append([]byte(nil), p.Bytes()...), code...), s.Bytes()...)
}

func TestFramerCombos(t *testing.T) {
	codes := []string{"CG1:PUPIL-20260001", "健康码:绿码 staff-0042", "访客 🚪 V7f3a", "a"}
	for _, p := range []scanner.Prefix{scanner.PrefixNone, scanner.PrefixSTX} {
		for _, s := range []scanner.Suffix{scanner.SuffixCR, scanner.SuffixLF, scanner.SuffixCRLF, scanner.SuffixETX} {
			var stream []byte
			for _, c := range codes {
				stream = append(stream, frame(p, s, c)...)
			}
			// Whole stream at once, and one byte per Feed (splits CRLF and UTF-8 sequences).
			for _, step := range []int{len(stream), 1, 2, 3} {
				f := mustFramer(t, p, s, 512, 200*time.Millisecond)
				var got []scanner.Frame
				for i := 0; i < len(stream); i += step {
					got = f.Feed(stream[i:min(i+step, len(stream))], t0, got)
				}
				if d := describe(got); strings.Join(d, "|") != strings.Join(codes, "|") {
					t.Errorf("%v/%v step %d: got %q", p, s, step, d)
				}
				if _, ok := f.Deadline(); ok {
					t.Errorf("%v/%v: partial frame left", p, s)
				}
			}
		}
	}
}

func TestFramerCRLFSplitAcrossReads(t *testing.T) {
	f := mustFramer(t, scanner.PrefixNone, scanner.SuffixCRLF, 512, time.Second)
	got := f.Feed([]byte("ABC\r"), t0, nil)
	if len(got) != 0 {
		t.Fatalf("frame before LF: %v", describe(got))
	}
	got = f.Feed([]byte("\nDEF\r"), t0.Add(time.Millisecond), got)
	got = f.Feed([]byte("\n"), t0.Add(2*time.Millisecond), got)
	if d := describe(got); len(d) != 2 || d[0] != "ABC" || d[1] != "DEF" {
		t.Fatalf("got %q", d)
	}
	// A lone CR is a control character inside the code.
	got = f.Feed([]byte("A\rB\r\n"), t0, nil)
	if d := describe(got); len(d) != 1 || d[0] != "!Garbage" {
		t.Fatalf("lone CR: %q", d)
	}
}

func TestFramerTolerantCRLF(t *testing.T) {
	// Scanner sends CRLF, driver configured for CR (or LF): still one clean code each.
	for _, s := range []scanner.Suffix{scanner.SuffixCR, scanner.SuffixLF} {
		f := mustFramer(t, scanner.PrefixNone, s, 512, time.Second)
		got := f.Feed([]byte("ONE\r\nTWO\r\n"), t0, nil)
		if d := describe(got); strings.Join(d, "|") != "ONE|TWO" {
			t.Errorf("%v: %q", s, d)
		}
	}
}

func TestFramerTooLongThenRecover(t *testing.T) {
	f := mustFramer(t, scanner.PrefixNone, scanner.SuffixCR, 8, time.Second)
	got := f.Feed([]byte("12345678\r123456789"), t0, nil)
	got = f.Feed([]byte(strings.Repeat("x", 1000)), t0, got)
	got = f.Feed([]byte("\rOK\r"), t0, got)
	if d := describe(got); strings.Join(d, "|") != "12345678|!TooLong|OK" {
		t.Fatalf("got %q", d)
	}
	fe := got[1].Err
	if fe.Len != 1009 || !errors.Is(fe, scanner.ErrTooLong) || !bytes.Equal(fe.Sample, []byte("12345678")) {
		t.Fatalf("FrameError = %+v", fe)
	}
}

func TestFramerIdleDrop(t *testing.T) {
	gap := 100 * time.Millisecond
	f := mustFramer(t, scanner.PrefixNone, scanner.SuffixCR, 512, gap)
	got := f.Feed([]byte("HALF"), t0, nil)
	dl, ok := f.Deadline()
	if !ok || !dl.Equal(t0.Add(gap)) {
		t.Fatalf("Deadline = %v, %t", dl, ok)
	}
	if got = f.Expire(t0.Add(gap-time.Millisecond), got); len(got) != 0 {
		t.Fatal("dropped before IdleGap")
	}
	got = f.Expire(t0.Add(gap), got)
	if d := describe(got); len(d) != 1 || d[0] != "!Incomplete" || got[0].Err.Len != 4 {
		t.Fatalf("got %q", d)
	}
	// Late bytes after a gap are not glued onto the old partial frame, even
	// without an Expire call in between.
	got = f.Feed([]byte("OLD"), t0, nil)
	got = f.Feed([]byte("NEW\r"), t0.Add(time.Second), got)
	if d := describe(got); strings.Join(d, "|") != "!Incomplete|NEW" {
		t.Fatalf("got %q", d)
	}
	// Bytes within the gap are joined.
	got = f.Feed([]byte("A"), t0, nil)
	got = f.Feed([]byte("B\r"), t0.Add(gap/2), got)
	if d := describe(got); strings.Join(d, "|") != "AB" {
		t.Fatalf("got %q", d)
	}
	// IdleGap 0: never expires.
	f0 := mustFramer(t, scanner.PrefixNone, scanner.SuffixCR, 512, 0)
	f0.Feed([]byte("X"), t0, nil)
	if _, ok := f0.Deadline(); ok {
		t.Fatal("Deadline with IdleGap 0")
	}
}

func TestFramerUTF8(t *testing.T) {
	f := mustFramer(t, scanner.PrefixNone, scanner.SuffixCR, 512, time.Second)
	zh := "学生证:王小明"
	b := []byte(zh + "\r")
	// Split inside a multi-byte character.
	got := f.Feed(b[:4], t0, nil)
	got = f.Feed(b[4:], t0, got)
	// GBK bytes of 健康 (a scanner left in GBK mode), truncated UTF-8, overlong encoding.
	got = f.Feed([]byte{0xbd, 0xa1, 0xbf, 0xb5, '\r', 0xe5, 0xad, '\r', 0xc0, 0xaf, '\r'}, t0, got)
	if d := describe(got); strings.Join(d, "|") != zh+"|!InvalidUTF8|!InvalidUTF8|!InvalidUTF8" {
		t.Fatalf("got %q", d)
	}
	if !errors.Is(got[1].Err, scanner.ErrInvalidUTF8) {
		t.Fatal("not ErrInvalidUTF8")
	}
}

func TestFramerGarbage(t *testing.T) {
	f := mustFramer(t, scanner.PrefixSTX, scanner.SuffixETX, 512, time.Second)
	got := f.Feed([]byte("noise\x02CODE\x03\x03\x02ONE\x02TWO\x03"), t0, nil)
	if d := describe(got); strings.Join(d, "|") != "!Garbage|CODE|!Incomplete|TWO" {
		t.Fatalf("got %q", d)
	}
	if string(got[0].Err.Sample) != "noise" || got[0].Err.Len != 5 {
		t.Fatalf("garbage error %+v", got[0].Err)
	}
	// Control characters inside a frame; GS1 separators are allowed.
	f2 := mustFramer(t, scanner.PrefixNone, scanner.SuffixCR, 512, time.Second)
	got = f2.Feed([]byte("A\x00B\r\x1d0101234567890128\x1d17260101\r"), t0, nil)
	if d := describe(got); strings.Join(d, "|") != "!Garbage|\x1d0101234567890128\x1d17260101" {
		t.Fatalf("got %q", d)
	}
	if msg := got[0].Err.Error(); !strings.Contains(msg, "garbage") {
		t.Fatalf("Error() = %q", msg)
	}
}

func TestNewFramerValidates(t *testing.T) {
	for _, c := range []struct {
		p   scanner.Prefix
		s   scanner.Suffix
		n   int
		gap time.Duration
	}{{0, scanner.SuffixCR, 1, 0}, {scanner.PrefixNone, 9, 1, 0}, {scanner.PrefixNone, scanner.SuffixCR, 0, 0}, {scanner.PrefixNone, scanner.SuffixCR, 1, -1}} {
		if _, err := scanner.NewFramer(c.p, c.s, c.n, c.gap); err == nil {
			t.Errorf("NewFramer(%+v) succeeded", c)
		}
	}
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte("CG1:PUPIL-20260001\r"), uint8(0), uint8(1))
	f.Add([]byte("\x02健康码\x03noise\x02x\x03"), uint8(7), uint8(3))
	f.Add([]byte("A\r\nB\rC\r\n\r\n"), uint8(2), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, mode, step uint8) {
		p := []scanner.Prefix{scanner.PrefixNone, scanner.PrefixSTX}[mode&1]
		s := []scanner.Suffix{scanner.SuffixCR, scanner.SuffixLF, scanner.SuffixCRLF, scanner.SuffixETX}[(mode>>1)&3]
		maxLen := 1 + int(mode>>3)
		whole := mustFramer(t, p, s, maxLen, time.Second)
		a := whole.Feed(data, t0, nil)
		a = whole.Reset(t0, a)
		n := int(step) + 1
		split := mustFramer(t, p, s, maxLen, time.Second)
		var b []scanner.Frame
		for i := 0; i < len(data); i += n {
			b = split.Feed(data[i:min(i+n, len(data))], t0, b)
		}
		b = split.Reset(t0, b)
		if da, db := describe(a), describe(b); strings.Join(da, "\x00") != strings.Join(db, "\x00") {
			t.Fatalf("split changes result: %q vs %q", da, db)
		}
		total := 0
		for _, fr := range a {
			if fr.Err != nil {
				if fr.Err.Len <= 0 || len(fr.Err.Sample) > 16 || !errors.Is(fr.Err, fr.Err.Kind.SentinelForTest()) {
					t.Fatalf("bad FrameError %+v", fr.Err)
				}
				total += fr.Err.Len
				continue
			}
			if fr.Text == "" || len(fr.Text) > maxLen || !utf8.ValidString(fr.Text) {
				t.Fatalf("bad text %q (max %d)", fr.Text, maxLen)
			}
			if strings.ContainsAny(fr.Text, "\r\n\x00\x02\x03") {
				t.Fatalf("terminator or control in text %q", fr.Text)
			}
			total += len(fr.Text)
		}
		if total > len(data) {
			t.Fatalf("accounted %d bytes of %d", total, len(data))
		}
	})
}
