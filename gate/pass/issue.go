package pass

import (
	"bytes"
	"compress/zlib"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/veraison/go-cose"
)

// Prefix starts every pass. The digit is the format version: a change to the
// claims or the envelope gets a new prefix, not a silent reinterpretation.
const Prefix = "CG1:"

// MaxCodeLen is the longest code Verify looks at (prefix included). A pass
// from Issue is about 200 characters; QR version 40 holds 4296 in
// alphanumeric mode.
const MaxCodeLen = 2048

// maxCOSELen bounds the inflated COSE_Sign1, so a zlib bomb costs nothing.
const maxCOSELen = 4096

// KeyID derives a kid from a public key: the first 8 bytes of SHA-256 over the
// 32 raw key bytes, as 16 lowercase hex digits.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Issuer signs passes with one private key. It is safe for concurrent use.
type Issuer struct {
	kid    string
	pub    ed25519.PublicKey
	signer cose.Signer
}

// NewIssuer returns an Issuer signing with key under kid; an empty kid means
// KeyID(key.Public()).
func NewIssuer(key ed25519.PrivateKey, kid string) (*Issuer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("pass: issuer: private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	// An ed25519.PrivateKey is seed||public; a damaged public half would make
	// every signature fail to verify, so catch it here rather than at the gate.
	if !bytes.Equal(ed25519.NewKeyFromSeed(key.Seed()), key) {
		return nil, errors.New("pass: issuer: private key's public half does not match its seed")
	}
	key = bytes.Clone(key)
	pub := key.Public().(ed25519.PublicKey)
	if kid == "" {
		kid = KeyID(pub)
	}
	if err := ValidKeyID(kid); err != nil {
		return nil, fmt.Errorf("pass: issuer: %w", err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmEdDSA, key)
	if err != nil {
		return nil, fmt.Errorf("pass: issuer: %w", err)
	}
	return &Issuer{kid: kid, pub: pub, signer: signer}, nil
}

// KeyID returns the kid put into every pass.
func (is *Issuer) KeyID() string { return is.kid }

// Public returns the public key that verifies this Issuer's passes.
func (is *Issuer) Public() ed25519.PublicKey { return bytes.Clone(is.pub) }

// Issue signs c and returns the code, "CG1:" and base45 text ready for a QR
// code in alphanumeric mode. Zero IssuedAt means now, zero NotBefore means
// IssuedAt, empty PassID means NewPassID(); Expiry is required. Times are
// truncated to whole seconds. c.KeyID is ignored.
func (is *Issuer) Issue(c Claims) (string, error) {
	w, err := c.toWire(time.Now())
	if err != nil {
		return "", fmt.Errorf("pass: issue: %w", err)
	}
	payload, err := claimsEnc.Marshal(&w)
	if err != nil {
		return "", fmt.Errorf("pass: issue: encode claims: %w", err)
	}
	msg := cose.Sign1Message{
		Headers: cose.Headers{
			Protected: cose.ProtectedHeader{
				cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA,
				cose.HeaderLabelKeyID:     []byte(is.kid),
			},
			Unprotected: cose.UnprotectedHeader{},
		},
		Payload: payload,
	}
	if err := msg.Sign(rand.Reader, nil, is.signer); err != nil {
		return "", fmt.Errorf("pass: issue: sign: %w", err)
	}
	raw, err := msg.MarshalCBOR()
	if err != nil {
		return "", fmt.Errorf("pass: issue: encode COSE_Sign1: %w", err)
	}
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if err != nil {
		return "", fmt.Errorf("pass: issue: zlib: %w", err)
	}
	if _, err := zw.Write(raw); err != nil {
		return "", fmt.Errorf("pass: issue: zlib: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("pass: issue: zlib: %w", err)
	}
	code := string(b45Append([]byte(Prefix), z.Bytes()))
	if len(code) > MaxCodeLen {
		return "", fmt.Errorf("pass: issue: code is %d characters, at most %d", len(code), MaxCodeLen)
	}
	return code, nil
}
