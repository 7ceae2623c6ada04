package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"campusgate/sync/pki"
)

const pkiUsage = `gatectl pki — the school's certificates for MQTT over TLS

  gatectl pki init         -dir DIR -school ID           a new authority: DIR/ca.crt, DIR/ca.key
  gatectl pki issue-server -dir DIR -host H [-host H]    the broker's DIR/server.crt and .key (IPs or names gates use)
  gatectl pki issue-gate   -dir DIR GATE                 a gate's DIR/gates/GATE.crt and .key (CN = GATE)

Keys are 0600 and never overwritten. Copy ca.crt and the gate's pair to the gate box
(sync.ca_file, sync.cert_file, sync.key_file); campusd takes -tls-cert, -tls-key and -tls-client-ca.
`

func pkiCmd(_ context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.errw, pkiUsage)
		return errUsage
	}
	var hosts multiFlag
	fs := e.flags("pki " + args[0])
	dir := fs.String("dir", "pki", "the authority's directory")
	school := fs.String("school", "", "school id (init)")
	valid := fs.Duration("valid", pki.LeafValidity, "validity of a server or gate certificate")
	fs.Var(&hosts, "host", "an IP address or DNS name of the broker (issue-server; repeat for several)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	now := time.Now()
	switch args[0] {
	case "init":
		if fs.NArg() != 0 {
			return usageErr(e.errw, "pki init", "unexpected argument %q", fs.Arg(0))
		}
		ca, err := pki.Init(*dir, *school, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "authority for %s in %s (valid until %s)\n  ca.crt  %s\n", *school, *dir,
			ca.Cert.NotAfter.Format("2006-01-02"), fingerprint(ca.Cert.Raw))
		return nil
	case "issue-server":
		if fs.NArg() != 0 {
			return usageErr(e.errw, "pki issue-server", "unexpected argument %q (hosts are -host H)", fs.Arg(0))
		}
		ca, err := pki.Load(*dir)
		if err != nil {
			return err
		}
		cert, key, err := ca.IssueServer(hosts, now, *valid)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "server certificate for %s\n  %s\n  %s\n", strings.Join(hosts, ", "), cert, key)
		return nil
	case "issue-gate":
		if fs.NArg() != 1 {
			return usageErr(e.errw, "pki issue-gate", "name one gate: gatectl pki issue-gate -dir DIR GATE")
		}
		ca, err := pki.Load(*dir)
		if err != nil {
			return err
		}
		cert, key, err := ca.IssueGate(fs.Arg(0), now, *valid)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "gate certificate for %s\n  %s\n  %s\n  copy with %s to the gate box\n", fs.Arg(0), cert, key,
			filepath.Join(*dir, "ca.crt"))
		return nil
	}
	fmt.Fprintf(e.errw, "gatectl pki: unknown command %q\n\n%s", args[0], pkiUsage)
	return errUsage
}

// fingerprint is the SHA-256 of a certificate, as browsers and openssl show it.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return "SHA256 " + b.String()
}

// multiFlag is a flag that may be given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
