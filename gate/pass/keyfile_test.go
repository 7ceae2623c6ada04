package pass

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	key := testKey("A")
	pub := key.Public().(ed25519.PublicKey)
	for _, kid := range []string{"", "school-2025.a"} {
		wantKid := kid
		if kid == "" {
			wantKid = KeyID(pub)
		}
		priv := filepath.Join(dir, "k"+kid+".key")
		pubf := filepath.Join(dir, "k"+kid+".pub")
		if err := SavePrivateKey(priv, key, kid); err != nil {
			t.Fatal(err)
		}
		if err := SavePublicKey(pubf, pub, kid); err != nil {
			t.Fatal(err)
		}
		gotKey, gotKid, err := LoadPrivateKey(priv)
		if err != nil || !bytes.Equal(gotKey, key) || gotKid != wantKid {
			t.Fatalf("LoadPrivateKey: %v %q, want kid %q", err, gotKid, wantKid)
		}
		gotPub, gotKid, err := LoadPublicKey(pubf)
		if err != nil || !bytes.Equal(gotPub, pub) || gotKid != wantKid {
			t.Fatalf("LoadPublicKey: %v %q, want kid %q", err, gotKid, wantKid)
		}
		if runtime.GOOS != "windows" {
			if st, _ := os.Stat(priv); st.Mode().Perm() != 0o600 {
				t.Errorf("private key mode %v", st.Mode())
			}
		}
		// Never overwrite a key.
		if err := SavePrivateKey(priv, testKey("B"), kid); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("overwrite: %v", err)
		}
		if got, _, _ := LoadPrivateKey(priv); !bytes.Equal(got, key) {
			t.Fatal("key was overwritten")
		}
	}
	// The file is what the package doc promises.
	data, _ := os.ReadFile(filepath.Join(dir, "kschool-2025.a.pub"))
	if !bytes.Contains(data, []byte("\nkid: school-2025.a\n-----BEGIN PUBLIC KEY-----\n")) {
		t.Fatalf("public key file:\n%s", data)
	}
	// The loaded pair signs and verifies.
	k, kid, _ := LoadPrivateKey(filepath.Join(dir, "kschool-2025.a.key"))
	p, pkid, _ := LoadPublicKey(filepath.Join(dir, "kschool-2025.a.pub"))
	iss, err := NewIssuer(k, kid)
	if err != nil {
		t.Fatal(err)
	}
	ring := &Keyring{}
	ring.Add(pkid, p)
	code, _ := iss.Issue(testClaims())
	if _, err := (&Verifier{Keys: ring}).Verify(code, t0); err != nil {
		t.Fatal(err)
	}
}

func TestKeyFilesForeign(t *testing.T) {
	// A bare PEM key as openssl writes it: no kid line, so the kid is derived.
	key := testKey("A")
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	bare := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	got, kid, err := ParsePrivateKey(bare)
	if err != nil || !bytes.Equal(got, key) || kid != KeyID(key.Public().(ed25519.PublicKey)) {
		t.Fatalf("bare PKCS#8: %v %q", err, kid)
	}
	pder, _ := x509.MarshalPKIXPublicKey(key.Public())
	if _, kid, err := ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder})); err != nil || kid != KeyID(key.Public().(ed25519.PublicKey)) {
		t.Fatalf("bare PKIX: %v %q", err, kid)
	}
}

func TestKeyFileErrors(t *testing.T) {
	key := testKey("A")
	privPEM, _ := MarshalPrivateKey(key, "k1")
	pubPEM, _ := MarshalPublicKey(key.Public().(ed25519.PublicKey), "k1")
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER})
	withHeader := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Kid": "x"}, Bytes: pubPEM})

	for name, tc := range map[string]struct {
		data    []byte
		private bool
		err     string
	}{
		"empty":             {nil, true, "no PEM block"},
		"text":              {[]byte("kid: k1\nhello\n"), false, "no PEM block"},
		"public as private": {pubPEM, true, "this is a public key file"},
		"private as public": {privPEM, false, "this is a private key file"},
		"encrypted":         {[]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), true, "not supported"},
		"damaged":           {bytes.Replace(privPEM, []byte("-----END"), []byte("-----XXX"), 1), true, "damaged"},
		"two blocks":        {append(bytes.Clone(pubPEM), pubPEM...), false, "more than one PEM block"},
		"two kid lines":     {append([]byte("kid: k2\n"), pubPEM...), false, "more than one kid"},
		"bad kid":           {bytes.Replace(pubPEM, []byte("kid: k1"), []byte("kid: k 1"), 1), false, "not allowed"},
		"empty kid":         {bytes.Replace(pubPEM, []byte("kid: k1"), []byte("kid:"), 1), false, "empty"},
		"not DER":           {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}), true, "asn1"},
		"EC private":        {ecPEM, true, "want Ed25519"},
		"EC public":         {ecPubPEM, false, "want Ed25519"},
		"PEM headers":       {withHeader, false, "headers"},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			prefix := "pass: public key: "
			if tc.private {
				prefix = "pass: private key: "
				_, _, err = ParsePrivateKey(tc.data)
			} else {
				_, _, err = ParsePublicKey(tc.data)
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), prefix) {
				t.Fatalf("err = %v, want %q... containing %q", err, prefix, tc.err)
			}
		})
	}

	dir := t.TempDir()
	if _, _, err := LoadPublicKey(filepath.Join(dir, "missing.pub")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.pub") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, pubPEM, 0o600)
	if _, _, err := LoadPrivateKey(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("error does not name the file: %v", err)
	}
	if err := SavePublicKey(filepath.Join(dir, "x.pub"), key.Public().(ed25519.PublicKey), "bad kid"); err == nil {
		t.Error("bad kid saved")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.pub")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("file left behind after a refused save")
	}
	if _, err := MarshalPrivateKey(key[:10], ""); err == nil {
		t.Error("short private key marshalled")
	}
	if err := SavePrivateKey(filepath.Join(dir, "no", "such", "dir.key"), key, ""); err == nil {
		t.Error("saved into a missing directory")
	}
}

// TestLoadOrCreatePrivateKey: the first call makes and saves a key (with the
// kid prefix), the next ones load the same; the public key is written once.
func TestLoadOrCreatePrivateKey(t *testing.T) {
	dir := t.TempDir()
	path, pub := filepath.Join(dir, "cmd.key"), filepath.Join(dir, "cmd.pub")
	k1, kid1, err := LoadOrCreatePrivateKey(path, "cmd-")
	if err != nil || !strings.HasPrefix(kid1, "cmd-") {
		t.Fatalf("create: %q %v", kid1, err)
	}
	k2, kid2, err := LoadOrCreatePrivateKey(path, "cmd-")
	if err != nil || kid2 != kid1 || !k1.Equal(k2) {
		t.Fatalf("second call made another key: %q %v", kid2, err)
	}
	for range 2 {
		if err := EnsurePublicKey(pub, k1, kid1); err != nil {
			t.Fatal(err)
		}
	}
	if p, kid, err := LoadPublicKey(pub); err != nil || kid != kid1 || !p.Equal(k1.Public()) {
		t.Fatalf("public key: %q %v", kid, err)
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreatePrivateKey(path, ""); err == nil {
		t.Fatal("a broken key file was replaced rather than refused")
	}
}
