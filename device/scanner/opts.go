package scanner

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.bug.st/serial"
)

// Prefix is the byte a scanner sends before each code, if any.
type Prefix uint8

// Prefixes a serial scanner can be configured to send.
const (
	PrefixNone Prefix = iota + 1 // no start byte: a frame starts at the first byte after the previous terminator
	PrefixSTX                    // STX (0x02) starts every frame
)

func (p Prefix) String() string {
	switch p {
	case PrefixNone:
		return "none"
	case PrefixSTX:
		return "STX"
	}
	return fmt.Sprintf("Prefix(%d)", uint8(p))
}

func (p Prefix) valid() bool { return p == PrefixNone || p == PrefixSTX }

// Suffix is the terminator a scanner sends after each code.
type Suffix uint8

// Suffixes a serial scanner can be configured to send.
const (
	SuffixCR   Suffix = iota + 1 // '\r' (0x0D), the factory default of most scanners
	SuffixLF                     // '\n' (0x0A)
	SuffixCRLF                   // "\r\n"
	SuffixETX                    // ETX (0x03), usually paired with PrefixSTX
)

func (s Suffix) String() string {
	switch s {
	case SuffixCR:
		return "CR"
	case SuffixLF:
		return "LF"
	case SuffixCRLF:
		return "CRLF"
	case SuffixETX:
		return "ETX"
	}
	return fmt.Sprintf("Suffix(%d)", uint8(s))
}

// Bytes is the terminator as sent on the wire.
func (s Suffix) Bytes() []byte {
	switch s {
	case SuffixCR:
		return []byte{cr}
	case SuffixLF:
		return []byte{lf}
	case SuffixCRLF:
		return []byte{cr, lf}
	case SuffixETX:
		return []byte{etx}
	}
	return nil
}

// Bytes is the start byte as sent on the wire (none for PrefixNone).
func (p Prefix) Bytes() []byte {
	if p == PrefixSTX {
		return []byte{stx}
	}
	return nil
}

func (s Suffix) valid() bool { return s >= SuffixCR && s <= SuffixETX }

// ParseSuffix parses "cr", "lf", "crlf" or "etx" (any case).
func ParseSuffix(v string) (Suffix, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "cr":
		return SuffixCR, nil
	case "lf":
		return SuffixLF, nil
	case "crlf":
		return SuffixCRLF, nil
	case "etx":
		return SuffixETX, nil
	}
	return 0, fmt.Errorf("scanner: unknown suffix %q (cr, lf, crlf or etx)", v)
}

// ParsePrefix parses "none" (or "") and "stx" (any case).
func ParsePrefix(v string) (Prefix, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "none", "":
		return PrefixNone, nil
	case "stx":
		return PrefixSTX, nil
	}
	return 0, fmt.Errorf("scanner: unknown prefix %q (none or stx)", v)
}

// Opts configures a serial scanner. Start from DefaultOpts.
type Opts struct {
	Baud     int             // line speed; scanners ship at 9600 or 115200
	DataBits int             // 5 to 8
	Parity   serial.Parity   // serial.NoParity ... serial.SpaceParity
	StopBits serial.StopBits // serial.OneStopBit or serial.TwoStopBits (Linux has no 1.5)
	Prefix   Prefix
	Suffix   Suffix
	// MaxLen is the longest code in bytes (without prefix and suffix). Longer input is
	// discarded up to the next terminator and reported as a *FrameError of kind TooLong.
	MaxLen int
	// IdleGap drops a partial frame after this much silence (kind Incomplete). A scanner
	// sends a whole code in one burst, so a long gap means a lost terminator. 0 disables it.
	IdleGap time.Duration
	// ReopenMin and ReopenMax bound the jittered exponential backoff used to reopen a port
	// that went away (USB unplug). 0 means 100ms and 5s.
	ReopenMin, ReopenMax time.Duration
	Logger               *slog.Logger // nil: slog.Default()
}

// DefaultOpts is 9600 8N1, no prefix, CR suffix: the factory setting of most
// serial/USB-CDC QR scanners.
var DefaultOpts = Opts{
	Baud:      9600,
	DataBits:  8,
	Parity:    serial.NoParity,
	StopBits:  serial.OneStopBit,
	Prefix:    PrefixNone,
	Suffix:    SuffixCR,
	MaxLen:    512,
	IdleGap:   200 * time.Millisecond,
	ReopenMin: 100 * time.Millisecond,
	ReopenMax: 5 * time.Second,
}

// maxMaxLen keeps a misconfigured MaxLen from turning into a huge allocation.
const maxMaxLen = 1 << 20

func validateFraming(p Prefix, s Suffix, maxLen int, idleGap time.Duration) error {
	switch {
	case !p.valid():
		return fmt.Errorf("scanner: invalid prefix %v (PrefixNone or PrefixSTX)", p)
	case !s.valid():
		return fmt.Errorf("scanner: invalid suffix %v (SuffixCR, SuffixLF, SuffixCRLF or SuffixETX)", s)
	case maxLen < 1 || maxLen > maxMaxLen:
		return fmt.Errorf("scanner: MaxLen %d out of range 1..%d", maxLen, maxMaxLen)
	case idleGap < 0:
		return fmt.Errorf("scanner: negative IdleGap %v", idleGap)
	}
	return nil
}

func validateReopen(lo, hi time.Duration) (time.Duration, time.Duration, error) {
	if lo == 0 {
		lo = DefaultOpts.ReopenMin
	}
	if hi == 0 {
		hi = max(DefaultOpts.ReopenMax, lo)
	}
	if lo < 0 || hi < lo {
		return 0, 0, fmt.Errorf("scanner: bad reopen backoff %v..%v (need 0 < ReopenMin <= ReopenMax)", lo, hi)
	}
	return lo, hi, nil
}

func (o *Opts) validate() error {
	switch {
	case o.Baud <= 0:
		return fmt.Errorf("scanner: invalid Baud %d", o.Baud)
	case o.DataBits < 5 || o.DataBits > 8:
		return fmt.Errorf("scanner: invalid DataBits %d (5 to 8)", o.DataBits)
	case o.Parity < serial.NoParity || o.Parity > serial.SpaceParity:
		return fmt.Errorf("scanner: invalid Parity %d", o.Parity)
	case o.StopBits != serial.OneStopBit && o.StopBits != serial.TwoStopBits:
		return fmt.Errorf("scanner: invalid StopBits %d (OneStopBit or TwoStopBits)", o.StopBits)
	}
	if err := validateFraming(o.Prefix, o.Suffix, o.MaxLen, o.IdleGap); err != nil {
		return err
	}
	_, _, err := validateReopen(o.ReopenMin, o.ReopenMax)
	return err
}
