package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"campusgate/sync/wire"
)

// pki is a throwaway certificate authority with a server certificate for
// 127.0.0.1.
type pki struct {
	t      testing.TB
	ca     *x509.Certificate
	key    *ecdsa.PrivateKey
	pool   *x509.CertPool
	server tls.Certificate
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "campusgate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{t: t, ca: ca, key: key, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = p.issue("school-server", x509.ExtKeyUsageServerAuth, net.ParseIP("127.0.0.1"))
	return p
}

func (p *pki) issue(cn string, usage x509.ExtKeyUsage, ip net.IP) tls.Certificate {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (p *pki) gateCert(gate string) *tls.Certificate {
	c := p.issue(gate, x509.ExtKeyUsageClientAuth, nil)
	return &c
}

// serverTLS admits certificate gates and, beside them, password accounts.
func (p *pki) serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool,
		ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
}

func (p *pki) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
}

func TestEmbeddedTLSClientCertificates(t *testing.T) {
	p := newPKI(t)
	b, err := Start(context.Background(), Opts{Listen: "127.0.0.1:0", TLS: p.serverTLS(), Auth: testAccounts(t), School: "hz", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tg := target{addr: b.Addr(), tls: p.clientTLS()}

	srv := tg.mustConnect(t, dial{user: "campusd@hz", pass: serverPass, id: "campusd@hz"}) // password over TLS
	srv.mustSub(t, wire.Root+"/#")
	north := tg.mustConnect(t, dial{id: "north-1", cert: p.gateCert("north-1")}) // no user name, no password
	north.pub(t, gt("north-1", wire.KindEntry), "by certificate", false)
	north.pub(t, gt("south-1", wire.KindEntry), "forged", false)
	north.pub(t, gt("north-1", wire.KindEntry), "fence", false)
	fence(t, srv, gt("north-1", wire.KindEntry), "fence")
	if !srv.has(gt("north-1", wire.KindEntry), "by certificate") {
		t.Error("certificate gate's entry not delivered")
	}
	if m := srv.msgs(gt("south-1", wire.KindEntry)); len(m) != 0 {
		t.Errorf("certificate gate published as south-1: %v", m)
	}
	// A gate without a certificate still logs in with its password.
	tg.mustConnect(t, dial{user: "south-1", pass: south, id: "south-1"})

	rogue := newPKI(t) // another CA: its certificates do not verify
	for _, c := range []struct {
		why string
		d   dial
	}{
		{"certificate of north-1, client id of south-1", dial{id: "south-1", cert: p.gateCert("north-1")}},
		{"certificate of north-1, user name and password of south-1", dial{user: "south-1", pass: south, id: "south-1", cert: p.gateCert("north-1")}},
		{"certificate CN that is not a gate id", dial{id: "campusd@hz", cert: p.gateCert("campusd@hz")}},
		{"certificate of another CA", dial{id: "north-1", cert: rogue.gateCert("north-1")}},
		{"no certificate, no password", dial{id: "north-1"}},
	} {
		if cl, err := tg.connect(c.d); err == nil {
			cl.close()
			t.Errorf("%s: connected", c.why)
		}
	}
	if !north.c.IsConnectionOpen() {
		t.Error("north-1 was knocked off")
	}
}
