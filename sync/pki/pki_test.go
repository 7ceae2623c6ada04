package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAuthority(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()
	ca, err := Init(dir, "hz-001", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, "hz-001", now); !errors.Is(err, ErrExists) {
		t.Fatalf("a second Init over the first: %v", err)
	}
	if _, err := Init(t.TempDir(), "not a school!", now); err == nil {
		t.Fatal("bad school id accepted")
	}
	ca, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	scrt, skey, err := ca.IssueServer([]string{"127.0.0.1", "school-server.local"}, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	gcrt, gkey, err := ca.IssueGate("north-1", now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.IssueGate("north-1", now, 0); !errors.Is(err, ErrExists) {
		t.Fatalf("reissue over an existing gate pair: %v", err)
	}
	if _, _, err := ca.IssueGate("North 1", now, 0); err == nil {
		t.Fatal("bad gate id accepted")
	}
	if _, _, err := ca.IssueServer(nil, now, 0); err == nil {
		t.Fatal("server certificate without a host accepted")
	}
	for _, f := range []string{filepath.Join(dir, "ca.key"), skey, gkey} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", f, fi.Mode(), err)
		}
	}
	// The gate's certificate chains to the CA for client auth, with CN = gate.
	cert, _, err := readPair(gcrt, gkey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("gate certificate does not verify: %v", err)
	}
	if cert.Subject.CommonName != "north-1" {
		t.Fatalf("CN %q", cert.Subject.CommonName)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("a gate certificate is good for a server")
	}
	if _, _, err := readPair(gcrt, skey); err == nil {
		t.Fatal("a key that is not the certificate's accepted")
	}

	// A TLS handshake the way the broker and a gate make it.
	srvCfg, err := ServerTLS(scrt, skey, filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cliCfg, err := ClientTLS(filepath.Join(dir, "ca.crt"), gcrt, gkey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			peer <- err.Error()
			return
		}
		cs := tc.ConnectionState()
		if len(cs.VerifiedChains) == 0 {
			peer <- "no verified chain"
			return
		}
		peer <- cs.PeerCertificates[0].Subject.CommonName
		_, _ = io.Copy(io.Discard, c)
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cliCfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := <-peer; got != "north-1" {
		t.Fatalf("server saw %q", got)
	}
	// A client that trusts another authority refuses the broker.
	other, err := Init(filepath.Join(t.TempDir(), "other"), "hz-002", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ClientTLS(filepath.Join(t.TempDir(), "missing.crt"), "", ""); err == nil {
		t.Fatal("ClientTLS with a missing CA file")
	}
	otherCfg, err := ClientTLS(filepath.Join(other.dir, "ca.crt"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	if c, err := tls.Dial("tcp", ln.Addr().String(), otherCfg); err == nil {
		c.Close()
		t.Fatal("a broker certificate of another authority was trusted")
	}
}
