// Package pki is a school's small certificate authority for MQTT over TLS:
// one CA, a server certificate for the broker, and a client certificate for
// each gate whose Common Name is the gate id (the embedded broker and
// mosquitto's use_identity_as_username both take the CN as the gate's name).
// It is crypto/x509 with ECDSA P-256 keys; nothing here is a format of our own.
//
// A CA directory holds:
//
//	ca.crt, ca.key              the authority (the key never leaves this directory)
//	server.crt, server.key      the broker's certificate (IP addresses and DNS names)
//	gates/GATE.crt, GATE.key    one pair per gate, copied to that gate box
//
// Keys are written 0600 and never overwritten.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"campusgate/sync/wire"
)

// Validity defaults.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 2 * 365 * 24 * time.Hour
)

// ErrExists is returned instead of overwriting a key or certificate.
var ErrExists = errors.New("pki: already exists")

// CA is a loaded authority.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
}

// Init makes a new authority in dir for school. It refuses a directory that
// already has one.
func Init(dir, school string, now time.Time) (*CA, error) {
	if err := wire.ValidID(school); err != nil {
		return nil, fmt.Errorf("pki: school: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	for _, f := range []string{"ca.crt", "ca.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil, fmt.Errorf("pki: %s: %w (one authority per directory)", filepath.Join(dir, f), ErrExists)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "campusgate " + school + " CA", Organization: []string{school}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(CAValidity),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	if err := writePair(dir, "ca", der, key); err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, key: key, dir: dir}, nil
}

// Load reads the authority in dir.
func Load(dir string) (*CA, error) {
	cert, key, err := readPair(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", filepath.Join(dir, "ca.crt"))
	}
	return &CA{Cert: cert, key: key, dir: dir}, nil
}

// IssueGate makes gates/GATE.crt and .key, a client certificate with CN gate.
func (ca *CA) IssueGate(gate string, now time.Time, validity time.Duration) (certFile, keyFile string, err error) {
	if err := wire.ValidGateID(gate); err != nil {
		return "", "", fmt.Errorf("pki: gate: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: gate, Organization: ca.Cert.Subject.Organization},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(filepath.Join(ca.dir, "gates"), gate, tmpl, now, validity)
}

// IssueServer makes server.crt and .key for the broker, valid for hosts (IP
// addresses or DNS names).
func (ca *CA) IssueServer(hosts []string, now time.Time, validity time.Duration) (certFile, keyFile string, err error) {
	if len(hosts) == 0 {
		return "", "", errors.New("pki: the server certificate needs at least one host (the address gates connect to)")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0], Organization: ca.Cert.Subject.Organization},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(ca.dir, "server", tmpl, now, validity)
}

func (ca *CA) issue(dir, name string, tmpl *x509.Certificate, now time.Time, validity time.Duration) (string, string, error) {
	if validity <= 0 {
		validity = LeafValidity
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("pki: %w", err)
	}
	certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	for _, f := range []string{certFile, keyFile} {
		if _, err := os.Stat(f); err == nil {
			return "", "", fmt.Errorf("pki: %s: %w (remove it first to issue anew)", f, ErrExists)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("pki: key: %w", err)
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(validity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return "", "", fmt.Errorf("pki: certificate for %s: %w", name, err)
	}
	if err := writePair(dir, name, der, key); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// ServerTLS is the broker's TLS configuration: its certificate, and gates'
// client certificates verified against the CA in caFile when it is not "".
// Clients without a certificate may still log in with a password.
func ServerTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: server certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := pool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// ClientTLS is a gate's TLS configuration: the CA that signed the broker's
// certificate and, when certFile is not "", the gate's own certificate.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		p, err := pool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = p
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("pki: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func pool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("pki: CA: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("pki: CA %s: no PEM certificate in it", caFile)
	}
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("pki: serial: %v", err)) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}

func writePair(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: key: %w", err)
	}
	// The key first, exclusively: a crash between the two leaves no
	// certificate whose key is missing.
	if err := writeNew(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeNew(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("pki: %s: %w", path, ErrExists)
		}
		return fmt.Errorf("pki: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("pki: %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("pki: %s: %w", path, err)
	}
	return f.Close()
}

// readPair loads a certificate and its key (crypto/tls checks that they belong
// together), which must be ECDSA, as this package makes them.
func readPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %s, %s: %w", certFile, keyFile, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("pki: %s: not an ECDSA key", keyFile)
	}
	return pair.Leaf, key, nil
}
