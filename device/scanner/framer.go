package scanner

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

const (
	stx = 0x02
	etx = 0x03
	lf  = '\n'
	cr  = '\r'
)

// Sentinel errors wrapped by *FrameError; test with errors.Is.
var (
	ErrTooLong     = errors.New("frame too long")
	ErrInvalidUTF8 = errors.New("frame is not valid UTF-8")
	ErrIncomplete  = errors.New("incomplete frame")
	ErrGarbage     = errors.New("garbage on the line")
	// ErrClosed is returned by Next after Close.
	ErrClosed = errors.New("scanner: closed")
)

// FrameErrorKind says what was wrong with a frame.
type FrameErrorKind uint8

// Kinds of framing problems.
const (
	TooLong     FrameErrorKind = iota + 1 // longer than MaxLen; discarded up to the next terminator
	InvalidUTF8                           // terminated, but not UTF-8 (baud/parity mismatch, GBK-configured scanner)
	Incomplete                            // no terminator before IdleGap of silence, or the port went away mid-frame
	Garbage                               // bytes outside an STX frame, or control characters inside one
)

func (k FrameErrorKind) String() string {
	switch k {
	case TooLong:
		return "TooLong"
	case InvalidUTF8:
		return "InvalidUTF8"
	case Incomplete:
		return "Incomplete"
	case Garbage:
		return "Garbage"
	}
	return fmt.Sprintf("FrameErrorKind(%d)", uint8(k))
}

func (k FrameErrorKind) sentinel() error {
	switch k {
	case TooLong:
		return ErrTooLong
	case InvalidUTF8:
		return ErrInvalidUTF8
	case Incomplete:
		return ErrIncomplete
	case Garbage:
		return ErrGarbage
	}
	return nil
}

// FrameError reports one bad frame. It is not fatal: call Next again.
type FrameError struct {
	Kind   FrameErrorKind
	Len    int       // bytes dropped
	Sample []byte    // the first bytes of what was dropped, for logs
	Port   string    // device path, set by Dev and HID
	At     time.Time // when the problem was detected
}

const sampleLen = 16

func (e *FrameError) Error() string {
	where := "scanner: "
	if e.Port != "" {
		where += e.Port + ": "
	}
	return fmt.Sprintf("%s%v (%d bytes dropped, starting % x)", where, e.Kind.sentinel(), e.Len, e.Sample)
}

// Unwrap returns ErrTooLong, ErrInvalidUTF8, ErrIncomplete or ErrGarbage.
func (e *FrameError) Unwrap() error { return e.Kind.sentinel() }

// Frame is one result of the Framer: either Text or Err is set.
type Frame struct {
	Text string
	Err  *FrameError
	At   time.Time
}

// Framer splits a byte stream into codes. It is a pure state machine: it does no
// I/O and reads no clock, the caller passes the arrival time with every chunk. It is
// not safe for concurrent use.
type Framer struct {
	prefix  Prefix
	suffix  Suffix
	maxLen  int
	idleGap time.Duration

	buf      []byte
	inFrame  bool // always true with PrefixNone; after STX with PrefixSTX
	overflow int  // >0: discarding an over-long frame, counts all its bytes
	garbage  int  // bytes seen outside an STX frame
	sample   [sampleLen]byte
	nsample  int
	pendCR   bool // SuffixCRLF: a CR arrived, waiting for LF
	last     time.Time
}

// NewFramer returns a Framer. idleGap 0 disables dropping partial frames on silence.
func NewFramer(p Prefix, s Suffix, maxLen int, idleGap time.Duration) (*Framer, error) {
	if err := validateFraming(p, s, maxLen, idleGap); err != nil {
		return nil, err
	}
	f := &Framer{prefix: p, suffix: s, maxLen: maxLen, idleGap: idleGap, buf: make([]byte, 0, min(maxLen, 4096))}
	f.inFrame = p == PrefixNone
	return f, nil
}

// pending reports whether a partial frame (or garbage) is buffered.
func (f *Framer) pending() bool {
	return len(f.buf) > 0 || f.overflow > 0 || f.garbage > 0 || f.pendCR || (f.prefix == PrefixSTX && f.inFrame)
}

// Deadline is when the buffered partial frame expires, if there is one.
func (f *Framer) Deadline() (time.Time, bool) {
	if f.idleGap == 0 || !f.pending() {
		return time.Time{}, false
	}
	return f.last.Add(f.idleGap), true
}

// Expire drops a partial frame if IdleGap has passed since its last byte.
func (f *Framer) Expire(now time.Time, out []Frame) []Frame {
	if f.idleGap > 0 && f.pending() && now.Sub(f.last) >= f.idleGap {
		return f.Reset(now, out)
	}
	return out
}

// Reset drops any partial frame, reporting it as Incomplete (or Garbage).
func (f *Framer) Reset(now time.Time, out []Frame) []Frame {
	switch {
	case f.garbage > 0:
		out = f.fail(out, Garbage, f.garbage, now)
	case f.overflow > 0:
		out = f.fail(out, TooLong, f.overflow, now)
	case len(f.buf) > 0 || f.pendCR:
		n := len(f.buf)
		if f.pendCR {
			n++
		}
		f.note(f.buf)
		out = f.fail(out, Incomplete, n, now)
	case f.prefix == PrefixSTX && f.inFrame:
		out = f.fail(out, Incomplete, 1, now) // a lone STX
	}
	f.clear()
	return out
}

func (f *Framer) clear() {
	f.buf = f.buf[:0]
	f.overflow = 0
	f.garbage = 0
	f.nsample = 0
	f.pendCR = false
	f.inFrame = f.prefix == PrefixNone
}

// note records the start of dropped bytes for FrameError.Sample.
func (f *Framer) note(p []byte) {
	f.nsample += copy(f.sample[f.nsample:], p)
}

func (f *Framer) fail(out []Frame, k FrameErrorKind, n int, now time.Time) []Frame {
	s := make([]byte, f.nsample)
	copy(s, f.sample[:f.nsample])
	f.nsample = 0
	return append(out, Frame{Err: &FrameError{Kind: k, Len: n, Sample: s, At: now}, At: now})
}

// Feed consumes bytes that arrived at now and appends finished frames to out.
func (f *Framer) Feed(p []byte, now time.Time, out []Frame) []Frame {
	if len(p) == 0 {
		return out
	}
	out = f.Expire(now, out)
	f.last = now
	for i := 0; i < len(p); i++ {
		c := p[i]
		if f.suffix == SuffixCRLF {
			if f.pendCR {
				f.pendCR = false
				if c == lf {
					out = f.end(out, now)
					continue
				}
				// A lone CR is data (and will make the frame Garbage, being a control character).
				out = f.data(out, cr, now)
			}
			if c == cr {
				f.pendCR = true
				continue
			}
		} else if f.isTerm(c) {
			out = f.end(out, now)
			continue
		}
		out = f.data(out, c, now)
	}
	return out
}

func (f *Framer) isTerm(c byte) bool {
	switch f.suffix {
	case SuffixCR:
		return c == cr
	case SuffixLF:
		return c == lf
	case SuffixETX:
		return c == etx
	}
	return false
}

func (f *Framer) data(out []Frame, c byte, now time.Time) []Frame {
	if f.prefix == PrefixSTX {
		if c == stx {
			if f.garbage > 0 {
				out = f.fail(out, Garbage, f.garbage, now)
				f.garbage = 0
			} else if f.inFrame && (len(f.buf) > 0 || f.overflow > 0) {
				// A new frame started before this one ended: its terminator was lost.
				n := max(len(f.buf), f.overflow)
				f.note(f.buf)
				out = f.fail(out, Incomplete, n, now)
			}
			f.buf = f.buf[:0]
			f.overflow = 0
			f.nsample = 0
			f.inFrame = true
			return out
		}
		if !f.inFrame {
			if f.garbage < sampleLen {
				f.note([]byte{c})
			}
			f.garbage++
			return out
		}
	} else if len(f.buf) == 0 && f.overflow == 0 && (c == cr || c == lf) {
		// The other half of a CR/LF pair when the scanner sends CRLF but the suffix
		// is configured as CR or LF: never part of a code.
		return out
	}
	switch {
	case f.overflow > 0:
		f.overflow++
	case len(f.buf) >= f.maxLen:
		f.note(f.buf)
		f.overflow = len(f.buf) + 1
		f.buf = f.buf[:0]
	default:
		f.buf = append(f.buf, c)
	}
	return out
}

func (f *Framer) end(out []Frame, now time.Time) []Frame {
	defer f.clear()
	if f.prefix == PrefixSTX && !f.inFrame {
		if f.garbage > 0 {
			out = f.fail(out, Garbage, f.garbage, now)
		}
		return out
	}
	if f.overflow > 0 {
		return f.fail(out, TooLong, f.overflow, now)
	}
	b := f.buf
	if f.suffix == SuffixLF && len(b) > 0 && b[len(b)-1] == cr {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return out
	}
	if !utf8.Valid(b) {
		f.note(b)
		return f.fail(out, InvalidUTF8, len(b), now)
	}
	for _, c := range b {
		if !allowedByte(c) {
			f.note(b)
			return f.fail(out, Garbage, len(b), now)
		}
	}
	return append(out, Frame{Text: string(b), At: now})
}

// allowedByte rejects C0 controls and DEL, except those that real symbologies
// carry: TAB, EOT and FS/GS/RS/US (GS1 FNC1 separator, ISO/IEC 15434 envelopes).
func allowedByte(c byte) bool {
	switch {
	case c >= 0x20 && c != 0x7f:
		return true
	case c == '\t', c == 0x04, c >= 0x1c && c <= 0x1f:
		return true
	}
	return false
}
