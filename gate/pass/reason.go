package pass

import "errors"

// Reason is a stable refusal code. It goes into the journal, onto the wire and
// into reports, so the values never change.
//
// Reason implements error so that errors.Is(err, ReasonExpired) works on any
// error that wraps an *Error.
type Reason string

// Refusals decided by Verify.
const (
	ReasonMalformed    Reason = "malformed"     // not a CG1 pass: prefix, base45, zlib, COSE, CWT or alg wrong
	ReasonUnknownKey   Reason = "unknown_key"   // kid not in the keyring (never known, or rotated out)
	ReasonBadSignature Reason = "bad_signature" // kid known, signature does not verify
	ReasonNotYetValid  Reason = "not_yet_valid" // now + skew is before nbf
	ReasonExpired      Reason = "expired"       // now - skew is at or after exp
	ReasonRevoked      Reason = "revoked"       // cti on the revocation list
)

// Refusals decided by the gate policy (package gate) after Verify accepted the
// pass. They are listed here so that the pass-related codes form one list.
const (
	ReasonNotOnRoster    Reason = "not_on_roster"    // person id (sub) not on the roster
	ReasonRoleNotAllowed Reason = "role_not_allowed" // role not admitted at this gate or time
)

// Reasons lists every Reason constant of this package, in the order above.
var Reasons = []Reason{
	ReasonMalformed, ReasonUnknownKey, ReasonBadSignature, ReasonNotYetValid,
	ReasonExpired, ReasonRevoked, ReasonNotOnRoster, ReasonRoleNotAllowed,
}

// Error returns the code itself.
func (r Reason) Error() string { return string(r) }

// Error is a refusal: why (Reason) and the underlying cause (Err).
type Error struct {
	Reason Reason
	Err    error // the cause; never nil for errors returned by this package
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "pass: " + string(e.Reason)
	}
	return "pass: " + string(e.Reason) + ": " + e.Err.Error()
}

// Unwrap returns the cause, so errors.Is(err, cose.ErrVerification) and the
// like work too.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the Reason of e.
func (e *Error) Is(target error) bool {
	r, ok := target.(Reason)
	return ok && r == e.Reason
}

// ReasonOf returns the Reason of the *Error in err's chain, or "" if there is none.
func ReasonOf(err error) Reason {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ""
}

func refuse(r Reason, err error) *Error { return &Error{Reason: r, Err: err} }
