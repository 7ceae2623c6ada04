package pass

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Key files are PEM: PKCS#8 ("PRIVATE KEY") for the private key and PKIX
// ("PUBLIC KEY") for the public key, so openssl and other tools read them. The
// kid is written as a "kid: ..." line of explanatory text before the PEM
// block (RFC 7468 section 2 lets parsers skip such text; PEM headers inside
// the block would make openssl refuse the file). A file without a kid line
// gets KeyID of its public key.

const kidLabel = "kid:"

func marshalKey(what, typ, kid string, der []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "campusgate pass %s key (Ed25519)\n%s %s\n", what, kidLabel, kid)
	_ = pem.Encode(&b, &pem.Block{Type: typ, Bytes: der}) // writes to a bytes.Buffer cannot fail
	return b.Bytes()
}

// MarshalPrivateKey returns key as a PEM PKCS#8 file under kid (empty: derived).
func MarshalPrivateKey(key ed25519.PrivateKey, kid string) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("pass: marshal private key: %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if kid == "" {
		kid = KeyID(key.Public().(ed25519.PublicKey))
	}
	if err := ValidKeyID(kid); err != nil {
		return nil, fmt.Errorf("pass: marshal private key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pass: marshal private key: %w", err)
	}
	return marshalKey("signing", "PRIVATE KEY", kid, der), nil
}

// MarshalPublicKey returns pub as a PEM PKIX file under kid (empty: derived).
func MarshalPublicKey(pub ed25519.PublicKey, kid string) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("pass: marshal public key: %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if kid == "" {
		kid = KeyID(pub)
	}
	if err := ValidKeyID(kid); err != nil {
		return nil, fmt.Errorf("pass: marshal public key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("pass: marshal public key: %w", err)
	}
	return marshalKey("verification", "PUBLIC KEY", kid, der), nil
}

// parseKeyFile finds the single PEM block of type want and the kid line before it.
func parseKeyFile(data []byte, want string) (der []byte, kid string, err error) {
	begin := bytes.Index(data, []byte("-----BEGIN "))
	if begin < 0 {
		return nil, "", errors.New("no PEM block")
	}
	for _, line := range strings.Split(string(data[:begin]), "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), kidLabel)
		if !ok {
			continue
		}
		if kid != "" {
			return nil, "", errors.New("more than one kid line")
		}
		kid = strings.TrimSpace(v)
		if err := ValidKeyID(kid); err != nil {
			return nil, "", err
		}
	}
	block, rest := pem.Decode(data[begin:])
	if block == nil {
		return nil, "", errors.New("PEM block is damaged")
	}
	if bytes.Contains(rest, []byte("-----BEGIN ")) {
		return nil, "", errors.New("more than one PEM block")
	}
	if block.Type != want {
		hint := ""
		switch block.Type {
		case "PUBLIC KEY":
			hint = " (this is a public key file)"
		case "PRIVATE KEY":
			hint = " (this is a private key file)"
		case "ENCRYPTED PRIVATE KEY":
			hint = " (encrypted keys are not supported)"
		}
		return nil, "", fmt.Errorf("PEM block is %q, want %q%s", block.Type, want, hint)
	}
	if len(block.Headers) != 0 {
		return nil, "", errors.New("PEM block has headers; expected none")
	}
	return block.Bytes, kid, nil
}

// ParsePrivateKey parses what MarshalPrivateKey wrote (or any unencrypted PEM
// PKCS#8 Ed25519 key, whose kid is then derived).
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, string, error) {
	der, kid, err := parseKeyFile(data, "PRIVATE KEY")
	if err != nil {
		return nil, "", fmt.Errorf("pass: private key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, "", fmt.Errorf("pass: private key: %w", err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, "", fmt.Errorf("pass: private key: %T, want Ed25519", k)
	}
	if kid == "" {
		kid = KeyID(key.Public().(ed25519.PublicKey))
	}
	return key, kid, nil
}

// ParsePublicKey parses what MarshalPublicKey wrote (or any PEM PKIX Ed25519
// public key, whose kid is then derived).
func ParsePublicKey(data []byte) (ed25519.PublicKey, string, error) {
	der, kid, err := parseKeyFile(data, "PUBLIC KEY")
	if err != nil {
		return nil, "", fmt.Errorf("pass: public key: %w", err)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, "", fmt.Errorf("pass: public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, "", fmt.Errorf("pass: public key: %T, want Ed25519", k)
	}
	if kid == "" {
		kid = KeyID(pub)
	}
	return pub, kid, nil
}

// LoadPrivateKey reads a private key file and returns the key and its kid.
func LoadPrivateKey(path string) (ed25519.PrivateKey, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("pass: load private key: %w", err)
	}
	key, kid, err := ParsePrivateKey(data)
	if err != nil {
		return nil, "", fmt.Errorf("%w (file %s)", err, path)
	}
	return key, kid, nil
}

// LoadOrCreatePrivateKey loads the private key at path, or, when there is
// none, makes one whose kid is kidPrefix + KeyID and saves it there (0600).
func LoadOrCreatePrivateKey(path, kidPrefix string) (ed25519.PrivateKey, string, error) {
	key, kid, err := LoadPrivateKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		var pub ed25519.PublicKey
		if pub, key, err = ed25519.GenerateKey(nil); err != nil {
			return nil, "", fmt.Errorf("pass: new key: %w", err)
		}
		kid = kidPrefix + KeyID(pub)
		err = SavePrivateKey(path, key, kid)
	}
	if err != nil {
		return nil, "", err
	}
	return key, kid, nil
}

// EnsurePublicKey writes key's public half to path unless the file is there.
func EnsurePublicKey(path string, key ed25519.PrivateKey, kid string) error {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return SavePublicKey(path, key.Public().(ed25519.PublicKey), kid)
}

// LoadPublicKey reads a public key file and returns the key and its kid.
func LoadPublicKey(path string) (ed25519.PublicKey, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("pass: load public key: %w", err)
	}
	pub, kid, err := ParsePublicKey(data)
	if err != nil {
		return nil, "", fmt.Errorf("%w (file %s)", err, path)
	}
	return pub, kid, nil
}

// SavePrivateKey writes key to a new file readable by its owner only. It
// refuses to overwrite: losing a signing key that passes are out under is
// worse than an error.
func SavePrivateKey(path string, key ed25519.PrivateKey, kid string) error {
	data, err := MarshalPrivateKey(key, kid)
	if err != nil {
		return err
	}
	if err := writeNew(path, data, 0o600); err != nil {
		return fmt.Errorf("pass: save private key: %w", err)
	}
	return nil
}

// SavePublicKey writes pub to a new file (mode 0644); it refuses to overwrite.
func SavePublicKey(path string, pub ed25519.PublicKey, kid string) error {
	data, err := MarshalPublicKey(pub, kid)
	if err != nil {
		return err
	}
	if err := writeNew(path, data, 0o644); err != nil {
		return fmt.Errorf("pass: save public key: %w", err)
	}
	return nil
}

func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
