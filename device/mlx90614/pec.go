package mlx90614

// The SMBus Packet Error Code is a CRC-8 with polynomial x⁸+x²+x+1 (0x07),
// initial value 0, no reflection, no final XOR, over every byte on the wire
// including the address bytes (address<<1 for the write phase, address<<1|1
// for the read phase of a Read Word).

// crcTable is filled at init rather than written out so that it cannot hold a
// typo; a test checks it against a bit-by-bit CRC for all 256 bytes.
var crcTable = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		for range 8 {
			if c&0x80 != 0 {
				c = c<<1 ^ 0x07
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// pecRead is the PEC of a Read Word frame: [a<<1, cmd, a<<1|1, lo, hi].
func pecRead(addr uint16, cmd, lo, hi byte) byte {
	a := byte(addr) << 1
	c := crcTable[a]
	c = crcTable[c^cmd]
	c = crcTable[c^(a|1)]
	c = crcTable[c^lo]
	return crcTable[c^hi]
}

// pecWrite is the PEC of a Write Word frame: [a<<1, cmd, lo, hi].
func pecWrite(addr uint16, cmd, lo, hi byte) byte {
	c := crcTable[byte(addr)<<1]
	c = crcTable[c^cmd]
	c = crcTable[c^lo]
	return crcTable[c^hi]
}
