package pass

import "fmt"

// Base45 (RFC 9285), written here because no base45 module could be had from
// the Go module proxy that this project uses, and the one that could
// (dromara/dongle v1.0.1) drops a character when the last two bytes are below
// 2025 and panics on empty input.

const b45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// b45Value maps a character to its value, or 0xff if it is not in the alphabet.
var b45Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(b45Alphabet); i++ {
		t[b45Alphabet[i]] = byte(i)
	}
	return t
}()

// b45Append appends the base45 encoding of src to dst: two bytes become three
// characters, least significant first; an odd last byte becomes two.
func b45Append(dst, src []byte) []byte {
	for len(src) >= 2 {
		n := uint(src[0])<<8 | uint(src[1])
		dst = append(dst, b45Alphabet[n%45], b45Alphabet[n/45%45], b45Alphabet[n/(45*45)])
		src = src[2:]
	}
	if len(src) == 1 {
		n := uint(src[0])
		dst = append(dst, b45Alphabet[n%45], b45Alphabet[n/45])
	}
	return dst
}

// b45Decode decodes s. It refuses characters outside the alphabet, a length of
// 3k+1, a triple above 65535 and a final pair above 255, so that every byte
// string has exactly one encoding.
func b45Decode(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, fmt.Errorf("base45: length %d is not 3k or 3k+2", len(s))
	}
	dst := make([]byte, 0, len(s)/3*2+len(s)%3/2)
	for i := 0; i < len(s); i += 3 {
		var v [3]uint
		k := min(3, len(s)-i)
		for j := 0; j < k; j++ {
			x := b45Value[s[i+j]]
			if x == 0xff {
				return nil, fmt.Errorf("base45: character %q at offset %d is not in the alphabet", s[i+j], i+j)
			}
			v[j] = uint(x)
		}
		n := v[0] + v[1]*45 + v[2]*45*45
		if k == 3 {
			if n > 0xffff {
				return nil, fmt.Errorf("base45: %q at offset %d is %d, above 65535", s[i:i+3], i, n)
			}
			dst = append(dst, byte(n>>8), byte(n))
		} else {
			if n > 0xff {
				return nil, fmt.Errorf("base45: final %q at offset %d is %d, above 255", s[i:i+2], i, n)
			}
			dst = append(dst, byte(n))
		}
	}
	return dst, nil
}
