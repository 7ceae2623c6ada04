// Package mosquittotest starts a real mosquitto for tests, configured with
// deploy/mosquitto's files (its listener moved to a free port, its password
// and ACL files made in a temp dir). Where mosquitto is not installed the test
// is skipped, except under CI=true, where .ci/run installs it.
package mosquittotest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Broker is a running mosquitto.
type Broker struct {
	Addr string
	cmd  *exec.Cmd
	conf string
	bin  string
}

// Start runs mosquitto for school with users (name → password).
func Start(t testing.TB, school string, users map[string]string) *Broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
			bin = "/usr/sbin/mosquitto"
		}
	}
	passwd, perr := exec.LookPath("mosquitto_passwd")
	if bin == "" || perr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto is not installed (CI=true: .ci/run installs it)")
		}
		t.Skip("mosquitto not installed (apt-get install mosquitto)")
	}
	_, here, _, _ := runtime.Caller(0)
	deploy := filepath.Join(filepath.Dir(here), "..", "..", "..", "deploy", "mosquitto")
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	first := true
	for u, p := range users {
		args := []string{"-b", pw, u, p}
		if first {
			args = append([]string{"-c"}, args...)
			first = false
		}
		if out, err := exec.Command(passwd, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
		}
	}
	tmpl, err := os.ReadFile(filepath.Join(deploy, "acl.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	acl := filepath.Join(dir, "acl")
	if err := os.WriteFile(acl, []byte(strings.ReplaceAll(string(tmpl), "SCHOOL", school)), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(deploy, "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	text := string(conf)
	for old, repl := range map[string]string{
		"/etc/mosquitto/campusgate.passwd": pw,
		"/etc/mosquitto/campusgate.acl":    acl,
		"/var/lib/mosquitto/":              dir + "/",
		"listener 1883 127.0.0.1":          "listener " + port + " 127.0.0.1",
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("deploy/mosquitto/mosquitto.conf no longer has %q", old)
		}
		text = strings.ReplaceAll(text, old, repl)
	}
	if os.Geteuid() == 0 {
		text += "\nuser root\n" // as root mosquitto drops to its own user, who cannot read the test's files
	}
	cfg := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &Broker{Addr: addr, conf: cfg, bin: bin}
	b.Restart(t)
	t.Cleanup(b.Stop)
	return b
}

// Stop kills mosquitto (SIGTERM: it saves its persistence file).
func (b *Broker) Stop() {
	if b.cmd != nil {
		_ = b.cmd.Process.Signal(os.Interrupt)
		_ = b.cmd.Wait()
		b.cmd = nil
	}
}

// Restart starts mosquitto again with the same configuration and state.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	b.Stop()
	b.cmd = exec.Command(b.bin, "-c", b.conf)
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", b.Addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s", b.Addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
