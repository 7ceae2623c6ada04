package broker

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestAccountsFile(t *testing.T) {
	a := testAccounts(t)
	path := filepath.Join(t.TempDir(), "accounts.json")
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("accounts file mode %v, want 0600", fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".accounts-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// Roles are names in the file, as when Role was a string: files written
	// by earlier campusd versions still load.
	b, _ := os.ReadFile(path)
	var raw map[string]struct {
		Account struct{ Role string }
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["north-1"].Account.Role != "gate" || raw["campusd@hz"].Account.Role != "server" || raw["district@hz"].Account.Role != "district" {
		t.Errorf("roles in the file: %s", b)
	}
	c := &Accounts{}
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	if acc, ok := c.Authenticate("north-1", gatePass); !ok || acc != (Account{Role: RoleGate, School: "hz", Gate: "north-1"}) {
		t.Errorf("loaded account: %+v %v", acc, ok)
	}
	if c.Len() != len(testUsers) {
		t.Errorf("%d accounts loaded, want %d", c.Len(), len(testUsers))
	}
	// A bad file changes nothing; a missing file is no accounts.
	defer func() {
		if err := c.Load(filepath.Join(t.TempDir(), "none.json")); err != nil || c.Len() != 0 {
			t.Errorf("missing file: %v, %d accounts", err, c.Len())
		}
	}()
	for _, bad := range []string{
		`{"north-1":{"hash":"x","account":{"role":"gate","school":"hz","gate":"north-1"}}}`,
		`{"north-1":{"hash":"` + hashOf(t, "a-long-password") + `","account":{"role":"admin"}}}`,
		`{"north-1":{"hash":"` + hashOf(t, "a-long-password") + `","account":{"role":"gate","school":"hz","gate":"south-1"}}}`,
		`{"campusd":{"hash":"` + hashOf(t, "a-long-password") + `","account":{"role":"server"}}}`,
		`[`,
	} {
		p := filepath.Join(t.TempDir(), "bad.json")
		os.WriteFile(p, []byte(bad), 0o600)
		if err := c.Load(p); err == nil {
			t.Errorf("loaded %s", bad)
		}
		if _, ok := c.Authenticate("north-1", gatePass); !ok {
			t.Errorf("a failed Load changed the accounts")
		}
	}
}

func hashOf(t testing.TB, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestAccountsValidate(t *testing.T) {
	a := &Accounts{Cost: bcrypt.MinCost}
	for _, bad := range []struct {
		user string
		acc  Account
	}{
		{"north-1", Account{Role: RoleGate, School: "hz", Gate: "south-1"}}, // user name is not the gate id
		{"report", Account{Role: RoleGate, School: "hz", Gate: "report"}},   // reserved
		{"north-1", Account{Role: RoleGate, School: "h/z", Gate: "north-1"}},
		{"campusd", Account{Role: RoleServer}},      // could be a gate id
		{"district-1", Account{Role: RoleDistrict}}, // could be a gate id
		{"a+b@x", Account{Role: RoleServer}},
		{"x@y", Account{}}, // no role
		{"x@y", Account{Role: 42}},
	} {
		if err := a.Add(bad.user, "long-enough-password-1", bad.acc); err == nil {
			t.Errorf("account %s %+v accepted", bad.user, bad.acc)
		}
	}
	for _, pw := range []string{"short", strings.Repeat("x", 73)} {
		if err := a.Add("ok@hz", pw, Account{Role: RoleServer}); err == nil {
			t.Errorf("password of %d bytes accepted", len(pw))
		}
	}
}

func TestAccountsCache(t *testing.T) {
	a := testAccounts(t)
	for range 100 {
		if _, ok := a.Authenticate("north-1", gatePass); !ok {
			t.Fatal("refused")
		}
	}
	for range 3 {
		if _, ok := a.Authenticate("north-1", "wrong-password-0000"); ok {
			t.Fatal("wrong password accepted")
		}
	}
	if n := a.bcrypts.Load(); n != 1+3 {
		t.Errorf("%d bcrypt checks, want 1 for the good password and 1 per failure (never cached)", n)
	}
	// A new password voids the remembered old one, and so do Remove and Load.
	if err := a.Add("north-1", "a-new-password-for-north", Account{Role: RoleGate, School: "hz", Gate: "north-1"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Authenticate("north-1", gatePass); ok {
		t.Error("old password accepted from memory")
	}
	a.Authenticate("south-1", south)
	a.Remove("south-1")
	if _, ok := a.Authenticate("south-1", south); ok {
		t.Error("removed account accepted from memory")
	}
}

// A Load that changes a password while checks of the old one are running
// never leaves the old one usable.
func TestAccountsCacheLoadRace(t *testing.T) {
	changed := &Accounts{Cost: bcrypt.MinCost}
	if err := changed.Add("north-1", "a-new-password-for-north", Account{Role: RoleGate, School: "hz", Gate: "north-1"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "accounts.json")
	if err := changed.Save(path); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		a := testAccounts(t)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 3 {
					a.Authenticate("north-1", gatePass)
				}
			})
		}
		wg.Go(func() {
			if err := a.Load(path); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		if _, ok := a.Authenticate("north-1", gatePass); ok {
			t.Fatal("old password accepted after Load changed it")
		}
	}
}

func TestGatePassword(t *testing.T) {
	p, q := GatePassword(), GatePassword()
	if p == q || len(p) != 32 {
		t.Fatalf("passwords %q %q", p, q)
	}
	if b, err := base64.RawURLEncoding.DecodeString(p); err != nil || len(b) != 24 {
		t.Errorf("%q is not 24 bytes of base64url: %v", p, err)
	}
	if err := (&Accounts{Cost: bcrypt.MinCost}).Add("north-1", p, Account{Role: RoleGate, School: "hz", Gate: "north-1"}); err != nil {
		t.Errorf("a generated password refused: %v", err)
	}
}

func TestRoleText(t *testing.T) {
	for _, r := range []Role{RoleGate, RoleServer, RoleDistrict} {
		b, err := r.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Role
		if err := back.UnmarshalText(b); err != nil || back != r || r.String() != string(b) {
			t.Errorf("%v → %s → %v, %v", r, b, back, err)
		}
	}
	if _, err := Role(0).MarshalText(); err == nil {
		t.Error("the zero role has a name")
	}
	var r Role
	if err := r.UnmarshalText([]byte("admin")); err == nil {
		t.Error("role admin accepted")
	}
}

// BenchmarkAuthenticate: a gate's reconnect with the cache (ours) and without
// it (baseline: one bcrypt at the default cost, what each reconnect would
// cost).
func BenchmarkAuthenticate(b *testing.B) {
	a := &Accounts{}
	if err := a.Add("north-1", gatePass, Account{Role: RoleGate, School: "hz", Gate: "north-1"}); err != nil {
		b.Fatal(err)
	}
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := a.Authenticate("north-1", gatePass); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		h := a.users["north-1"].Hash
		for b.Loop() {
			if bcrypt.CompareHashAndPassword([]byte(h), []byte(gatePass)) != nil {
				b.Fatal("refused")
			}
		}
	})
}
