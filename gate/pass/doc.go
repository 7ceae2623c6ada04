// Package pass issues and verifies gate passes: signed tokens that the gate
// checks offline, with no server to ask.
//
// # Format
//
// A pass is a CWT (RFC 8392) in a tagged COSE_Sign1 (RFC 9052, CBOR tag 18)
// signed with Ed25519 (alg EdDSA, -8). As in the EU Digital COVID Certificate,
// the whole COSE_Sign1 is zlib-compressed (RFC 1950) and base45-encoded
// (RFC 9285), whose alphabet is that of QR alphanumeric mode, and prefixed
// with "CG1:":
//
//	"CG1:" || base45( zlib( COSE_Sign1 ) )
//
// The protected header holds alg (1) = -8 and kid (4) = the key id as a byte
// string (its ASCII text). Nothing in the unprotected header is used. A
// protected header with crit (2) is refused, since no critical parameter is
// understood.
//
// # Claims
//
//	Claims field  CWT key   type   meaning
//	Issuer        1 iss     tstr   school id (optional; Chinese text is fine)
//	Subject       2 sub     tstr   person id (required)
//	Expiry        4 exp     int    NumericDate, seconds since 1970 UTC (required)
//	NotBefore     5 nbf     int    NumericDate (required)
//	IssuedAt      6 iat     int    NumericDate (required)
//	PassID        7 cti     bstr   pass id, the ASCII bytes of the id (required)
//	Role          -65537    tstr   "pupil" | "staff" | "visitor" | "parent"
//	Health        -65538    tstr   "green" | "yellow" | "red"
//	KeyID         (kid of the protected header, not a claim)
//
// Keys 1 to 7 are the RFC 8392 registered claims; integers below -65536 are
// private use in the IANA CWT Claims registry. Claims are encoded in RFC 8949
// core deterministic order. Dates must be integers (RFC 8392 also allows
// floats; they are refused as malformed). Unknown claims are ignored, as RFC
// 8392 asks; duplicate keys, tags and indefinite lengths are refused.
//
// # Refusals
//
// Verify returns *Error, with a Reason (malformed, unknown_key,
// bad_signature, not_yet_valid, expired, revoked) and the cause. A Reason is
// also an error, so
//
//	if errors.Is(err, pass.ReasonExpired) { ... }
//	var pe *pass.Error; if errors.As(err, &pe) { journal(pe.Reason) }
//
// A pass with a wrong alg is malformed: it is not a CG1 pass at all. See
// Verify for the order of the checks. not_on_roster and role_not_allowed are
// decided by package gate and are here only so there is one list of codes.
//
// # Keys
//
// Issuer signs with an ed25519.PrivateKey; Verifier trusts the keys in a
// Keyring, by kid. A kid is 1 to 64 characters of A-Z a-z 0-9 . _ - and by
// default is KeyID(pub), the first 8 bytes of SHA-256 of the raw public key
// in hex. Key files are PEM, PKCS#8 ("PRIVATE KEY") and PKIX ("PUBLIC KEY"),
// with a "kid: ..." line of explanatory text before the block; see
// SavePrivateKey, LoadPublicKey and friends.
//
// # Caveats
//
//   - A pass is a bearer token: a photo of someone's QR code works as well as
//     the original until it expires or is revoked. Keep validity short, and let
//     the gate match the person (roster, card, guard) where that matters.
//   - Revocation is only as fresh as the list the gate box last received, and
//     the box's clock decides expiry: Skew covers drift, not a clock that was
//     never set. Prune revocations with Verifier.Prune, which allows for Skew.
//   - Claims are signed, not encrypted: anyone who scans a pass reads the
//     person id, role and health status.
//   - The format is versioned by the prefix; change "CG1:" rather than the
//     meaning of a claim.
//   - Base45 is implemented here (RFC 9285, tested with the RFC's examples)
//     because no usable Go module for it could be had from the module proxy
//     this project uses.
package pass
