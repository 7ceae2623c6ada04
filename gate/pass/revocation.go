package pass

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Revocations is a list of revoked pass ids (cti). Each entry may carry an
// expiry, normally the pass's own exp: once that is past the pass is refused
// as expired anyway and Prune may drop the entry. The zero value is an empty
// list; it is safe for concurrent use.
type Revocations struct {
	mu sync.RWMutex
	m  map[string]time.Time // pass id -> until (zero: keep for ever)
}

// Add revokes passID. until is when the entry may be pruned (zero: never). If
// passID is already revoked the later until wins, and zero beats any time.
func (r *Revocations) Add(passID string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]time.Time)
	}
	if old, ok := r.m[passID]; ok && (old.IsZero() || (!until.IsZero() && old.After(until))) {
		return
	}
	r.m[passID] = until
}

// Remove takes passID off the list and reports whether it was there.
func (r *Revocations) Remove(passID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[passID]
	delete(r.m, passID)
	return ok
}

// Contains reports whether passID is revoked.
func (r *Revocations) Contains(passID string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.m[passID]
	return ok
}

func (r *Revocations) containsBytes(passID []byte) bool {
	if r == nil {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.m[string(passID)]
	return ok
}

// Len returns the number of entries.
func (r *Revocations) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m)
}

// Prune drops the entries whose until is before t and returns how many it
// dropped. Use Verifier.Prune, which allows for the clock skew; pruning at the
// bare current time would let a revoked pass through during the skew
// allowance after its expiry.
func (r *Revocations) Prune(t time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for id, until := range r.m {
		if !until.IsZero() && until.Before(t) {
			delete(r.m, id)
			n++
		}
	}
	return n
}

// ParseRevocations reads a revocation list in text form: one pass id per line,
// optionally followed by whitespace and an RFC 3339 time (the entry's until).
// Blank lines and lines starting with # are skipped.
//
//	# revoked 2025-03-02 by the office
//	3f9c0a1be24d7781 2025-03-09T00:00:00+08:00
//	visitor-0042
func ParseRevocations(rd io.Reader) (*Revocations, error) {
	r := &Revocations{}
	sc := bufio.NewScanner(rd)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		f := strings.Fields(s)
		if len(f) > 2 {
			return nil, fmt.Errorf("pass: revocation list line %d: %d fields, want pass id and optional time", line, len(f))
		}
		if err := ValidPassID(f[0]); err != nil {
			return nil, fmt.Errorf("pass: revocation list line %d: %w", line, err)
		}
		var until time.Time
		if len(f) == 2 {
			t, err := time.Parse(time.RFC3339, f[1])
			if err != nil {
				return nil, fmt.Errorf("pass: revocation list line %d: until: %w", line, err)
			}
			until = t
		}
		r.Add(f[0], until)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("pass: revocation list: %w", err)
	}
	return r, nil
}
