package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"campusgate/gate/pass"
)

const passUsage = `gatectl pass — signed gate passes ("CG1:" codes: CWT in COSE_Sign1, Ed25519)

  gatectl pass keygen -dir D [-kid K]         new signing key: D/<kid>.key (mode 0600) and D/<kid>.pub
  gatectl pass issue  -key FILE -person ID -role R -health H [-valid 24h] [-issuer SCHOOL] [-id PASSID]
                                              print a new pass code
  gatectl pass verify -pub FILE[,FILE] [-revoked FILE] [-skew 2m] [-at TIME] CODE
                                              print the claims, or the reason the pass is refused (exit 1)

Codes contain spaces and $ % * + - . / : — quote them. "gatectl pass issue -h" shows a command's flags.
`

func passCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.errw, passUsage)
		return errUsage
	}
	switch args[0] {
	case "keygen":
		return passKeygen(e, args[1:])
	case "issue":
		return passIssue(e, args[1:])
	case "verify":
		return passVerify(e, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.out, passUsage)
		return nil
	}
	fmt.Fprintf(e.errw, "gatectl pass: unknown command %q\n\n%s", args[0], passUsage)
	return errUsage
}

// usageErr prints what is wrong with the command line and returns errUsage.
func usageErr(w io.Writer, cmd, format string, a ...any) error {
	fmt.Fprintf(w, "gatectl %s: %s\n", cmd, fmt.Sprintf(format, a...))
	return errUsage
}

func passKeygen(e *env, args []string) error {
	fs := e.flags("pass keygen")
	dir := fs.String("dir", "", "directory for the key files, created if missing (required)")
	kid := fs.String("kid", "", "key id (default: first 8 bytes of SHA-256 of the public key, in hex)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageErr(e.errw, "pass keygen", "-dir is required")
	}
	if *kid != "" {
		if err := pass.ValidKeyID(*kid); err != nil {
			return usageErr(e.errw, "pass keygen", "-kid: %v", err)
		}
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return fmt.Errorf("pass keygen: %w", err)
	}
	id := *kid
	if id == "" {
		id = pass.KeyID(pub)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("pass keygen: %w", err)
	}
	keyPath := filepath.Join(*dir, id+".key")
	pubPath := filepath.Join(*dir, id+".pub")
	// Check both first, so a refusal leaves no half pair behind.
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("pass keygen: %s already exists; not overwriting a key", p)
		}
	}
	if err := pass.SavePrivateKey(keyPath, priv, id); err != nil {
		return fmt.Errorf("pass keygen: %w", err)
	}
	if err := pass.SavePublicKey(pubPath, pub, id); err != nil {
		os.Remove(keyPath)
		return fmt.Errorf("pass keygen: %w", err)
	}
	fmt.Fprintf(e.out, "kid:     %s\nprivate: %s\npublic:  %s\n", id, keyPath, pubPath)
	return nil
}

func passIssue(e *env, args []string) error {
	fs := e.flags("pass issue")
	keyFile := fs.String("key", "", "private key file from pass keygen (required)")
	person := fs.String("person", "", "person id (required)")
	role := fs.String("role", "", "pupil, staff, visitor or parent (required)")
	health := fs.String("health", "", "green, yellow or red (required)")
	valid := fs.Duration("valid", 24*time.Hour, "validity, from -not-before")
	issuer := fs.String("issuer", "", "school id (may be Chinese text)")
	id := fs.String("id", "", "pass id (default: random, 16 hex digits)")
	notBefore := fs.String("not-before", "", "start of validity, RFC 3339 (default: now)")
	if err := parse(fs, args); err != nil {
		return err
	}
	const cmd = "pass issue"
	switch {
	case *keyFile == "":
		return usageErr(e.errw, cmd, "-key is required")
	case *person == "":
		return usageErr(e.errw, cmd, "-person is required")
	case !pass.Role(*role).Valid():
		return usageErr(e.errw, cmd, "-role %q: want pupil, staff, visitor or parent", *role)
	case !pass.Health(*health).Valid():
		return usageErr(e.errw, cmd, "-health %q: want green, yellow or red", *health)
	case *valid < time.Second:
		return usageErr(e.errw, cmd, "-valid %s: want at least 1s", *valid)
	}
	if *id == "" {
		*id = pass.NewPassID()
	} else if err := pass.ValidPassID(*id); err != nil {
		return usageErr(e.errw, cmd, "-id: %v", err)
	}
	now := time.Now()
	nbf := now
	if *notBefore != "" {
		t, err := time.Parse(time.RFC3339, *notBefore)
		if err != nil {
			return usageErr(e.errw, cmd, "-not-before: %v", err)
		}
		nbf = t
	}
	key, kid, err := pass.LoadPrivateKey(*keyFile)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	iss, err := pass.NewIssuer(key, kid)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	c := pass.Claims{
		Issuer:    *issuer,
		Subject:   *person,
		Role:      pass.Role(*role),
		Health:    pass.Health(*health),
		IssuedAt:  now,
		NotBefore: nbf,
		Expiry:    nbf.Add(*valid),
		PassID:    *id,
	}
	code, err := iss.Issue(c)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	fmt.Fprintln(e.out, code)
	fmt.Fprintf(e.errw, "pass_id %s, kid %s, valid %s to %s\n", c.PassID, iss.KeyID(),
		c.NotBefore.UTC().Truncate(time.Second).Format(time.RFC3339), c.Expiry.UTC().Truncate(time.Second).Format(time.RFC3339))
	return nil
}

func passVerify(e *env, args []string) error {
	fs := e.flags("pass verify")
	pubs := fs.String("pub", "", "trusted public key files, comma-separated (required)")
	revoked := fs.String("revoked", "", "revocation list: a pass id and optional RFC 3339 expiry per line, # comments")
	skew := fs.Duration("skew", 2*time.Minute, "clock skew allowed on either side of the validity")
	at := fs.String("at", "", "verify as of this RFC 3339 time (default: now)")
	const cmd = "pass verify"
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		return usageErr(e.errw, cmd, "want exactly one CODE after the flags, got %d arguments", fs.NArg())
	}
	if *pubs == "" {
		return usageErr(e.errw, cmd, "-pub is required")
	}
	now := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return usageErr(e.errw, cmd, "-at: %v", err)
		}
		now = t
	}
	v := &pass.Verifier{Keys: &pass.Keyring{}, Skew: *skew}
	for _, f := range strings.Split(*pubs, ",") {
		pub, kid, err := pass.LoadPublicKey(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if err := v.Keys.Add(kid, pub); err != nil {
			return fmt.Errorf("%s: %s: %w", cmd, f, err)
		}
	}
	if *revoked != "" {
		f, err := os.Open(*revoked)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		v.Revoked, err = pass.ParseRevocations(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", cmd, *revoked, err)
		}
	}
	// A scanner or a here-doc may leave a line end; a space is base45, so only \r\n go.
	code := strings.TrimRight(fs.Arg(0), "\r\n")
	c, err := v.Verify(code, now)
	var pe *pass.Error
	switch {
	case err == nil:
		fmt.Fprintf(e.out, "%-11s %s\n", "status:", "ok")
	case errors.As(err, &pe):
		fmt.Fprintf(e.out, "%-11s %s\n%-11s %s\n", "status:", "refused", "reason:", pe.Reason)
	default:
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if c != (pass.Claims{}) {
		for _, kv := range [][2]string{
			{"person_id", c.Subject},
			{"role", string(c.Role)},
			{"health", string(c.Health)},
			{"issuer", c.Issuer},
			{"pass_id", c.PassID},
			{"kid", c.KeyID},
			{"issued_at", c.IssuedAt.Format(time.RFC3339)},
			{"not_before", c.NotBefore.Format(time.RFC3339)},
			{"expiry", c.Expiry.Format(time.RFC3339)},
		} {
			fmt.Fprintf(e.out, "%-11s %s\n", kv[0]+":", kv[1])
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}
