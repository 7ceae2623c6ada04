package scanner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"campusgate/device/scanner"
)

const benchCode = "CG1:PUPIL-20260001;健康码=绿;ts=1767225600"

// BenchmarkFraming measures codes per second from a pty: ours through the real
// driver (framing, validation, channel hand-off), baseline as raw reads of the same
// bytes from the same kind of pty with no framing.
func BenchmarkFraming(b *testing.B) {
	frame := benchCode + "\r"
	b.Run("ours", func(b *testing.B) {
		v := newSim(b, scanner.PrefixNone, scanner.SuffixCR)
		o := testOpts()
		o.IdleGap = 0
		d := openDev(b, v.Path(), o)
		b.ReportAllocs()
		b.ResetTimer()
		go writeFrames(b, v.WriteRaw, frame, b.N)
		ctx := context.Background()
		for range b.N {
			c, err := d.Next(ctx)
			if err != nil || c.Text != benchCode {
				b.Fatalf("Next = %q, %v", c.Text, err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	})
	b.Run("baseline", func(b *testing.B) {
		v := newSim(b, scanner.PrefixNone, scanner.SuffixCR)
		p, err := serial.Open(v.Path(), &serial.Mode{BaudRate: 9600, DataBits: 8})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = p.Close() })
		b.ReportAllocs()
		b.ResetTimer()
		go writeFrames(b, v.WriteRaw, frame, b.N)
		buf := make([]byte, 4096)
		for want := len(frame) * b.N; want > 0; {
			n, err := p.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			want -= n
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	})
}

// writeFrames writes n frames in batches, as several scanners' worth of traffic.
func writeFrames(b *testing.B, write func([]byte) error, frame string, n int) {
	const batch = 32
	chunk := []byte(strings.Repeat(frame, batch))
	for n > 0 {
		k := min(n, batch)
		if err := write(chunk[:k*len(frame)]); err != nil {
			b.Error(err)
			return
		}
		n -= k
	}
}

// BenchmarkFramer is the pure state machine, no I/O.
func BenchmarkFramer(b *testing.B) {
	f, err := scanner.NewFramer(scanner.PrefixSTX, scanner.SuffixCRLF, 512, 200*time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	stream := []byte(strings.Repeat("\x02"+benchCode+"\r\n", 64))
	out := make([]scanner.Frame, 0, 64)
	now := time.Now()
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		out = f.Feed(stream, now, out[:0])
	}
	if len(out) != 64 {
		b.Fatalf("%d frames", len(out))
	}
}
