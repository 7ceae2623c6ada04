package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// CmdKind is what a command asks a gate to do.
type CmdKind string

// Commands.
const (
	CmdOpen   CmdKind = "open"   // let one person through (recorded as a remote opening)
	CmdResync CmdKind = "resync" // send every unacknowledged entry again, and telemetry
)

// MaxCmdValidity bounds a command's exp - iat: a gate remembers the nonces of
// the commands it ran until they expire.
const MaxCmdValidity = 10 * time.Minute

// CmdClaims is a command as signed by the school server.
type CmdClaims struct {
	Kind     CmdKind
	School   string
	Gate     string
	Nonce    []byte // 16 random bytes: a command runs once
	IssuedAt time.Time
	Expiry   time.Time
	By       string // who ordered it, for the journal
	Reason   string
}

type wireCmd struct {
	Kind   string `cbor:"1,keyasint"`
	School string `cbor:"2,keyasint"`
	Gate   string `cbor:"3,keyasint"`
	Nonce  []byte `cbor:"4,keyasint"`
	Iat    int64  `cbor:"5,keyasint"`
	Exp    int64  `cbor:"6,keyasint"`
	By     string `cbor:"7,keyasint"`
	Reason string `cbor:"8,keyasint"`
}

var (
	cmdEnc, _ = cbor.EncOptions{Sort: cbor.SortCoreDeterministic}.EncMode()
	cmdDec, _ = cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF, IndefLength: cbor.IndefLengthForbidden,
		TagsMd: cbor.TagsForbidden, MaxNestedLevels: 4, MaxMapPairs: 16, UTF8: cbor.UTF8RejectInvalid}.DecMode()
)

// SignCmd signs c (a new nonce if c has none; IssuedAt now if zero) into a
// COSE_Sign1 with Ed25519 under kid.
func SignCmd(priv ed25519.PrivateKey, kid string, c CmdClaims) ([]byte, error) {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	if len(c.Nonce) == 0 {
		c.Nonce = make([]byte, 16)
		if _, err := rand.Read(c.Nonce); err != nil {
			return nil, err
		}
	}
	payload, err := cmdEnc.Marshal(wireCmd{Kind: string(c.Kind), School: c.School, Gate: c.Gate, Nonce: c.Nonce,
		Iat: c.IssuedAt.Unix(), Exp: c.Expiry.Unix(), By: c.By, Reason: c.Reason})
	if err != nil {
		return nil, fmt.Errorf("wire: sign command: %w", err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmEdDSA, priv)
	if err != nil {
		return nil, fmt.Errorf("wire: sign command: %w", err)
	}
	msg := cose.Sign1Message{
		Headers: cose.Headers{Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA, cose.HeaderLabelKeyID: []byte(kid)},
			Unprotected: cose.UnprotectedHeader{}},
		Payload: payload,
	}
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		return nil, fmt.Errorf("wire: sign command: %w", err)
	}
	return msg.MarshalCBOR()
}

// CmdError is why a command was refused; Reason is a stable code.
type CmdError struct {
	Reason string // malformed, unknown_key, bad_signature, wrong_gate, expired, not_yet_valid, too_long, replayed, before_start, not_recorded
	Err    error
}

func (e *CmdError) Error() string { return "command refused: " + e.Reason + ": " + e.Err.Error() }
func (e *CmdError) Unwrap() error { return e.Err }

func refuseCmd(reason, format string, args ...any) error {
	return &CmdError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// CmdVerifier checks commands for one gate: signature by a trusted server key,
// addressed to this school and gate, in its validity, issued after the gate
// started (its nonce memory starts empty), and never seen before.
type CmdVerifier struct {
	Keys         map[string]ed25519.PublicKey // kid → the school server's command key
	School, Gate string
	Started      time.Time     // commands issued before this (minus Skew) are refused
	Skew         time.Duration // allowed clock difference with the server
	// Nonces, if set, remembers the nonces of the commands run across
	// restarts (the gate's journal): without it a command issued within
	// Skew before a restart could be replayed after it.
	Nonces interface {
		UseNonce(nonce []byte, until, now time.Time) (fresh bool, err error)
	}

	mu   sync.Mutex
	seen map[string]time.Time // nonce → expiry
}

// Verify checks signed at now and, if it is good, remembers its nonce.
func (v *CmdVerifier) Verify(signed []byte, now time.Time) (CmdClaims, error) {
	var msg cose.Sign1Message
	if len(signed) > 4096 {
		return CmdClaims{}, refuseCmd("malformed", "%d bytes", len(signed))
	}
	if err := msg.UnmarshalCBOR(signed); err != nil {
		return CmdClaims{}, refuseCmd("malformed", "COSE_Sign1: %w", err)
	}
	if alg, err := msg.Headers.Protected.Algorithm(); err != nil || alg != cose.AlgorithmEdDSA {
		return CmdClaims{}, refuseCmd("malformed", "algorithm %v, want EdDSA", alg)
	}
	kid, _ := msg.Headers.Protected[cose.HeaderLabelKeyID].([]byte)
	pub, ok := v.Keys[string(kid)]
	if !ok {
		return CmdClaims{}, refuseCmd("unknown_key", "kid %.64q is not a trusted server key", kid)
	}
	ver, err := cose.NewVerifier(cose.AlgorithmEdDSA, pub)
	if err != nil {
		return CmdClaims{}, refuseCmd("unknown_key", "%w", err)
	}
	if err := msg.Verify(nil, ver); err != nil {
		return CmdClaims{}, refuseCmd("bad_signature", "%w", err)
	}
	var w wireCmd
	if err := cmdDec.Unmarshal(msg.Payload, &w); err != nil {
		return CmdClaims{}, refuseCmd("malformed", "claims: %w", err)
	}
	c := CmdClaims{Kind: CmdKind(w.Kind), School: w.School, Gate: w.Gate, Nonce: w.Nonce,
		IssuedAt: time.Unix(w.Iat, 0), Expiry: time.Unix(w.Exp, 0), By: w.By, Reason: w.Reason}
	skew := max(v.Skew, 0)
	switch {
	case c.Kind != CmdOpen && c.Kind != CmdResync:
		return c, refuseCmd("malformed", "kind %q", c.Kind)
	case len(c.Nonce) < 8:
		return c, refuseCmd("malformed", "nonce of %d bytes", len(c.Nonce))
	case c.School != v.School || c.Gate != v.Gate:
		return c, refuseCmd("wrong_gate", "for %s/%s, this is %s/%s", c.School, c.Gate, v.School, v.Gate)
	case c.Expiry.Sub(c.IssuedAt) > MaxCmdValidity || !c.Expiry.After(c.IssuedAt):
		return c, refuseCmd("too_long", "valid %v, at most %v", c.Expiry.Sub(c.IssuedAt), MaxCmdValidity)
	case !now.Before(c.Expiry.Add(skew)):
		return c, refuseCmd("expired", "expired at %s", c.Expiry.UTC().Format(time.RFC3339))
	case now.Add(skew).Before(c.IssuedAt):
		return c, refuseCmd("not_yet_valid", "issued at %s, in the future", c.IssuedAt.UTC().Format(time.RFC3339))
	case c.IssuedAt.Before(v.Started.Add(-skew)):
		return c, refuseCmd("before_start", "issued at %s, before this gate started: it may be a replay", c.IssuedAt.UTC().Format(time.RFC3339))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[string]time.Time{}
	}
	for n, exp := range v.seen {
		if now.After(exp.Add(skew)) {
			delete(v.seen, n)
		}
	}
	if _, dup := v.seen[string(c.Nonce)]; dup {
		return c, refuseCmd("replayed", "nonce %x was used already", c.Nonce)
	}
	if v.Nonces != nil {
		fresh, err := v.Nonces.UseNonce(c.Nonce, c.Expiry.Add(skew), now)
		switch {
		case err != nil: // fail closed: a command that cannot be remembered could run twice
			return c, refuseCmd("not_recorded", "nonce not recorded: %w", err)
		case !fresh:
			return c, refuseCmd("replayed", "nonce %x was used already (before a restart)", c.Nonce)
		}
	}
	v.seen[string(c.Nonce)] = c.Expiry
	return c, nil
}

// IsCmdRefusal reports whether err is a command refusal and its reason.
func IsCmdRefusal(err error) (string, bool) {
	var ce *CmdError
	if errors.As(err, &ce) {
		return ce.Reason, true
	}
	return "", false
}
