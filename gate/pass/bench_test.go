package pass

import (
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// BenchmarkVerify: a whole Verify (base45, zlib, COSE and CWT decoding,
// Ed25519, revocation lookup in a list of 10,000) against the bare Ed25519
// verification of the same Sig_structure, which no decoder can beat.
func BenchmarkVerify(b *testing.B) {
	k := newKit(b)
	for i := range 2 {
		other, _ := NewIssuer(testKey(fmt.Sprint("ring", i)), "")
		k.v.Keys.Add(other.KeyID(), other.Public())
	}
	for i := range 10000 {
		k.v.Revoked.Add(fmt.Sprintf("%016x", i), t0.Add(24*time.Hour))
	}
	k.v.Skew = time.Minute
	code := k.issue(b, testClaims())
	now := t0.Add(time.Hour)

	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.v.Verify(code, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	// cached: the same pass again, as every school day; only the claims'
	// times and the revocation list are checked.
	b.Run("cached", func(b *testing.B) {
		v := *k.v
		v.Cache = NewCache(4096)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(code, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		var m cose.Sign1Message
		if err := m.UnmarshalCBOR(unwrap(b, code)); err != nil {
			b.Fatal(err)
		}
		tbs := sigStructure(b, &m)
		pub := k.iss.Public()
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, tbs, m.Signature) {
				b.Fatal("bad signature")
			}
		}
	})
}

// sigStructure is the COSE Sig_structure the signature covers (RFC 9052 section 4.4).
func sigStructure(tb testing.TB, m *cose.Sign1Message) []byte {
	var protected []byte
	if err := cbor.Unmarshal(m.Headers.RawProtected, &protected); err != nil {
		tb.Fatal(err)
	}
	b, err := claimsEnc.Marshal([]any{"Signature1", protected, []byte{}, m.Payload})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
