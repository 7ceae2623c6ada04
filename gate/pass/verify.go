package pass

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/veraison/go-cose"
)

// Verifier checks passes offline. Its fields may be shared with other
// goroutines (Keyring and Revocations are safe for concurrent use); do not
// change Skew while Verify may run.
type Verifier struct {
	Keys    *Keyring     // trusted issuer keys; nil trusts none
	Revoked *Revocations // nil revokes none
	// Skew is how far the gate's clock may be off: a pass is accepted from
	// nbf-Skew until exp+Skew. Zero allows none; negative counts as zero.
	Skew time.Duration
	// Cache, if set, remembers passes whose signature was good, so a pass
	// scanned again skips the Ed25519 check; see Cache.
	Cache *Cache
}

// Verify decodes and checks code at time now. It returns the claims, or an
// *Error whose Reason says why the pass is refused.
//
// The checks run in this order, and the first failure is the reason: format
// (malformed), kid (unknown_key), signature (bad_signature), claims
// (malformed), exp (expired), revocation (revoked), nbf (not_yet_valid). So a
// pass that is both expired and revoked reads expired whether or not its
// revocation entry was pruned, and a revoked pass that is not valid yet reads
// revoked rather than "come back later".
//
// For expired, revoked and not_yet_valid the signature was good, and the
// claims are returned with the error so the journal can say whose pass it was;
// for the other reasons the claims are zero.
func (v *Verifier) Verify(code string, now time.Time) (Claims, error) {
	if c, cti, ok := v.Cache.get(code, v.Keys); ok {
		return v.checkTimes(c, cti, now)
	}
	c, cti, rk, err := v.signed(code)
	if err != nil {
		return Claims{}, err
	}
	v.Cache.put(code, c, cti, rk)
	return v.checkTimes(c, cti, now)
}

// signed decodes code and checks everything that does not depend on the time
// or the revocation list: the envelope, the kid, the signature and the claims'
// shape. It returns the verifier that accepted the signature.
func (v *Verifier) signed(code string) (Claims, []byte, *ringKey, error) {
	msg, err := decode(code)
	if err != nil {
		return Claims{}, nil, nil, refuse(ReasonMalformed, err)
	}
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil {
		return Claims{}, nil, nil, refuse(ReasonMalformed, fmt.Errorf("protected header alg: %w", err))
	}
	if alg != cose.AlgorithmEdDSA {
		return Claims{}, nil, nil, refuse(ReasonMalformed, fmt.Errorf("protected header alg %v (%d), want EdDSA (-8)", alg, int64(alg)))
	}
	if _, ok := msg.Headers.Protected[cose.HeaderLabelCritical]; ok {
		return Claims{}, nil, nil, refuse(ReasonMalformed, errors.New("protected header has crit parameters, none are understood"))
	}
	kid, ok := msg.Headers.Protected[cose.HeaderLabelKeyID].([]byte)
	if !ok || len(kid) == 0 {
		return Claims{}, nil, nil, refuse(ReasonMalformed, errors.New("protected header has no kid"))
	}
	rk, ok := v.Keys.verifier(kid)
	if !ok {
		return Claims{}, nil, nil, refuse(ReasonUnknownKey, fmt.Errorf("kid %.64q is not in the keyring", kid))
	}
	if err := msg.Verify(nil, rk.v); err != nil {
		if errors.Is(err, cose.ErrVerification) {
			return Claims{}, nil, nil, refuse(ReasonBadSignature, fmt.Errorf("kid %s: %w", kid, err))
		}
		return Claims{}, nil, nil, refuse(ReasonMalformed, fmt.Errorf("COSE_Sign1: %w", err))
	}

	var w wireClaims
	if err := claimsDec.Unmarshal(msg.Payload, &w); err != nil {
		return Claims{}, nil, nil, refuse(ReasonMalformed, fmt.Errorf("CWT claims: %w", err))
	}
	if err := w.check(); err != nil {
		return Claims{}, nil, nil, refuse(ReasonMalformed, fmt.Errorf("CWT claims: %w", err))
	}
	return w.claims(string(kid)), w.Cti, rk, nil
}

// checkTimes applies expiry, revocation and not-before, which change with the
// clock and the list and so are checked on every scan, cached or not.
func (v *Verifier) checkTimes(c Claims, cti []byte, now time.Time) (Claims, error) {
	skew := max(v.Skew, 0)
	if !now.Before(c.Expiry.Add(skew)) {
		return c, refuse(ReasonExpired, fmt.Errorf("pass %s expired at %s; now %s, skew %s",
			c.PassID, c.Expiry.Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew))
	}
	if v.Revoked.containsBytes(cti) {
		return c, refuse(ReasonRevoked, fmt.Errorf("pass %s is on the revocation list", c.PassID))
	}
	if now.Add(skew).Before(c.NotBefore) {
		return c, refuse(ReasonNotYetValid, fmt.Errorf("pass %s is valid from %s; now %s, skew %s",
			c.PassID, c.NotBefore.Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew))
	}
	return c, nil
}

// Prune drops revocation entries that can no longer matter at now: those whose
// until is more than Skew ago. It returns how many it dropped.
func (v *Verifier) Prune(now time.Time) int {
	if v.Revoked == nil {
		return 0
	}
	return v.Revoked.Prune(now.Add(-max(v.Skew, 0)))
}

// decode undoes the envelope: prefix, base45, zlib, COSE_Sign1 (tag 18).
func decode(code string) (*cose.Sign1Message, error) {
	if len(code) > MaxCodeLen {
		return nil, fmt.Errorf("code is %d characters, at most %d", len(code), MaxCodeLen)
	}
	rest, ok := strings.CutPrefix(code, Prefix)
	if !ok {
		return nil, fmt.Errorf("code does not start with %q", Prefix)
	}
	z, err := b45Decode(rest)
	if err != nil {
		return nil, err
	}
	raw, err := inflate(z)
	if err != nil {
		return nil, err
	}
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(raw); err != nil {
		return nil, fmt.Errorf("COSE_Sign1: %w", err)
	}
	return &msg, nil
}

// zlibReaders recycles inflaters: a new one costs about 40 KiB of tables.
var zlibReaders sync.Pool

func inflate(z []byte) ([]byte, error) {
	br := bytes.NewReader(z)
	var zr io.ReadCloser
	if p, _ := zlibReaders.Get().(io.ReadCloser); p != nil {
		if err := p.(zlib.Resetter).Reset(br, nil); err != nil {
			zlibReaders.Put(p)
			return nil, fmt.Errorf("zlib: %w", err)
		}
		zr = p
	} else {
		var err error
		if zr, err = zlib.NewReader(br); err != nil {
			return nil, fmt.Errorf("zlib: %w", err)
		}
	}
	defer zlibReaders.Put(zr)
	raw, err := io.ReadAll(io.LimitReader(zr, maxCOSELen+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("zlib: %w", err)
	case len(raw) > maxCOSELen:
		return nil, fmt.Errorf("zlib: inflates to more than %d bytes", maxCOSELen)
	case br.Len() != 0:
		return nil, fmt.Errorf("zlib: %d bytes after the end of the stream", br.Len())
	}
	return raw, nil
}
