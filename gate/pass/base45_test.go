package pass

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// The examples of RFC 9285 sections 4.3 and 4.4.
var rfc9285 = []struct{ plain, enc string }{
	{"AB", "BB8"},
	{"Hello!!", "%69 VD92EX0"},
	{"base-45", "UJCLQE7W581"},
	{"ietf!", "QED8WEX0"},
}

func TestBase45RFC9285(t *testing.T) {
	for _, tc := range rfc9285 {
		if got := string(b45Append(nil, []byte(tc.plain))); got != tc.enc {
			t.Errorf("encode %q = %q, want %q", tc.plain, got, tc.enc)
		}
		got, err := b45Decode(tc.enc)
		if err != nil || string(got) != tc.plain {
			t.Errorf("decode %q = %q, %v; want %q", tc.enc, got, err, tc.plain)
		}
	}
}

func TestBase45Edges(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte{0}, "00"},
		{[]byte{0xff}, "U5"},        // 255 = 30 + 5*45
		{[]byte{0, 0}, "000"},       // a leading zero pair keeps all three characters
		{[]byte{0x00, 0x10}, "G00"}, // below 45*45: third character is '0', not dropped
		{[]byte{0xff, 0xff}, "FGW"}, // 65535 = 15 + 16*45 + 32*2025
		{[]byte{1, 2, 3}, "X5030"},  // 258 = 33 + 5*45; 3 = 3 + 0*45
		{[]byte("\x00\x00\x00"), "00000"},
	} {
		if got := string(b45Append(nil, tc.in)); got != tc.want {
			t.Errorf("encode %x = %q, want %q", tc.in, got, tc.want)
		}
		got, err := b45Decode(tc.want)
		if err != nil || !bytes.Equal(got, tc.in) {
			t.Errorf("decode %q = %x, %v; want %x", tc.want, got, err, tc.in)
		}
	}
}

func TestBase45Refuses(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"A", "length 1"},
		{"BB8B", "length 4"},
		{"GGW", "above 65535"}, // 16 + 16*45 + 32*2025 = 65536
		{":::", "above 65535"},
		{"BB8:::", "offset 3"},
		{"BB8::", "above 255"}, // 44 + 44*45
		{"V5", "above 255"},    // 256
		{"bb8", "not in the alphabet"},
		{"BB\n", "not in the alphabet"},
		{"BB\xff", "not in the alphabet"},
	} {
		_, err := b45Decode(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("decode %q: err %v, want one containing %q", tc.in, err, tc.err)
		}
	}
}

func TestBase45RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		in := make([]byte, n%67)
		for i := range in {
			in[i] = byte(r.UintN(256))
		}
		enc := b45Append(nil, in)
		if want := len(in)/2*3 + len(in)%2*2; len(enc) != want {
			t.Fatalf("encode %x: %d characters, want %d", in, len(enc), want)
		}
		out, err := b45Decode(string(enc))
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip %x: %x, %v", in, out, err)
		}
	}
}
