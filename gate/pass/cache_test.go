package pass

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestCacheHitStillChecksTimesAndRevocation(t *testing.T) {
	k := newKit(t)
	k.v.Cache = NewCache(16)
	c := testClaims()
	code := k.issue(t, c)
	now := t0.Add(time.Hour)
	if _, err := k.v.Verify(code, now); err != nil {
		t.Fatal(err)
	}
	if k.v.Cache.Len() != 1 {
		t.Fatalf("cache len %d after a good pass", k.v.Cache.Len())
	}
	got, err := k.v.Verify(code, now)
	if err != nil || got.Subject != c.Subject || got.PassID == "" {
		t.Fatalf("cached verify: %+v %v", got, err)
	}
	if _, err := k.v.Verify(code, c.Expiry.Add(time.Second)); !errors.Is(err, ReasonExpired) {
		t.Errorf("cached pass after expiry: %v, want expired", err)
	}
	if _, err := k.v.Verify(code, c.NotBefore.Add(-time.Hour)); !errors.Is(err, ReasonNotYetValid) {
		t.Errorf("cached pass before nbf: %v, want not_yet_valid", err)
	}
	k.v.Revoked.Add(got.PassID, time.Time{})
	if _, err := k.v.Verify(code, now); !errors.Is(err, ReasonRevoked) {
		t.Errorf("cached pass after revocation: %v, want revoked", err)
	}
}

func TestCacheForgetsRemovedAndReplacedKeys(t *testing.T) {
	k, code, now := cachedKit(t)
	kid := k.iss.KeyID()
	k.v.Keys.Remove(kid)
	if _, err := k.v.Verify(code, now); !errors.Is(err, ReasonUnknownKey) {
		t.Fatalf("cached pass after its key was removed: %v, want unknown_key", err)
	}
	// Another key under the same kid: the pass must be checked against it, and fail.
	other, _ := NewIssuer(testKey("B"), kid)
	if err := k.v.Keys.Add(kid, other.Public()); err != nil {
		t.Fatal(err)
	}
	if _, err := k.v.Verify(code, now); !errors.Is(err, ReasonBadSignature) {
		t.Fatalf("cached pass under a replaced key: %v, want bad_signature", err)
	}
}

func TestCacheDoesNotCacheRefusalsOrNearMisses(t *testing.T) {
	k, code, now := cachedKit(t)
	// Flip one base45 character in the signature's part: a different key, verified in full.
	b := []byte(code)
	i := len(b) - 5
	b[i] = map[bool]byte{true: 'A', false: 'B'}[b[i] != 'A']
	if _, err := k.v.Verify(string(b), now); err == nil {
		t.Fatal("a tampered copy of a cached pass was accepted")
	}
	if k.v.Cache.Len() != 1 {
		t.Errorf("cache len %d: a refusal was cached", k.v.Cache.Len())
	}
	unknown, _ := NewIssuer(testKey("C"), "")
	code2, _ := unknown.Issue(testClaims())
	if _, err := k.v.Verify(code2, now); !errors.Is(err, ReasonUnknownKey) {
		t.Fatal(err)
	}
	k.v.Keys.Add(unknown.KeyID(), unknown.Public())
	if _, err := k.v.Verify(code2, now); err != nil {
		t.Fatalf("pass refused for an unknown key stays refused once the key arrives: %v", err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	k := newKit(t)
	k.v.Cache = NewCache(3)
	now := t0.Add(time.Hour)
	var codes []string
	for i := range 5 {
		c := testClaims()
		c.Subject = fmt.Sprint("P", i)
		codes = append(codes, k.issue(t, c))
		if _, err := k.v.Verify(codes[i], now); err != nil {
			t.Fatal(err)
		}
	}
	if n := k.v.Cache.Len(); n != 3 {
		t.Fatalf("cache len %d, want 3", n)
	}
	for i, code := range codes {
		_, hit := k.v.Cache.m[code]
		if want := i >= 2; hit != want {
			t.Errorf("pass %d cached=%v, want %v (oldest evicted first)", i, hit, want)
		}
	}
	for i, code := range codes {
		if got, err := k.v.Verify(code, now); err != nil || got.Subject != fmt.Sprint("P", i) {
			t.Errorf("pass %d: %+v %v", i, got, err)
		}
	}
	var nilCache *Cache
	if nilCache.Len() != 0 {
		t.Error("nil cache has entries")
	}
}

// cachedKit is a kit with a cache that already holds one good pass.
func cachedKit(t *testing.T) (*kit, string, time.Time) {
	t.Helper()
	k := newKit(t)
	k.v.Cache = NewCache(16)
	code := k.issue(t, testClaims())
	now := t0.Add(time.Hour)
	if _, err := k.v.Verify(code, now); err != nil {
		t.Fatal(err)
	}
	return k, code, now
}
