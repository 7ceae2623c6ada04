package pass

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// Role is who the pass holder is at school.
type Role string

// Roles.
const (
	RolePupil   Role = "pupil"
	RoleStaff   Role = "staff"
	RoleVisitor Role = "visitor"
	RoleParent  Role = "parent"
)

// Valid reports whether r is one of the roles above.
func (r Role) Valid() bool {
	switch r {
	case RolePupil, RoleStaff, RoleVisitor, RoleParent:
		return true
	}
	return false
}

// Health is the health status the pass was issued with.
type Health string

// Health statuses.
const (
	HealthGreen  Health = "green"
	HealthYellow Health = "yellow"
	HealthRed    Health = "red"
)

// Valid reports whether h is one of the statuses above.
func (h Health) Valid() bool {
	switch h {
	case HealthGreen, HealthYellow, HealthRed:
		return true
	}
	return false
}

// Claims is what a pass says. Times have one-second resolution on the wire.
type Claims struct {
	Issuer    string    // iss: school id; may be empty
	Subject   string    // sub: person id
	Role      Role      // private claim -65537
	Health    Health    // private claim -65538
	IssuedAt  time.Time // iat; Issue fills in now when zero
	NotBefore time.Time // nbf; Issue uses IssuedAt when zero
	Expiry    time.Time // exp; required
	PassID    string    // cti; Issue fills in NewPassID() when empty
	KeyID     string    // kid of the signing key (protected header); set by Verify, ignored by Issue
}

// CWT claim keys: RFC 8392 section 4 for the registered ones; integers below
// -65536 are private use in the IANA CWT Claims registry.
const (
	claimIss    = 1
	claimSub    = 2
	claimExp    = 4
	claimNbf    = 5
	claimIat    = 6
	claimCti    = 7
	claimRole   = -65537
	claimHealth = -65538
)

// wireClaims is the CWT claims map. Field tags must match the constants above.
type wireClaims struct {
	Iss    string `cbor:"1,keyasint,omitempty"`
	Sub    string `cbor:"2,keyasint"`
	Exp    int64  `cbor:"4,keyasint"`
	Nbf    int64  `cbor:"5,keyasint"`
	Iat    int64  `cbor:"6,keyasint"`
	Cti    []byte `cbor:"7,keyasint"`
	Role   string `cbor:"-65537,keyasint"`
	Health string `cbor:"-65538,keyasint"`
}

// Limits on what Issue puts in a pass, so that a pass fits a small QR code and
// text fields stay sane in the journal and on the guard console.
const (
	maxTextLen   = 128 // bytes of sub and iss
	maxPassIDLen = 64
	maxKeyIDLen  = 64
	// A NumericDate after 9999-12-31 is refused: time arithmetic near the
	// int64 limits is not worth reasoning about.
	maxDate = 253402300799
)

var (
	claimsEnc cbor.EncMode
	claimsDec cbor.DecMode
)

func init() {
	var err error
	claimsEnc, err = cbor.EncOptions{Sort: cbor.SortCoreDeterministic, IndefLength: cbor.IndefLengthForbidden}.EncMode()
	if err != nil {
		panic(err)
	}
	// Strict: no duplicate keys (a second "sub" must not win), no tags, no
	// streaming, small containers. Unknown claims are ignored as RFC 8392 asks.
	claimsDec, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  4,
		MaxArrayElements: 16,
		MaxMapPairs:      32,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// NewPassID returns a random pass id: 16 lowercase hex digits (64 bits).
func NewPassID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error since Go 1.24
	return hex.EncodeToString(b[:])
}

// ValidKeyID checks a kid: 1 to 64 characters from A-Z a-z 0-9 . _ -, so that
// it is safe in file names, key files and log lines.
func ValidKeyID(kid string) error {
	if err := validID(kid, maxKeyIDLen); err != nil {
		return fmt.Errorf("kid %q: %w", kid, err)
	}
	return nil
}

// ValidPassID checks a pass id with the same rules as ValidKeyID.
func ValidPassID(id string) error {
	if err := validID(id, maxPassIDLen); err != nil {
		return fmt.Errorf("pass id %q: %w", id, err)
	}
	return nil
}

func validID(s string, max int) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > max {
		return fmt.Errorf("%d bytes, at most %d", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("character %q at %d not allowed (A-Z a-z 0-9 . _ -)", c, i)
		}
	}
	return nil
}

func validText(name, s string, required bool) error {
	switch {
	case s == "" && required:
		return fmt.Errorf("%s is empty", name)
	case len(s) > maxTextLen:
		return fmt.Errorf("%s is %d bytes, at most %d", name, len(s), maxTextLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", name)
	}
	return nil
}

// toWire checks c, fills in the defaults and converts it. now is used when
// c.IssuedAt is zero.
func (c Claims) toWire(now time.Time) (wireClaims, error) {
	if err := validText("subject (person id)", c.Subject, true); err != nil {
		return wireClaims{}, err
	}
	if err := validText("issuer (school id)", c.Issuer, false); err != nil {
		return wireClaims{}, err
	}
	if !c.Role.Valid() {
		return wireClaims{}, fmt.Errorf("role %q: want pupil, staff, visitor or parent", c.Role)
	}
	if !c.Health.Valid() {
		return wireClaims{}, fmt.Errorf("health %q: want green, yellow or red", c.Health)
	}
	if c.PassID == "" {
		c.PassID = NewPassID()
	}
	if err := ValidPassID(c.PassID); err != nil {
		return wireClaims{}, err
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = now
	}
	if c.NotBefore.IsZero() {
		c.NotBefore = c.IssuedAt
	}
	if c.Expiry.IsZero() {
		return wireClaims{}, errors.New("expiry is not set")
	}
	w := wireClaims{
		Iss:    c.Issuer,
		Sub:    c.Subject,
		Iat:    c.IssuedAt.Unix(),
		Nbf:    c.NotBefore.Unix(),
		Exp:    c.Expiry.Unix(),
		Cti:    []byte(c.PassID),
		Role:   string(c.Role),
		Health: string(c.Health),
	}
	if err := w.check(); err != nil {
		return wireClaims{}, err
	}
	return w, nil
}

// check is what Verify demands of a signed claims set; Issue demands the same
// so that it never signs what Verify would refuse.
func (w *wireClaims) check() error {
	switch {
	case w.Sub == "":
		return errors.New("sub (2) missing or empty")
	case len(w.Cti) == 0:
		return errors.New("cti (7) missing or empty")
	case !Role(w.Role).Valid():
		return fmt.Errorf("role (%d) %.32q unknown", claimRole, w.Role)
	case !Health(w.Health).Valid():
		return fmt.Errorf("health (%d) %.32q unknown", claimHealth, w.Health)
	}
	for _, d := range []struct {
		name string
		key  int
		v    int64
	}{{"iat", claimIat, w.Iat}, {"nbf", claimNbf, w.Nbf}, {"exp", claimExp, w.Exp}} {
		if d.v <= 0 || d.v > maxDate {
			return fmt.Errorf("%s (%d) = %d: missing or out of range", d.name, d.key, d.v)
		}
	}
	if w.Exp <= w.Nbf {
		return fmt.Errorf("exp %d is not after nbf %d", w.Exp, w.Nbf)
	}
	return nil
}

func (w *wireClaims) claims(kid string) Claims {
	return Claims{
		Issuer:    w.Iss,
		Subject:   w.Sub,
		Role:      Role(w.Role),
		Health:    Health(w.Health),
		IssuedAt:  time.Unix(w.Iat, 0).UTC(),
		NotBefore: time.Unix(w.Nbf, 0).UTC(),
		Expiry:    time.Unix(w.Exp, 0).UTC(),
		PassID:    string(w.Cti),
		KeyID:     kid,
	}
}
