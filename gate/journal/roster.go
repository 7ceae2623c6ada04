package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Person is one roster record, sent down by the school.
type Person struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Role       string `json:"role"`
	Grade      string `json:"grade,omitempty"`
	Class      string `json:"class,omitempty"`
	CardID     string `json:"card_id,omitempty"`
	Health     string `json:"health,omitempty"`      // green|yellow|red|""
	HealthDate string `json:"health_date,omitempty"` // YYYY-MM-DD of the health report
}

// The roster bucket holds two key spaces: person id -> JSON and card id ->
// person id. Prefixes (not nested buckets) keep any person id legal.
var (
	pfxPerson = []byte("p:")
	pfxCard   = []byte("c:")
)

// normCard makes card lookups independent of reader formatting (spaces, hex
// case).
func normCard(card string) string { return strings.ToUpper(strings.TrimSpace(card)) }

func personKey(id string) []byte { return append(bytes.Clone(pfxPerson), id...) }
func cardKey(card string) []byte { return append(bytes.Clone(pfxCard), normCard(card)...) }

func validPerson(p *Person) error {
	if p.ID == "" {
		return fmt.Errorf("person %q: empty id", p.Name)
	}
	if p.HealthDate != "" {
		if _, err := time.Parse(time.DateOnly, p.HealthDate); err != nil {
			return fmt.Errorf("person %s: health_date %q: want YYYY-MM-DD", p.ID, p.HealthDate)
		}
	}
	return nil
}

// putPerson stores p and its card index; a card held by someone else is
// refused, since it would admit the wrong person.
func putPerson(b *bolt.Bucket, p *Person) error {
	if err := validPerson(p); err != nil {
		return err
	}
	if err := deletePerson(b, p.ID); err != nil {
		return err
	}
	if c := normCard(p.CardID); c != "" {
		ck := cardKey(c)
		if owner := b.Get(ck); owner != nil && string(owner) != p.ID {
			return fmt.Errorf("person %s: card %s already belongs to %s", p.ID, c, owner)
		}
		if err := b.Put(ck, []byte(p.ID)); err != nil {
			return err
		}
	}
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return b.Put(personKey(p.ID), v)
}

func deletePerson(b *bolt.Bucket, id string) error {
	k := personKey(id)
	old := b.Get(k)
	if old == nil {
		return nil
	}
	var p Person
	if err := json.Unmarshal(old, &p); err != nil {
		return fmt.Errorf("decode person %s: %w", id, err)
	}
	if c := normCard(p.CardID); c != "" {
		if owner := b.Get(cardKey(c)); string(owner) == id {
			if err := b.Delete(cardKey(c)); err != nil {
				return err
			}
		}
	}
	return b.Delete(k)
}

// ReplaceRoster replaces the whole roster atomically. A version older than the
// stored one is refused (ErrVersion); the same version is accepted again so a
// redelivered snapshot is harmless.
func (j *Journal) ReplaceRoster(version uint64, people []Person) error {
	err := j.update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if cur := getU64(m, mRosterVersion); version < cur {
			return fmt.Errorf("roster version %d is older than stored %d: %w", version, cur, ErrVersion)
		}
		if err := tx.DeleteBucket(bRoster); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bRoster)
		if err != nil {
			return err
		}
		seen := make(map[string]bool, len(people))
		for i := range people {
			if seen[people[i].ID] {
				return fmt.Errorf("person %s listed twice", people[i].ID)
			}
			seen[people[i].ID] = true
			if err := putPerson(b, &people[i]); err != nil {
				return err
			}
		}
		return m.Put(mRosterVersion, u64(version))
	})
	j.rosterChanged()
	return j.wrap("replace roster", err)
}

// ApplyRosterDelta moves the roster from version from to version to. A from
// other than the stored version is refused with ErrVersion (the sync layer
// must then fetch a full snapshot). Removals are applied before upserts.
func (j *Journal) ApplyRosterDelta(from, to uint64, upsert []Person, remove []string) error {
	if to <= from {
		return fmt.Errorf("journal: roster delta %d -> %d does not move forward: %w", from, to, ErrVersion)
	}
	err := j.update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if cur := getU64(m, mRosterVersion); cur != from {
			return fmt.Errorf("roster delta from %d, stored version is %d: %w", from, cur, ErrVersion)
		}
		b := tx.Bucket(bRoster)
		for _, id := range remove {
			if err := deletePerson(b, id); err != nil {
				return err
			}
		}
		for i := range upsert {
			if err := putPerson(b, &upsert[i]); err != nil {
				return err
			}
		}
		return m.Put(mRosterVersion, u64(to))
	})
	j.rosterChanged()
	return j.wrap("roster delta", err)
}

// Person looks up a person by id.
func (j *Journal) Person(id string) (Person, bool, error) {
	idx, err := j.rosterIndex()
	if err != nil {
		return Person{}, false, j.wrap("person", err)
	}
	p, ok := idx.byID[id]
	return p, ok, nil
}

// PersonByCard looks up a person by card id (spaces trimmed, case folded).
func (j *Journal) PersonByCard(card string) (Person, bool, error) {
	c := normCard(card)
	if c == "" {
		return Person{}, false, nil
	}
	idx, err := j.rosterIndex()
	if err != nil {
		return Person{}, false, j.wrap("person by card", err)
	}
	p, ok := idx.byID[idx.byCard[c]]
	return p, ok, nil
}

// rosterIdx is the roster in memory. Every scan looks a person up, and a read
// transaction plus a JSON decode per scan is most of the identity step's time;
// a school's roster (a few thousand people) is a few hundred KiB.
type rosterIdx struct {
	gen    uint64 // rosterGen when it was read
	byID   map[string]Person
	byCard map[string]string // normalised card id → person id
}

// rosterIndex returns the in-memory roster, reading it from the file when a
// write has changed it since. A writer bumps rosterGen after its commit, and
// an index remembers the generation it was read under, so an index read
// before a commit is never taken for one read after it.
func (j *Journal) rosterIndex() (*rosterIdx, error) {
	if j.isClosed() {
		return nil, ErrClosed
	}
	gen := j.rosterGen.Load()
	if idx := j.roster.Load(); idx != nil && idx.gen == gen {
		return idx, nil
	}
	idx := &rosterIdx{gen: gen, byID: map[string]Person{}, byCard: map[string]string{}}
	err := j.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bRoster).ForEach(func(k, v []byte) error {
			switch {
			case bytes.HasPrefix(k, pfxPerson):
				var p Person
				if err := json.Unmarshal(v, &p); err != nil {
					return fmt.Errorf("decode person %s: %w", k[len(pfxPerson):], err)
				}
				idx.byID[p.ID] = p
			case bytes.HasPrefix(k, pfxCard):
				idx.byCard[string(k[len(pfxCard):])] = string(v)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	j.roster.Store(idx)
	return idx, nil
}

// rosterChanged makes the next lookup read the roster again.
func (j *Journal) rosterChanged() { j.rosterGen.Add(1) }

// RosterVersion is the version of the stored roster (0: none yet).
func (j *Journal) RosterVersion() (uint64, error) {
	var v uint64
	err := j.view(func(tx *bolt.Tx) error {
		v = getU64(tx.Bucket(bMeta), mRosterVersion)
		return nil
	})
	return v, j.wrap("roster version", err)
}

// revocationGrace keeps a revocation this long past its until before Purge
// drops it. until is normally the pass's expiry, but the verifier accepts a
// pass a clock-skew allowance (minutes) past it; a day covers any allowance
// and any gate clock that is somewhat behind.
const revocationGrace = 24 * time.Hour

// Revoke records that passID is revoked. until is when the record may be
// dropped (normally the pass's own expiry; zero: never). As in
// gate/pass.Revocations.Add, revoking again keeps the later until and zero
// beats any time, so a redelivered or reordered list never shortens one.
func (j *Journal) Revoke(passID string, until time.Time) error {
	if passID == "" {
		return errors.New("journal: revoke: empty pass id")
	}
	v, err := until.UTC().MarshalText()
	if err != nil {
		return fmt.Errorf("journal: revoke %s: %w", passID, err)
	}
	return j.wrap("revoke "+passID, j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRevocations)
		if old := b.Get([]byte(passID)); old != nil {
			var t time.Time
			if t.UnmarshalText(old) == nil && (t.IsZero() || (!until.IsZero() && !until.After(t))) {
				return nil
			}
		}
		return b.Put([]byte(passID), v)
	}))
}

// Revoked reports whether passID is on the revocation list, whatever its
// until (an expired pass is refused as expired anyway). It fails closed: if
// the journal cannot be read it reports true and logs (rate-limited), since
// admitting a revoked pass is worse than refusing a valid one to a gate that
// cannot record the admission anyway.
func (j *Journal) Revoked(passID string) bool {
	var found bool
	err := j.view(func(tx *bolt.Tx) error {
		found = tx.Bucket(bRevocations).Get([]byte(passID)) != nil
		return nil
	})
	if err != nil {
		j.warnLimited("journal: revocation lookup failed, treating pass as revoked", "pass", passID, "err", err)
		return true
	}
	return found
}

// Revocations returns pass id -> until (zero: kept for ever), in the form
// gate/pass.Revocations.Add takes.
func (j *Journal) Revocations() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := j.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bRevocations).ForEach(func(k, v []byte) error {
			var t time.Time
			if err := t.UnmarshalText(v); err != nil {
				return fmt.Errorf("decode revocation %s: %w", k, err)
			}
			out[string(k)] = t
			return nil
		})
	})
	if err != nil {
		return nil, j.wrap("revocations", err)
	}
	return out, nil
}

// expiredRevocations lists the revocations whose until is more than
// revocationGrace before now; zero until is never listed.
func expiredRevocations(tx *bolt.Tx, now time.Time) [][]byte {
	cutoff := now.Add(-revocationGrace)
	var del [][]byte
	c := tx.Bucket(bRevocations).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var t time.Time
		if t.UnmarshalText(v) == nil && !t.IsZero() && t.Before(cutoff) {
			del = append(del, bytes.Clone(k))
		}
	}
	return del
}

// PutKey stores a pass-signing public key (raw bytes in whatever form
// gate/pass parses) under its key id.
func (j *Journal) PutKey(kid string, pub []byte) error {
	if kid == "" || len(pub) == 0 {
		return fmt.Errorf("journal: put key %q: empty kid or key", kid)
	}
	return j.wrap("put key", j.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bKeys).Put([]byte(kid), pub)
	}))
}

// ReplaceKeys makes keys (kid -> public key bytes) the whole set of stored
// keys, in one transaction: the school sends its full set, and a key it no
// longer lists must stop being trusted.
func (j *Journal) ReplaceKeys(keys map[string][]byte) error {
	for kid, pub := range keys {
		if kid == "" || len(pub) == 0 {
			return fmt.Errorf("journal: replace keys: empty kid or key %q", kid)
		}
	}
	return j.wrap("replace keys", j.update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bKeys); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bKeys)
		if err != nil {
			return err
		}
		for kid, pub := range keys {
			if err := b.Put([]byte(kid), pub); err != nil {
				return err
			}
		}
		return nil
	}))
}

// Keys returns kid -> public key bytes.
func (j *Journal) Keys() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := j.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bKeys).ForEach(func(k, v []byte) error {
			out[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	if err != nil {
		return nil, j.wrap("keys", err)
	}
	return out, nil
}

var kConfigDoc = []byte("doc")

// PutConfig stores the gate's configuration document. A version older than
// the stored one is refused with ErrVersion.
func (j *Journal) PutConfig(version uint64, doc []byte) error {
	if len(doc) == 0 {
		return fmt.Errorf("journal: put config %d: empty document", version)
	}
	return j.wrap("put config", j.update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if cur := getU64(m, mConfigVersion); version < cur {
			return fmt.Errorf("config version %d is older than stored %d: %w", version, cur, ErrVersion)
		}
		if err := tx.Bucket(bConfig).Put(kConfigDoc, bytes.Clone(doc)); err != nil {
			return err
		}
		return m.Put(mConfigVersion, u64(version))
	}))
}

// Config returns the stored configuration version and document (0, nil: none).
func (j *Journal) Config() (uint64, []byte, error) {
	var ver uint64
	var doc []byte
	err := j.view(func(tx *bolt.Tx) error {
		ver = getU64(tx.Bucket(bMeta), mConfigVersion)
		doc = bytes.Clone(tx.Bucket(bConfig).Get(kConfigDoc))
		return nil
	})
	if err != nil {
		return 0, nil, j.wrap("config", err)
	}
	return ver, doc, nil
}

// UseNonce records that the school's command with nonce, valid until until,
// is being run, and reports whether it was new: false means it ran before
// (a replay, even one across a restart of gated). Nonces expired at now
// are dropped in the same commit, so the bucket holds only the few commands
// still valid.
func (j *Journal) UseNonce(nonce []byte, until, now time.Time) (bool, error) {
	if len(nonce) == 0 {
		return false, errors.New("journal: use nonce: empty nonce")
	}
	v, err := until.UTC().MarshalText()
	if err != nil {
		return false, fmt.Errorf("journal: use nonce: %w", err)
	}
	fresh := false
	err = j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bNonces)
		var old [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			var t time.Time
			if t.UnmarshalText(v) != nil || t.Before(now) {
				old = append(old, k)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if b.Get(nonce) != nil {
			return nil
		}
		fresh = true
		return b.Put(nonce, v)
	})
	return fresh, j.wrap("use nonce", err)
}
