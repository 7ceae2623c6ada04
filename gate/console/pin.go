package console

import (
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// pinGuard checks guard PINs from the LAN. bcrypt is slow on purpose (tens of
// ms on a Pi 4, more on a Zero), and the page makes a request per decision, so
// a PIN that was right is remembered for a while under a SHA-256 of the
// credentials; wrong ones are counted per client address, which is locked out
// after maxFails in a row, so a 6-digit PIN cannot be guessed from the LAN.
type pinGuard struct {
	hash []byte
	now  func() time.Time

	mu    sync.Mutex
	good  map[[32]byte]time.Time // credentials → valid until
	fails map[string]*failures   // client IP → recent failures
}

type failures struct {
	n           int
	lockedUntil time.Time
}

const (
	goodFor  = 10 * time.Minute
	maxFails = 5
	lockout  = time.Minute
)

func newPINGuard(hash string, now func() time.Time) *pinGuard {
	return &pinGuard{hash: []byte(hash), now: now, good: map[[32]byte]time.Time{}, fails: map[string]*failures{}}
}

// check reports whether user and pin are right for a request from ip, and if
// not, how long ip must wait before trying again (zero: it may retry now).
func (g *pinGuard) check(ip, user, pin string) (ok bool, wait time.Duration) {
	now := g.now()
	key := sha256.Sum256([]byte(user + "\x00" + pin))
	g.mu.Lock()
	if f := g.fails[ip]; f != nil && now.Before(f.lockedUntil) {
		g.mu.Unlock()
		return false, f.lockedUntil.Sub(now)
	}
	if until, hit := g.good[key]; hit && now.Before(until) {
		g.mu.Unlock()
		return true, 0
	}
	g.mu.Unlock()

	ok = len(g.hash) > 0 && user != "" && bcrypt.CompareHashAndPassword(g.hash, []byte(pin)) == nil

	g.mu.Lock()
	defer g.mu.Unlock()
	if ok {
		delete(g.fails, ip)
		if len(g.good) > 64 { // a handful of guards; drop stale entries now and then
			for k, until := range g.good {
				if !now.Before(until) {
					delete(g.good, k)
				}
			}
		}
		g.good[key] = now.Add(goodFor)
		return true, 0
	}
	f := g.fails[ip]
	if f == nil {
		f = &failures{}
		g.fails[ip] = f
	}
	f.n++
	if f.n >= maxFails {
		f.n = 0
		f.lockedUntil = now.Add(lockout)
		return false, lockout
	}
	return false, 0
}
