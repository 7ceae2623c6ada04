package pass

import (
	"bytes"
	"sync"
)

// Cache remembers passes whose envelope, signature and claims were good, keyed
// by the exact text of the code. Pupils show the same pass every day, and the
// Ed25519 check is most of the cost of a scan on a small board; a cached pass
// is accepted only while the key that signed it is still in the keyring under
// the same kid, and its expiry, revocation and not-before are checked on every
// scan as for a pass never seen. A code that differs in a single character is
// a different key and is verified in full, so the cache cannot be used to get
// a forged pass past the signature check.
//
// Refusals are not cached: a pass refused for its signature stays refused
// without help, and one refused for an unknown key must be accepted as soon as
// the key arrives. A Cache is safe for concurrent use; the nil *Cache caches
// nothing.
type Cache struct {
	mu   sync.Mutex
	max  int
	m    map[string]cached
	ring []string // codes in insertion order; the oldest is evicted first
	next int      // ring index of the oldest entry once the ring is full
}

type cached struct {
	c   Claims
	cti []byte
	key *ringKey // the keyring entry that accepted the signature
}

// NewCache returns a cache of at most n passes (n < 1 means 1). A school's
// whole roster is a good size: a few thousand entries of a few hundred bytes.
func NewCache(n int) *Cache {
	n = max(n, 1)
	return &Cache{max: n, m: make(map[string]cached, n), ring: make([]string, 0, n)}
}

// Len returns the number of cached passes.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *Cache) get(code string, keys *Keyring) (Claims, []byte, bool) {
	if c == nil {
		return Claims{}, nil, false
	}
	c.mu.Lock()
	e, ok := c.m[code]
	c.mu.Unlock()
	if !ok {
		return Claims{}, nil, false
	}
	// A key removed (or replaced under its kid) since the pass was verified
	// must stop the pass at once: look it up again.
	rk, ok := keys.verifier([]byte(e.c.KeyID))
	if !ok || rk != e.key {
		return Claims{}, nil, false
	}
	return e.c, e.cti, true
}

func (c *Cache) put(code string, cl Claims, cti []byte, key *ringKey) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[code]; ok {
		c.m[code] = cached{c: cl, cti: bytes.Clone(cti), key: key}
		return
	}
	if len(c.ring) < c.max {
		c.ring = append(c.ring, code)
	} else {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = code
		c.next = (c.next + 1) % c.max
	}
	c.m[code] = cached{c: cl, cti: bytes.Clone(cti), key: key}
}
