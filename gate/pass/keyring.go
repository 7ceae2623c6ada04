package pass

import (
	"crypto/ed25519"
	"crypto/subtle"
	"fmt"
	"slices"
	"sync"

	"github.com/veraison/go-cose"
)

// Keyring is the set of trusted issuer public keys, by kid. Rotation is Add of
// the new key, then (once no pass signed by the old one is still valid)
// Remove of the old one. The zero value is an empty keyring; it is safe for
// concurrent use.
type Keyring struct {
	mu   sync.RWMutex
	keys map[string]*ringKey
}

type ringKey struct {
	pub ed25519.PublicKey
	v   cose.Verifier
}

// Add trusts pub under kid. Adding the same key again is a no-op; adding a
// different key under a kid already in use is an error, since a kid that
// silently changes meaning would let one key stand in for another.
func (k *Keyring) Add(kid string, pub ed25519.PublicKey) error {
	if err := ValidKeyID(kid); err != nil {
		return fmt.Errorf("pass: keyring add: %w", err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("pass: keyring add %s: public key is %d bytes, want %d", kid, len(pub), ed25519.PublicKeySize)
	}
	pub = slices.Clone(pub)
	v, err := cose.NewVerifier(cose.AlgorithmEdDSA, pub)
	if err != nil {
		return fmt.Errorf("pass: keyring add %s: %w", kid, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if old, ok := k.keys[kid]; ok {
		if subtle.ConstantTimeCompare(old.pub, pub) == 1 {
			return nil
		}
		return fmt.Errorf("pass: keyring add %s: kid already in use for another key", kid)
	}
	if k.keys == nil {
		k.keys = make(map[string]*ringKey)
	}
	k.keys[kid] = &ringKey{pub: pub, v: v}
	return nil
}

// Remove stops trusting kid and reports whether it was there.
func (k *Keyring) Remove(kid string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.keys[kid]
	delete(k.keys, kid)
	return ok
}

// Lookup returns the key trusted under kid.
func (k *Keyring) Lookup(kid string) (ed25519.PublicKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	rk, ok := k.keys[kid]
	if !ok {
		return nil, false
	}
	return slices.Clone(rk.pub), true
}

// KeyIDs returns the trusted kids, sorted.
func (k *Keyring) KeyIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Len returns the number of trusted keys.
func (k *Keyring) Len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.keys)
}

// verifier looks a kid up straight from the header bytes (no allocation). The
// entry's identity tells a cached verification whether the key is still the
// one that checked it.
func (k *Keyring) verifier(kid []byte) (*ringKey, bool) {
	if k == nil {
		return nil, false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	rk, ok := k.keys[string(kid)]
	return rk, ok
}
