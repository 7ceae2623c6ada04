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

	"campusgate/sync/wire"

	"golang.org/x/crypto/bcrypt"
)

// Role is what an MQTT account may do.
type Role string

// Roles.
const (
	RoleGate     Role = "gate"     // one gate: its own uplink topics and downlink subscriptions
	RoleServer   Role = "server"   // campusd: everything under campusgate/v1
	RoleDistrict Role = "district" // read the schools' daily reports, nothing else
)

// Account is who a user name is.
type Account struct {
	Role   Role   `json:"role"`
	School string `json:"school,omitempty"`
	Gate   string `json:"gate,omitempty"`
}

// Authenticator checks a user name and password.
type Authenticator interface {
	Authenticate(username, password string) (Account, bool)
}

// Accounts is a set of bcrypt-hashed MQTT accounts, kept in a JSON file. It is
// safe for concurrent use.
type Accounts struct {
	// Cost is the bcrypt cost of new passwords; 0 means bcrypt.DefaultCost.
	Cost int

	mu    sync.RWMutex
	users map[string]stored
	good  sync.Map // sha256(user, password) → Account: bcrypt once per credential, not per reconnect
}

type stored struct {
	Hash    string  `json:"hash"`
	Account Account `json:"account"`
}

func (a *Accounts) validate(username string, acc Account) error {
	if username == "" || len(username) > 64 || strings.ContainsAny(username, " \t\r\n+#/") {
		return fmt.Errorf("broker: user name %.70q: 1 to 64 characters, no spaces, + # or /", username)
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
	default:
		return fmt.Errorf("broker: account %s: unknown role %q", username, acc.Role)
	}
	return nil
}

// Add sets username's password and account (replacing any old one).
func (a *Accounts) Add(username, password string, acc Account) error {
	if err := a.validate(username, acc); err != nil {
		return err
	}
	if len(password) < 12 {
		return fmt.Errorf("broker: account %s: password shorter than 12 characters", username)
	}
	cost := a.Cost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return fmt.Errorf("broker: account %s: %w", username, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.users == nil {
		a.users = map[string]stored{}
	}
	a.users[username] = stored{Hash: string(h), Account: acc}
	a.good.Clear() // a changed password must not be accepted from the cache
	return nil
}

// Remove deletes username.
func (a *Accounts) Remove(username string) {
	a.mu.Lock()
	delete(a.users, username)
	a.mu.Unlock()
	a.good.Clear()
}

// Authenticate implements Authenticator.
func (a *Accounts) Authenticate(username, password string) (Account, bool) {
	key := sha256.Sum256([]byte(username + "\x00" + password))
	if acc, ok := a.good.Load(key); ok {
		return acc.(Account), true
	}
	a.mu.RLock()
	s, ok := a.users[username]
	a.mu.RUnlock()
	if !ok || bcrypt.CompareHashAndPassword([]byte(s.Hash), []byte(password)) != nil {
		return Account{}, false
	}
	a.good.Store(key, s.Account)
	return s.Account, true
}

// Load reads accounts from path; a missing file is an empty set.
func (a *Accounts) Load(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("broker: accounts: %w", err)
	}
	var users map[string]stored
	if err := json.Unmarshal(b, &users); err != nil {
		return fmt.Errorf("broker: accounts %s: %w", path, err)
	}
	for u, s := range users {
		if err := a.validate(u, s.Account); err != nil {
			return fmt.Errorf("broker: accounts %s: %w", path, err)
		}
	}
	a.mu.Lock()
	a.users = users
	a.mu.Unlock()
	a.good.Clear()
	return nil
}

// Save writes the accounts to path (mode 0600) atomically.
func (a *Accounts) Save(path string) error {
	a.mu.RLock()
	b, err := json.MarshalIndent(a.users, "", "  ")
	a.mu.RUnlock()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".accounts-*")
	if err != nil {
		return fmt.Errorf("broker: save accounts: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("broker: save accounts: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("broker: save accounts: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("broker: save accounts: %w", err)
	}
	return nil
}

// NewPassword returns a random password for a gate or campusd itself.
func NewPassword() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b[:])
}
