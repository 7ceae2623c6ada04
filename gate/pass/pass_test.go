package pass

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// testKey returns a fixed Ed25519 key, so codes are reproducible.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("campusgate pass test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

var t0 = time.Date(2025, 3, 3, 7, 30, 0, 0, time.UTC)

func testClaims() Claims {
	return Claims{
		Issuer:    "school-0101",
		Subject:   "P20250017",
		Role:      RolePupil,
		Health:    HealthGreen,
		IssuedAt:  t0,
		NotBefore: t0,
		Expiry:    t0.Add(24 * time.Hour),
		PassID:    "a1b2c3d4e5f60718",
	}
}

type kit struct {
	iss *Issuer
	key ed25519.PrivateKey
	v   *Verifier
}

func newKit(t testing.TB) *kit {
	t.Helper()
	key := testKey("A")
	iss, err := NewIssuer(key, "")
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Keys: &Keyring{}, Revoked: &Revocations{}}
	if err := v.Keys.Add(iss.KeyID(), iss.Public()); err != nil {
		t.Fatal(err)
	}
	return &kit{iss: iss, key: key, v: v}
}

func (k *kit) issue(t testing.TB, c Claims) string {
	t.Helper()
	code, err := k.iss.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// wrap puts raw bytes into the envelope as Issue does.
func wrap(raw []byte) string {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw)
	zw.Close()
	return string(b45Append([]byte(Prefix), z.Bytes()))
}

// unwrap takes the COSE_Sign1 out of a code.
func unwrap(t testing.TB, code string) []byte {
	t.Helper()
	z, err := b45Decode(strings.TrimPrefix(code, Prefix))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := inflate(z)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// sign builds a COSE_Sign1 over any payload and protected header with signer.
func sign(t testing.TB, signer cose.Signer, protected cose.ProtectedHeader, payload []byte) []byte {
	t.Helper()
	msg := cose.Sign1Message{Headers: cose.Headers{Protected: protected, Unprotected: cose.UnprotectedHeader{}}, Payload: payload}
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		t.Fatal(err)
	}
	raw, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func edSigner(t testing.TB, key ed25519.PrivateKey) cose.Signer {
	s, err := cose.NewSigner(cose.AlgorithmEdDSA, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func edHeader(kid string) cose.ProtectedHeader {
	return cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA, cose.HeaderLabelKeyID: []byte(kid)}
}

func claimsCBOR(t testing.TB, m map[any]any) []byte {
	b, err := claimsEnc.Marshal(m) // sorted, so seeds are reproducible
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func validClaimsMap() map[any]any {
	return map[any]any{
		1: "school-0101", 2: "P1", 4: t0.Add(time.Hour).Unix(), 5: t0.Unix(), 6: t0.Unix(),
		7: []byte("id1"), -65537: "staff", -65538: "yellow",
	}
}

// wantReason checks that err is an *Error with reason r and a cause.
func wantReason(t *testing.T, err error, r Reason) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *Error with reason %s", err, err, r)
	}
	if pe.Reason != r || !errors.Is(err, r) {
		t.Fatalf("reason = %s (%v), want %s", pe.Reason, err, r)
	}
	if pe.Err == nil || !strings.Contains(err.Error(), pe.Err.Error()) || !strings.HasPrefix(err.Error(), "pass: "+string(r)+": ") {
		t.Fatalf("Error() = %q does not name reason and cause", err)
	}
	if ReasonOf(fmt.Errorf("gate: %w", err)) != r {
		t.Fatalf("ReasonOf(wrapped) = %q, want %s", ReasonOf(err), r)
	}
}

func TestRoundTrip(t *testing.T) {
	k := newKit(t)
	want := testClaims()
	code := k.issue(t, want)
	if !strings.HasPrefix(code, Prefix) {
		t.Fatalf("code %q lacks prefix", code)
	}
	for i, c := range code[len(Prefix):] {
		if !strings.ContainsRune(b45Alphabet, c) {
			t.Fatalf("character %q at %d is not QR alphanumeric", c, i)
		}
	}
	got, err := k.v.Verify(code, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want.KeyID = k.iss.KeyID()
	if got != want {
		t.Fatalf("claims\n got %+v\nwant %+v", got, want)
	}
	// Ed25519, zlib and deterministic CBOR: the same claims give the same code.
	if again := k.issue(t, testClaims()); again != code {
		t.Fatalf("issue is not deterministic:\n%s\n%s", code, again)
	}
	t.Logf("%d characters: %s", len(code), code)
}

func TestChineseIssuer(t *testing.T) {
	k := newKit(t)
	c := testClaims()
	c.Issuer = "北京市第一实验小学"
	c.Subject = "学生-张伟-0017"
	got, err := k.v.Verify(k.issue(t, c), t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Issuer != c.Issuer || got.Subject != c.Subject {
		t.Fatalf("got issuer %q subject %q", got.Issuer, got.Subject)
	}
}

func TestIssueDefaults(t *testing.T) {
	k := newKit(t)
	before := time.Now().Truncate(time.Second)
	code := k.issue(t, Claims{Subject: "S1", Role: RoleStaff, Health: HealthYellow, Expiry: time.Now().Add(time.Hour)})
	got, err := k.v.Verify(code, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.IssuedAt.Before(before) || got.NotBefore != got.IssuedAt || got.Issuer != "" {
		t.Fatalf("defaults: %+v", got)
	}
	if err := ValidPassID(got.PassID); err != nil || len(got.PassID) != 16 {
		t.Fatalf("generated pass id %q: %v", got.PassID, err)
	}
}

func TestIssueRefuses(t *testing.T) {
	k := newKit(t)
	for name, tc := range map[string]struct {
		mod func(*Claims)
		err string
	}{
		"no subject":      {func(c *Claims) { c.Subject = "" }, "subject"},
		"long subject":    {func(c *Claims) { c.Subject = strings.Repeat("x", 129) }, "at most 128"},
		"bad utf8":        {func(c *Claims) { c.Issuer = "\xff" }, "UTF-8"},
		"role":            {func(c *Claims) { c.Role = "admin" }, "role"},
		"health":          {func(c *Claims) { c.Health = "" }, "health"},
		"no expiry":       {func(c *Claims) { c.Expiry = time.Time{} }, "expiry"},
		"expiry first":    {func(c *Claims) { c.Expiry = c.NotBefore }, "not after nbf"},
		"sub-second span": {func(c *Claims) { c.Expiry = c.NotBefore.Add(time.Second / 2) }, "not after nbf"},
		"pass id":         {func(c *Claims) { c.PassID = "a b" }, "pass id"},
		"before 1970":     {func(c *Claims) { c.NotBefore = time.Unix(-5, 0) }, "out of range"},
	} {
		t.Run(name, func(t *testing.T) {
			c := testClaims()
			tc.mod(&c)
			_, err := k.iss.Issue(c)
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "pass: issue: ") {
				t.Fatalf("err = %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestNewIssuer(t *testing.T) {
	if _, err := NewIssuer(ed25519.PrivateKey{1, 2}, ""); err == nil {
		t.Error("short key accepted")
	}
	bad := bytes.Clone(testKey("A"))
	bad[40] ^= 1 // public half
	if _, err := NewIssuer(bad, ""); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("inconsistent key: %v", err)
	}
	if _, err := NewIssuer(testKey("A"), "bad kid"); err == nil {
		t.Error("kid with a space accepted")
	}
	is, err := NewIssuer(testKey("A"), "school-2025-a")
	if err != nil || is.KeyID() != "school-2025-a" {
		t.Fatalf("given kid: %v %v", is, err)
	}
	if KeyID(is.Public()) != KeyID(testKey("A").Public().(ed25519.PublicKey)) || len(KeyID(is.Public())) != 16 {
		t.Error("KeyID")
	}
}

func TestRefusals(t *testing.T) {
	k := newKit(t)
	kid := k.iss.KeyID()
	good := k.issue(t, testClaims())
	raw := unwrap(t, good)
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(raw); err != nil {
		t.Fatal(err)
	}
	remarshal := func(f func(m *cose.Sign1Message)) string {
		var m cose.Sign1Message
		if err := m.UnmarshalCBOR(raw); err != nil {
			t.Fatal(err)
		}
		f(&m)
		b, err := m.MarshalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		return wrap(b)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw)
	zw.Close()
	zb := z.Bytes()
	badSum := bytes.Clone(zb)
	badSum[len(badSum)-1] ^= 1
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es256, _ := cose.NewSigner(cose.AlgorithmES256, ecKey)
	otherKey := testKey("B")
	untagged := bytes.Clone(raw[1:]) // drop tag 18
	bomb := func() string {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(make([]byte, 1<<20))
		zw.Close()
		return string(b45Append([]byte(Prefix), z.Bytes()))
	}()

	for name, tc := range map[string]struct {
		code string
		want Reason
		msg  string
	}{
		"empty":              {"", ReasonMalformed, "does not start with"},
		"no prefix":          {good[len(Prefix):], ReasonMalformed, "does not start with"},
		"other prefix":       {"HC1:" + good[len(Prefix):], ReasonMalformed, "does not start with"},
		"lower case":         {strings.ToLower(good), ReasonMalformed, "does not start with"},
		"too long":           {good + strings.Repeat("0", MaxCodeLen), ReasonMalformed, "at most"},
		"truncated base45":   {good[:len(good)-1], ReasonMalformed, "base45"},
		"truncated by three": {good[:len(good)-3], ReasonMalformed, "zlib"},
		"bad base45 char":    {good[:10] + "a" + good[11:], ReasonMalformed, "base45"},
		"not zlib":           {string(b45Append([]byte(Prefix), raw)), ReasonMalformed, "zlib"},
		"zlib checksum":      {string(b45Append([]byte(Prefix), badSum)), ReasonMalformed, "checksum"},
		"zlib trailing":      {string(b45Append([]byte(Prefix), append(bytes.Clone(zb), 0))), ReasonMalformed, "after the end"},
		"zlib bomb":          {bomb, ReasonMalformed, "more than"},
		"not CBOR":           {wrap([]byte("hello, gate")), ReasonMalformed, "COSE_Sign1"},
		"CBOR not COSE":      {wrap(claimsCBOR(t, validClaimsMap())), ReasonMalformed, "COSE_Sign1"},
		"untagged COSE":      {wrap(untagged), ReasonMalformed, "COSE_Sign1"},
		"COSE trailing":      {wrap(append(bytes.Clone(raw), 0)), ReasonMalformed, "COSE_Sign1"},
		"wrong alg":          {wrap(sign(t, es256, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelKeyID: []byte(kid)}, msg.Payload)), ReasonMalformed, "want EdDSA"},
		"no kid": {wrap(sign(t, edSigner(t, k.key), cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA}, msg.Payload)),
			ReasonMalformed, "no kid"},
		"kid unprotected": {remarshal(func(m *cose.Sign1Message) {
			m.Headers.RawProtected = nil
			delete(m.Headers.Protected, cose.HeaderLabelKeyID)
			m.Headers.RawUnprotected = nil
			m.Headers.Unprotected[cose.HeaderLabelKeyID] = []byte(kid)
		}), ReasonMalformed, "no kid"},
		"crit": {wrap(sign(t, edSigner(t, k.key), cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA,
			cose.HeaderLabelKeyID: []byte(kid), cose.HeaderLabelCritical: []any{int64(-70000)}, int64(-70000): 1}, msg.Payload)),
			ReasonMalformed, "crit"},
		"wrong kid":          {wrap(sign(t, edSigner(t, k.key), edHeader("retired-2024"), msg.Payload)), ReasonUnknownKey, "retired-2024"},
		"tampered signature": {remarshal(func(m *cose.Sign1Message) { m.Signature[7] ^= 0x20 }), ReasonBadSignature, "verification error"},
		"short signature":    {remarshal(func(m *cose.Sign1Message) { m.Signature = m.Signature[:63] }), ReasonBadSignature, "verification error"},
		"tampered payload": {remarshal(func(m *cose.Sign1Message) {
			m.Payload = bytes.Replace(m.Payload, []byte("pupil"), []byte("staff"), 1)
		}), ReasonBadSignature, "verification error"},
		"tampered protected header": {remarshal(func(m *cose.Sign1Message) {
			m.Headers.RawProtected = nil // re-encode the protected header, with a content type added
			m.Headers.Protected[int64(3)] = "application/cwt"
		}), ReasonBadSignature, "verification error"},
		"other key, our kid": {wrap(sign(t, edSigner(t, otherKey), edHeader(kid), msg.Payload)), ReasonBadSignature, "verification error"},
		"signed junk claims": {wrap(sign(t, edSigner(t, k.key), edHeader(kid), []byte{0xff})), ReasonMalformed, "CWT claims"},
		"claims are array":   {wrap(sign(t, edSigner(t, k.key), edHeader(kid), []byte{0x80})), ReasonMalformed, "CWT claims"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := k.v.Verify(tc.code, t0.Add(time.Hour))
			wantReason(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want it to mention %q", err, tc.msg)
			}
			if c != (Claims{}) {
				t.Errorf("claims returned with %s: %+v", tc.want, c)
			}
		})
	}
}

func TestRefusedClaims(t *testing.T) {
	k := newKit(t)
	kid := k.iss.KeyID()
	for name, tc := range map[string]struct {
		mod func(map[any]any)
		raw []byte
		msg string
	}{
		"role":          {mod: func(m map[any]any) { m[-65537] = "admin" }, msg: "role"},
		"health":        {mod: func(m map[any]any) { delete(m, -65538) }, msg: "health"},
		"no sub":        {mod: func(m map[any]any) { delete(m, 2) }, msg: "sub"},
		"sub not text":  {mod: func(m map[any]any) { m[2] = 17 }, msg: "CWT claims"},
		"no cti":        {mod: func(m map[any]any) { delete(m, 7) }, msg: "cti"},
		"no exp":        {mod: func(m map[any]any) { delete(m, 4) }, msg: "exp"},
		"no nbf":        {mod: func(m map[any]any) { delete(m, 5) }, msg: "nbf"},
		"float exp":     {mod: func(m map[any]any) { m[4] = 1.5e9 }, msg: "CWT claims"},
		"exp past 9999": {mod: func(m map[any]any) { m[4] = int64(1) << 40 }, msg: "out of range"},
		"exp = nbf":     {mod: func(m map[any]any) { m[4] = m[5] }, msg: "not after nbf"},
		"bad utf8":      {mod: func(m map[any]any) { m[1] = "\xff" }, msg: "CWT claims"},
		// {2: "P1", 2: "P2", ...}: a duplicate key must not let a second sub win.
		"duplicate sub": {raw: []byte{0xa2, 0x02, 0x62, 'P', '1', 0x02, 0x62, 'P', '2'}, msg: "duplicate"},
		"tagged date":   {mod: func(m map[any]any) { m[4] = cbor.Tag{Number: 1, Content: t0.Unix()} }, msg: "CWT claims"},
	} {
		t.Run(name, func(t *testing.T) {
			payload := tc.raw
			if payload == nil {
				m := validClaimsMap()
				tc.mod(m)
				payload = claimsCBOR(t, m)
			}
			code := wrap(sign(t, edSigner(t, k.key), edHeader(kid), payload))
			_, err := k.v.Verify(code, t0)
			wantReason(t, err, ReasonMalformed)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want it to mention %q", err, tc.msg)
			}
		})
	}
	// Unknown claims are ignored (RFC 8392 section 3.1).
	m := validClaimsMap()
	m[3] = "gate-east"
	m[-70000] = map[any]any{"x": 1}
	c, err := k.v.Verify(wrap(sign(t, edSigner(t, k.key), edHeader(kid), claimsCBOR(t, m))), t0)
	if err != nil || c.Subject != "P1" || c.Role != RoleStaff || c.Health != HealthYellow || c.PassID != "id1" {
		t.Fatalf("extra claims: %+v %v", c, err)
	}
}

func TestTimes(t *testing.T) {
	k := newKit(t)
	c := testClaims()
	c.NotBefore = t0.Add(time.Hour)
	c.Expiry = t0.Add(2 * time.Hour)
	code := k.issue(t, c)
	const skew = 90 * time.Second
	for _, tc := range []struct {
		name string
		skew time.Duration
		now  time.Time
		want Reason // "" = accepted
	}{
		{"inside", 0, t0.Add(90 * time.Minute), ""},
		{"at nbf", 0, c.NotBefore, ""},
		{"1ns before nbf", 0, c.NotBefore.Add(-1), ReasonNotYetValid},
		{"long before nbf", 0, t0, ReasonNotYetValid},
		{"1ns before exp", 0, c.Expiry.Add(-1), ""},
		{"at exp", 0, c.Expiry, ReasonExpired},
		{"long after exp", 0, c.Expiry.Add(48 * time.Hour), ReasonExpired},
		// Skew: the gate clock may be behind (pass looks not yet valid) or ahead (looks expired).
		{"skew: early within", skew, c.NotBefore.Add(-skew), ""},
		{"skew: early beyond", skew, c.NotBefore.Add(-skew - time.Second), ReasonNotYetValid},
		{"skew: late within", skew, c.Expiry.Add(skew - time.Nanosecond), ""},
		{"skew: late beyond", skew, c.Expiry.Add(skew), ReasonExpired},
		{"negative skew is zero", -skew, c.Expiry, ReasonExpired},
		{"negative skew early", -skew, c.NotBefore, ""},
		{"other time zone", 0, c.NotBefore.In(time.FixedZone("CST", 8*3600)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := *k.v
			v.Skew = tc.skew
			got, err := v.Verify(code, tc.now)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantReason(t, err, tc.want)
			// The signature was good: say whose pass it was.
			if got.Subject != c.Subject || got.PassID != c.PassID || got.KeyID != k.iss.KeyID() {
				t.Fatalf("claims with %s: %+v", tc.want, got)
			}
		})
	}
}

func TestRevoked(t *testing.T) {
	k := newKit(t)
	c := testClaims()
	code := k.issue(t, c)
	now := t0.Add(time.Hour)
	if _, err := k.v.Verify(code, now); err != nil {
		t.Fatal(err)
	}
	k.v.Revoked.Add(c.PassID, c.Expiry)
	got, err := k.v.Verify(code, now)
	wantReason(t, err, ReasonRevoked)
	if got.PassID != c.PassID {
		t.Fatalf("claims with revoked: %+v", got)
	}
	// Expired beats revoked, so pruning the entry later changes nothing.
	_, err = k.v.Verify(code, c.Expiry.Add(time.Minute))
	wantReason(t, err, ReasonExpired)
	// Revoked beats not yet valid.
	_, err = k.v.Verify(code, t0.Add(-time.Hour))
	wantReason(t, err, ReasonRevoked)
	// Another pass of the same person is unaffected.
	c2 := c
	c2.PassID = "second"
	if _, err := k.v.Verify(k.issue(t, c2), now); err != nil {
		t.Fatal(err)
	}
	if !k.v.Revoked.Remove(c.PassID) {
		t.Fatal("Remove")
	}
	if _, err := k.v.Verify(code, now); err != nil {
		t.Fatal(err)
	}
	// A nil list revokes nothing.
	v := Verifier{Keys: k.v.Keys}
	if _, err := v.Verify(code, now); err != nil {
		t.Fatal(err)
	}
}

func TestRotation(t *testing.T) {
	oldIss, _ := NewIssuer(testKey("2024"), "school-2024")
	newIss, _ := NewIssuer(testKey("2025"), "school-2025")
	ring := &Keyring{}
	v := &Verifier{Keys: ring}
	if err := ring.Add(oldIss.KeyID(), oldIss.Public()); err != nil {
		t.Fatal(err)
	}
	oldCode, _ := oldIss.Issue(testClaims())
	newCode, _ := newIss.Issue(testClaims())
	if _, err := v.Verify(oldCode, t0); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(newCode, t0)
	wantReason(t, err, ReasonUnknownKey)

	// Overlap: both trusted.
	if err := ring.Add(newIss.KeyID(), newIss.Public()); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{oldCode, newCode} {
		if c, err := v.Verify(code, t0); err != nil {
			t.Fatal(err)
		} else if c.KeyID != oldIss.KeyID() && c.KeyID != newIss.KeyID() {
			t.Fatalf("kid %q", c.KeyID)
		}
	}
	if got := ring.KeyIDs(); len(got) != 2 || got[0] != "school-2024" || got[1] != "school-2025" || ring.Len() != 2 {
		t.Fatalf("KeyIDs = %v", got)
	}
	// The old key is retired: its passes are now from an unknown key.
	if !ring.Remove(oldIss.KeyID()) || ring.Remove(oldIss.KeyID()) {
		t.Fatal("Remove")
	}
	_, err = v.Verify(oldCode, t0)
	wantReason(t, err, ReasonUnknownKey)
	if _, err := v.Verify(newCode, t0); err != nil {
		t.Fatal(err)
	}
	// No keyring at all: nothing is trusted.
	_, err = (&Verifier{}).Verify(newCode, t0)
	wantReason(t, err, ReasonUnknownKey)
}

func TestKeyring(t *testing.T) {
	var ring Keyring
	a := testKey("A").Public().(ed25519.PublicKey)
	b := testKey("B").Public().(ed25519.PublicKey)
	if err := ring.Add("k1", a); err != nil {
		t.Fatal(err)
	}
	if err := ring.Add("k1", bytes.Clone(a)); err != nil {
		t.Fatalf("same key again: %v", err)
	}
	if err := ring.Add("k1", b); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("kid collision: %v", err)
	}
	if err := ring.Add("", a); err == nil {
		t.Fatal("empty kid accepted")
	}
	if err := ring.Add("k/1", a); err == nil {
		t.Fatal("kid with / accepted")
	}
	if err := ring.Add("k2", a[:31]); err == nil {
		t.Fatal("short key accepted")
	}
	got, ok := ring.Lookup("k1")
	if !ok || !bytes.Equal(got, a) {
		t.Fatal("Lookup")
	}
	got[0] ^= 1 // must not reach into the ring
	if again, _ := ring.Lookup("k1"); !bytes.Equal(again, a) {
		t.Fatal("Lookup returned the ring's own slice")
	}
	if _, ok := ring.Lookup("k2"); ok {
		t.Fatal("Lookup k2")
	}
}

func TestReasons(t *testing.T) {
	want := []string{"malformed", "unknown_key", "bad_signature", "not_yet_valid", "expired", "revoked", "not_on_roster", "role_not_allowed"}
	if len(Reasons) != len(want) {
		t.Fatalf("Reasons = %v", Reasons)
	}
	for i, r := range Reasons {
		if string(r) != want[i] || r.Error() != want[i] {
			t.Errorf("Reasons[%d] = %q, want %q", i, r, want[i])
		}
	}
	err := fmt.Errorf("gate: scan: %w", &Error{Reason: ReasonRevoked, Err: errors.New("x")})
	if !errors.Is(err, ReasonRevoked) || errors.Is(err, ReasonExpired) || ReasonOf(err) != ReasonRevoked || ReasonOf(errors.New("x")) != "" {
		t.Fatal("errors.Is / ReasonOf")
	}
	if (&Error{Reason: ReasonNotOnRoster}).Error() != "pass: not_on_roster" {
		t.Fatal("Error() without cause")
	}
	// The cause stays reachable.
	k := newKit(t)
	raw := unwrap(t, k.issue(t, testClaims()))
	var m cose.Sign1Message
	m.UnmarshalCBOR(raw)
	m.Signature[0] ^= 1
	b, _ := m.MarshalCBOR()
	_, err = k.v.Verify(wrap(b), t0)
	if !errors.Is(err, cose.ErrVerification) {
		t.Fatalf("cause lost: %v", err)
	}
}

// TestConcurrent runs Verify while keys rotate and revocations change (go test -race).
func TestConcurrent(t *testing.T) {
	k := newKit(t)
	code := k.issue(t, testClaims())
	other, _ := NewIssuer(testKey("C"), "")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, err := k.v.Verify(code, t0); err != nil && ReasonOf(err) != ReasonRevoked {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			k.v.Keys.Add(other.KeyID(), other.Public())
			k.v.Keys.Remove(other.KeyID())
			k.v.Revoked.Add(testClaims().PassID, t0)
			k.v.Revoked.Remove(testClaims().PassID)
			k.v.Prune(t0)
		}
	}()
	wg.Wait()
}
