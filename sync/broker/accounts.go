package broker

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"campusgate/sync/wire"

	"golang.org/x/crypto/bcrypt"
)

// Role is what an MQTT account may do. Its zero value is no role at all, so a
// forgotten field never grants anything.
type Role int

// Roles.
const (
	RoleGate     Role = iota + 1 // one gate: its own uplink topics and its own downlink subscriptions
	RoleServer                   // campusd: everything under campusgate/v1, shared subscriptions included
	RoleDistrict                 // the district: read the schools' daily reports, nothing else
)

var roleNames = [...]string{RoleGate: "gate", RoleServer: "server", RoleDistrict: "district"}

func (r Role) String() string {
	if r > 0 && int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// MarshalText writes the role's name, so the accounts file stays readable,
// does not depend on the constants' order, and is the same file as when Role
// was a string.
func (r Role) MarshalText() ([]byte, error) {
	if r <= 0 || int(r) >= len(roleNames) {
		return nil, fmt.Errorf("broker: unknown role %d", int(r))
	}
	return []byte(roleNames[r]), nil
}

// UnmarshalText reads a role's name.
func (r *Role) UnmarshalText(b []byte) error {
	for i, n := range roleNames {
		if i > 0 && n == string(b) {
			*r = Role(i)
			return nil
		}
	}
	return fmt.Errorf("broker: unknown role %q (want gate, server or district)", b)
}

// Account is who a user name is. School and Gate are for gates.
type Account struct {
	Role   Role   `json:"role"`
	School string `json:"school,omitempty"`
	Gate   string `json:"gate,omitempty"`
}

// Authenticator checks a user name and password. The broker calls it for
// every connection, concurrently, so it must be quick for credentials it has
// already accepted once.
type Authenticator interface {
	Authenticate(username, password string) (Account, bool)
}

// Accounts is a set of bcrypt-hashed MQTT accounts, kept in a JSON file. It is
// safe for concurrent use. Load may be called while the broker runs: campusd
// rereads the file when "campusd gate add" changes it.
//
// Accounts remembers successful checks in memory, keyed by SHA-256 of the user
// name and password. A reconnect storm of hundreds of gates then costs one
// bcrypt per gate for the life of the process, not one per reconnect. Failures
// are never remembered. Any change (Add, Remove, Load) clears what is remembered.
type Accounts struct {
	// Cost is the bcrypt cost of new passwords; 0 means bcrypt.DefaultCost.
	Cost int

	mu    sync.RWMutex
	users map[string]stored
	gen   uint64 // bumped under mu on every change; a remembered check from an older generation is void

	good    sync.Map     // cacheKey → goodEntry
	bcrypts atomic.Int64 // bcrypt comparisons done (tests count them)
}

type stored struct {
	Hash    string  `json:"hash"`
	Account Account `json:"account"`
}

type goodEntry struct {
	acc Account
	gen uint64
}

func validate(username string, acc Account) error {
	if username == "" || len(username) > 64 || strings.ContainsAny(username, " \t\r\n+#/\x00") {
		return fmt.Errorf("broker: user name %.70q: 1 to 64 characters, no spaces, NUL, + # or /", username)
	}
	switch acc.Role {
	case RoleGate:
		if err := wire.ValidGateID(acc.Gate); err != nil {
			return fmt.Errorf("broker: gate account %s: %w", username, err)
		}
		if acc.Gate != username {
			return fmt.Errorf("broker: gate account %s: the user name must be the gate id (%s)", username, acc.Gate)
		}
		if err := wire.ValidID(acc.School); err != nil {
			return fmt.Errorf("broker: gate account %s: school: %w", username, err)
		}
	case RoleServer, RoleDistrict:
		// A gate's user name is its gate id and its client id. A server or
		// district whose name could be a gate id would be easy to give that
		// gate's client id by mistake, taking the gate's session over;
		// "campusd@hz-001" cannot be one (the broker refuses gate-shaped
		// client ids for these roles anyway).
		if wire.ValidGateID(username) == nil {
			return fmt.Errorf("broker: %v account %s: the name could be a gate id; use one with '@', e.g. campusd@SCHOOL", acc.Role, username)
		}
	default:
		return fmt.Errorf("broker: account %s: unknown role %v", username, acc.Role)
	}
	return nil
}

// Add sets username's password and account, replacing any old one.
func (a *Accounts) Add(username, password string, acc Account) error {
	if err := validate(username, acc); err != nil {
		return err
	}
	if len(password) < 12 || len(password) > 72 {
		return fmt.Errorf("broker: account %s: password of %d bytes, want 12 to 72 (bcrypt's limit)", username, len(password))
	}
	cost := a.Cost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return fmt.Errorf("broker: account %s: bcrypt: %w", username, err)
	}
	a.mu.Lock()
	if a.users == nil {
		a.users = map[string]stored{}
	}
	a.users[username] = stored{Hash: string(h), Account: acc}
	a.changedLocked()
	a.mu.Unlock()
	return nil
}

// Remove deletes username. A client already connected with it stays
// connected until it reconnects.
func (a *Accounts) Remove(username string) {
	a.mu.Lock()
	delete(a.users, username)
	a.changedLocked()
	a.mu.Unlock()
}

// Lookup returns username's account without checking a password.
func (a *Accounts) Lookup(username string) (Account, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	s, ok := a.users[username]
	return s.Account, ok
}

// Len is the number of accounts.
func (a *Accounts) Len() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.users)
}

// changedLocked forgets every remembered check: a changed or removed password
// must not be accepted from memory. The generation also voids a check that
// read the old account and finishes its bcrypt after the Clear.
func (a *Accounts) changedLocked() {
	a.gen++
	a.good.Clear()
}

func cacheKey(username, password string) [32]byte {
	h := sha256.New()
	h.Write([]byte(username))
	h.Write([]byte{0}) // user names have no NUL: ("ab","c") and ("a","bc") differ
	h.Write([]byte(password))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Authenticate implements Authenticator.
func (a *Accounts) Authenticate(username, password string) (Account, bool) {
	key := cacheKey(username, password)
	a.mu.RLock()
	s, ok := a.users[username]
	gen := a.gen
	a.mu.RUnlock()
	if !ok {
		return Account{}, false
	}
	if e, hit := a.good.Load(key); hit && e.(goodEntry).gen == gen {
		return e.(goodEntry).acc, true
	}
	a.bcrypts.Add(1)
	if bcrypt.CompareHashAndPassword([]byte(s.Hash), []byte(password)) != nil {
		return Account{}, false
	}
	a.mu.RLock()
	if a.gen == gen { // the accounts did not change while bcrypt ran
		a.good.Store(key, goodEntry{acc: s.Account, gen: gen})
	}
	a.mu.RUnlock()
	return s.Account, true
}

// Load replaces the accounts with those in path; a missing file is an empty
// set. On any error the accounts stay as they were.
func (a *Accounts) Load(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b = []byte("{}")
	} else if err != nil {
		return fmt.Errorf("broker: load accounts: %w", err)
	}
	var users map[string]stored
	if err := json.Unmarshal(b, &users); err != nil {
		return fmt.Errorf("broker: load accounts %s: %w", path, err)
	}
	for u, s := range users {
		if err := validate(u, s.Account); err != nil {
			return fmt.Errorf("broker: load accounts %s: %w", path, err)
		}
		if _, err := bcrypt.Cost([]byte(s.Hash)); err != nil {
			return fmt.Errorf("broker: load accounts %s: %s: hash: %w", path, u, err)
		}
	}
	if users == nil {
		users = map[string]stored{}
	}
	a.mu.Lock()
	a.users = users
	a.changedLocked()
	a.mu.Unlock()
	return nil
}

// Save writes the accounts to path, mode 0600, atomically: a temporary file in
// the same directory, synced, renamed over path, then the directory synced.
// A concurrent reader (campusd's reload) sees the old file or the new one.
func (a *Accounts) Save(path string) error {
	a.mu.RLock()
	users := a.users
	if users == nil {
		users = map[string]stored{}
	}
	b, err := json.MarshalIndent(users, "", "  ")
	a.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("broker: save accounts: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".accounts-*") // mode 0600
	if err != nil {
		return fmt.Errorf("broker: save accounts: %w", err)
	}
	defer os.Remove(tmp.Name()) // nothing left to remove after the rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("broker: save accounts: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("broker: save accounts: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("broker: save accounts: close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("broker: save accounts: %w", err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename itself durable
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("broker: save accounts: sync directory %s: %w", dir, err)
		}
	}
	return nil
}

// GatePassword returns a new random password: 24 bytes from crypto/rand in
// unpadded base64url (32 characters, 192 bits).
func GatePassword() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewPassword is GatePassword. campusd also uses it for its own account.
func NewPassword() string { return GatePassword() }
