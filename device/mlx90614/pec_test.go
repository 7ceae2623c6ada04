package mlx90614

import "testing"

// bitCRC is the CRC-8 (poly 0x07) the slow way, to check the table.
func bitCRC(data ...byte) byte {
	var c byte
	for _, b := range data {
		c ^= b
		for range 8 {
			if c&0x80 != 0 {
				c = c<<1 ^ 0x07
			} else {
				c <<= 1
			}
		}
	}
	return c
}

func TestCRCTable(t *testing.T) {
	for i := range 256 {
		if got, want := crcTable[i], bitCRC(byte(i)); got != want {
			t.Fatalf("crcTable[%#02x] = %#02x, want %#02x", i, got, want)
		}
	}
}

func TestPECVectors(t *testing.T) {
	// Datasheet, SMBus Read Word example: SA 0x5A, command 0x07 (Tobj1),
	// data 0x3AD2, PEC 0x30.
	if got := pecRead(0x5A, 0x07, 0xD2, 0x3A); got != 0x30 {
		t.Errorf("datasheet Read Word PEC = %#02x, want 0x30", got)
	}
	// A Ta read captured with a logic analyser from a real part (Alan Carvalho
	// de Assis's NuttX driver notes, Oct 2018): 0x5A, 0x06 -> DF 3A CF.
	if got := pecRead(0x5A, 0x06, 0xDF, 0x3A); got != 0xCF {
		t.Errorf("captured Ta PEC = %#02x, want 0xCF", got)
	}
	// Melexis application note "SMBus communication with MLX90614", erase of
	// cell 0x0E through address 0x00: 0x00, 0x2E, 0x00, 0x00, PEC 0x6F.
	if got := pecWrite(0x00, 0x2E, 0x00, 0x00); got != 0x6F {
		t.Errorf("application note Write Word PEC = %#02x, want 0x6F", got)
	}
	if got, want := pecWrite(0x5A, 0x24, 0xE0, 0xFA), bitCRC(0xB4, 0x24, 0xE0, 0xFA); got != want {
		t.Errorf("pecWrite = %#02x, want %#02x", got, want)
	}
}

func TestPECAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = pecRead(0x5A, 0x07, 0xD2, 0x3A) }); n != 0 {
		t.Errorf("pecRead allocates %v times", n)
	}
}

// BenchmarkPEC compares the table (ours) with the bit-by-bit CRC (baseline)
// over one Read Word frame.
func BenchmarkPEC(b *testing.B) {
	var sink byte
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			sink ^= pecRead(0x5A, 0x07, byte(i), 0x3A)
		}
	})
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			sink ^= bitCRC(0xB4, 0x07, 0xB5, byte(i), 0x3A)
		}
	})
	_ = sink
}
