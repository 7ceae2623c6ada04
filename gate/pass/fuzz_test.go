package pass

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/veraison/go-cose"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/FuzzVerify from the test key")

// fuzzNow is inside testClaims' validity.
var fuzzNow = t0.Add(time.Hour)

// fuzzKit is the verifier FuzzVerify uses: key "A" trusted, "revoked-pass" revoked.
func fuzzKit(tb testing.TB) *kit {
	k := newKit(tb)
	k.v.Skew = time.Minute
	k.v.Revoked.Add("revoked-pass", time.Time{})
	return k
}

// fuzzSeeds are (input, wrap) pairs: with wrap the input is a COSE_Sign1 that
// the target puts into the envelope, so mutations reach the COSE and CWT
// decoders instead of dying on the zlib checksum.
type fuzzSeed struct {
	data []byte
	wrap bool
	want Reason // "" = accepted
}

func fuzzSeeds(tb testing.TB) map[string]fuzzSeed {
	k := fuzzKit(tb)
	kid := k.iss.KeyID()
	c := testClaims()
	good := k.issue(tb, c)
	revoked := c
	revoked.PassID = "revoked-pass"
	future := c
	future.NotBefore, future.Expiry = t0.Add(48*time.Hour), t0.Add(72*time.Hour)
	other, _ := NewIssuer(testKey("B"), "")
	unknown, _ := other.Issue(c)
	raw := unwrap(tb, good)
	tampered := bytes.Clone(raw)
	tampered[len(tampered)-5] ^= 1
	// ES256 signatures are randomised, so this seed differs at each -write-seeds.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es256, _ := cose.NewSigner(cose.AlgorithmES256, ec)
	var zeros bytes.Buffer
	zw := zlib.NewWriter(&zeros)
	zw.Write(make([]byte, 1<<20))
	zw.Close()

	return map[string]fuzzSeed{
		"valid":         {[]byte(good), false, ""},
		"expired":       {[]byte(k.issue(tb, Claims{Subject: "P1", Role: RoleVisitor, Health: HealthRed, IssuedAt: t0.Add(-48 * time.Hour), Expiry: t0.Add(-24 * time.Hour), PassID: "old"})), false, ReasonExpired},
		"revoked":       {[]byte(k.issue(tb, revoked)), false, ReasonRevoked},
		"not_yet_valid": {[]byte(k.issue(tb, future)), false, ReasonNotYetValid},
		"unknown_key":   {[]byte(unknown), false, ReasonUnknownKey},
		"chinese":       {[]byte(k.issue(tb, Claims{Issuer: "北京市第一实验小学", Subject: "张伟", Role: RoleParent, Health: HealthYellow, IssuedAt: t0, Expiry: t0.Add(time.Hour * 8), PassID: "p-1"})), false, ""},
		"prefix_only":   {[]byte(Prefix), false, ReasonMalformed},
		"b45_overflow":  {[]byte(Prefix + "GGW"), false, ReasonMalformed},
		"zlib_bomb":     {b45Append([]byte(Prefix), zeros.Bytes()), false, ReasonMalformed},
		"cose_valid":    {raw, true, ""},
		"cose_tampered": {tampered, true, ReasonBadSignature},
		"cose_untagged": {raw[1:], true, ReasonMalformed},
		"cose_es256":    {sign(tb, es256, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelKeyID: []byte(kid)}, []byte{0xa0}), true, ReasonMalformed},
		"cose_junk":     {sign(tb, edSigner(tb, k.key), edHeader(kid), []byte{0xa1, 0x04, 0xfb, 0x41, 0xd6, 0x5a, 0x0b, 0xc0, 0, 0, 0}), true, ReasonMalformed},
		"cose_claims":   {sign(tb, edSigner(tb, k.key), edHeader(kid), claimsCBOR(tb, validClaimsMap())), true, ""},
	}
}

// TestWriteFuzzSeeds rewrites the seed corpus: go test -run TestWriteFuzzSeeds -write-seeds
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("-write-seeds not given")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range fuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(%v)\n", s.data, s.wrap)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFuzzSeeds checks that the corpus on disk is the one fuzzSeeds makes and
// still reaches the reasons it is named after.
func TestFuzzSeeds(t *testing.T) {
	k := fuzzKit(t)
	for name, s := range fuzzSeeds(t) {
		body, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerify", name))
		if err != nil {
			t.Fatalf("%v (go test -run TestWriteFuzzSeeds -write-seeds)", err)
		}
		if name != "cose_es256" && !bytes.Contains(body, []byte(fmt.Sprintf("%q", s.data))) {
			t.Errorf("seed %s is stale (go test -run TestWriteFuzzSeeds -write-seeds)", name)
		}
		code := string(s.data)
		if s.wrap {
			code = wrap(s.data)
		}
		if _, err = k.v.Verify(code, fuzzNow); ReasonOf(err) != s.want || (err == nil) != (s.want == "") {
			t.Errorf("seed %s: %v, want %q", name, err, s.want)
		}
	}
}

var passReasons = map[Reason]bool{
	ReasonMalformed: true, ReasonUnknownKey: true, ReasonBadSignature: true,
	ReasonNotYetValid: true, ReasonExpired: true, ReasonRevoked: true,
}

// FuzzVerify: Verify never panics, every refusal is an *Error with a pass
// reason and a cause, and every acceptance is a sound claims set.
func FuzzVerify(f *testing.F) {
	k := fuzzKit(f)
	kid := k.iss.KeyID()
	for _, s := range fuzzSeeds(f) {
		f.Add(s.data, s.wrap)
	}
	f.Fuzz(func(t *testing.T, data []byte, wrapIt bool) {
		code := string(data)
		if wrapIt {
			code = wrap(data)
		}
		c, err := k.v.Verify(code, fuzzNow)
		if err == nil {
			if c.Subject == "" || !c.Role.Valid() || !c.Health.Valid() || c.PassID == "" || c.KeyID != kid ||
				fuzzNow.Before(c.NotBefore.Add(-k.v.Skew)) || !fuzzNow.Before(c.Expiry.Add(k.v.Skew)) || c.PassID == "revoked-pass" {
				t.Fatalf("accepted unsound claims %+v", c)
			}
			return
		}
		var pe *Error
		if !errors.As(err, &pe) || !passReasons[pe.Reason] || pe.Err == nil {
			t.Fatalf("refusal without a pass reason: %#v", err)
		}
		signed := pe.Reason == ReasonExpired || pe.Reason == ReasonRevoked || pe.Reason == ReasonNotYetValid
		if signed != (c != Claims{}) {
			t.Fatalf("%s with claims %+v", pe.Reason, c)
		}
	})
}

// FuzzBase45: decode accepts only canonical text, and encode inverts it.
func FuzzBase45(f *testing.F) {
	for _, tc := range rfc9285 {
		f.Add(tc.enc)
	}
	f.Add("GGW")
	f.Add("::")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := b45Decode(s)
		if err != nil {
			return
		}
		if enc := string(b45Append(nil, b)); enc != s {
			t.Fatalf("decode(%q) = %x encodes to %q", s, b, enc)
		}
	})
}
