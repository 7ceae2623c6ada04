package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"campusgate/cmd/internal/bintest"
	"campusgate/gate/journal"
	"campusgate/sync/broker/mosquittotest"
	"campusgate/sync/console"
	"campusgate/sync/pki"
)

// TestGatedOverTLS: the school's certificates from gatectl pki's package, the
// real campusd, and a simulated gated that logs in with its client
// certificate alone (no password): a person presented at the gate is stored on
// the server. A gate whose certificate another authority signed gets nothing
// through. Once with campusd's embedded broker's TLS listener, once with
// mosquitto configured by deploy/mosquitto (mosquitto.conf and tls.conf).
func TestGatedOverTLS(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		overTLS(t, func(t *testing.T, dir, scrt, skey string) ([]string, string) {
			tlsAddr := bintest.FreeAddr(t)
			return []string{"-mqtt-listen", bintest.FreeAddr(t), "-mqtt-tls-listen", tlsAddr, "-tls-cert", scrt, "-tls-key", skey,
				"-tls-client-ca", filepath.Join(dir, "pki", "ca.crt")}, tlsAddr
		})
	})
	t.Run("mosquitto", func(t *testing.T) {
		overTLS(t, func(t *testing.T, dir, scrt, skey string) ([]string, string) {
			b := mosquittotest.Start(t, mosquittotest.Opts{School: "hz-001", Users: map[string]string{"campusd@hz-001": "server-pw"},
				TLS: &mosquittotest.TLSFiles{CA: filepath.Join(dir, "pki", "ca.crt"), Cert: scrt, Key: skey}})
			pw := filepath.Join(dir, "broker-pw")
			if err := os.WriteFile(pw, []byte("server-pw\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"-broker", "tcp://" + b.Addr, "-broker-password-file", pw}, b.TLSAddr
		})
	})
}

// overTLS runs the scenario with campusd started with the flags broker gives,
// the gates connecting to the TLS address it returns.
func overTLS(t *testing.T, broker func(t *testing.T, dir, serverCert, serverKey string) (flags []string, tlsAddr string)) {
	campusd := filepath.Join(bintest.Build(t, "campusd"), "campusd")
	dir := t.TempDir()
	now := time.Now()
	ca, err := pki.Init(filepath.Join(dir, "pki"), "hz-001", now)
	if err != nil {
		t.Fatal(err)
	}
	scrt, skey, err := ca.IssueServer([]string{"127.0.0.1"}, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	gcrt, gkey, err := ca.IssueGate("north-1", now, 0)
	if err != nil {
		t.Fatal(err)
	}
	rogue, _ := pki.Init(filepath.Join(dir, "rogue"), "hz-001", now)
	rcrt, rkey, err := rogue.IssueGate("south-1", now, 0)
	if err != nil {
		t.Fatal(err)
	}

	flags, tlsAddr := broker(t, dir, scrt, skey)
	httpAddr := bintest.FreeAddr(t)
	srv := bintest.Start(t, campusd, "web console on", append([]string{"-state", filepath.Join(dir, "server"), "-school", "hz-001", "-http", httpAddr}, flags...)...)
	_, adminPW, ok := strings.Cut(srv.Stdout.String(), "first console account: admin / ")
	if !ok {
		t.Fatalf("campusd printed no first admin account:\n%s", srv.Stdout.String())
	}
	adminPW, _, _ = strings.Cut(adminPW, " ")

	gateCfg := func(gate, cert, key string) string {
		f := filepath.Join(dir, gate+".toml")
		err := os.WriteFile(f, []byte(fmt.Sprintf(`
gate_id = %q
school_id = "hz-001"
journal = %q
[identity]
allow_plain_ids = true
[temperature]
read_interval = "20ms"
[sync]
broker = "ssl://%s"
ca_file = %q
cert_file = %q
key_file = %q
`, gate, filepath.Join(dir, gate+".db"), tlsAddr, filepath.Join(dir, "pki", "ca.crt"), cert, key)), 0o600)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	north := startGatedArgs(t, "-simulate", "-config", gateCfg("north-1", gcrt, gkey))
	south := startGatedArgs(t, "-simulate", "-config", gateCfg("south-1", rcrt, rkey))
	ctx := context.Background()
	if r, err := present(ctx, north.addr, "C0101", 36.6); err != nil || r.Decision != "admit" {
		t.Fatalf("present at north-1: %+v %v\n%s", r, err, north.out)
	}
	if r, err := present(ctx, south.addr, "C0102", 36.6); err != nil || r.Decision != "admit" {
		t.Fatalf("present at south-1: %+v %v\n%s", r, err, south.out) // it admits offline, as any gate would
	}
	cl := console.NewClient("http://" + httpAddr)
	if err := cl.Login(ctx, "admin", adminPW); err != nil {
		t.Fatal(err)
	}
	entries := func() []journal.Entry {
		var d struct{ Entries []journal.Entry }
		if err := cl.Get(ctx, "/api/entries", &d); err != nil {
			t.Fatal(err)
		}
		return d.Entries
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		es := entries()
		if len(es) > 0 && es[0].GateID == "north-1" && es[0].PersonID == "P20260101" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("north-1's entry never reached the server: %+v\ngated:\n%s\ncampusd:\n%s", es, north.out, srv.Out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // give the rogue gate its chances to reconnect
	for _, e := range entries() {
		if e.GateID == "south-1" {
			t.Fatalf("a gate with a certificate of another authority got an entry in: %+v", e)
		}
	}
	if !strings.Contains(south.out.String(), "link down") {
		t.Errorf("the rogue gate does not say its link is down:\n%s", south.out)
	}
}
