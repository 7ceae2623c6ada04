// Package mosquittotest starts a real mosquitto for tests and benchmarks,
// configured with deploy/mosquitto's files (its listener moved to a free port,
// its password and ACL files made in a temp dir). Where mosquitto is not
// installed the caller is skipped, except under CI=true, where .ci/run installs
// it and a missing mosquitto fails.
package mosquittotest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Opts says whom the broker serves.
type Opts struct {
	School string
	Users  map[string]string // user name → password
	// ExtraACL is appended to deploy/mosquitto's ACL (after SCHOOL is
	// replaced), e.g. a second campusd user.
	ExtraACL string
	// Log shows mosquitto's own log in the test's output.
	Log bool
	// TLS, when set, adds deploy/mosquitto/tls.conf's listener (on a free
	// port, Broker.TLSAddr) with these files: the CA that signs the gates'
	// certificates, and the server's certificate and key.
	TLS *TLSFiles
}

// TLSFiles are the PEM files of the TLS listener.
type TLSFiles struct{ CA, Cert, Key string }

// Broker is a running mosquitto.
type Broker struct {
	Addr    string
	TLSAddr string // with Opts.TLS
	cmd     *exec.Cmd
	conf    string
	bin     string
	log     bool
	t       testing.TB

	mu      sync.Mutex
	listens []string
}

// Start runs mosquitto with o; it is stopped when the test ends.
func Start(t testing.TB, o Opts) *Broker {
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
	// Passwords, as the README says to make them.
	pw := filepath.Join(dir, "passwd")
	first := true
	for u, p := range o.Users {
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
	aclText := strings.ReplaceAll(string(tmpl), "SCHOOL", o.School) + "\n" + o.ExtraACL
	if err := os.WriteFile(acl, []byte(aclText), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(deploy, "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
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
	var tlsAddr string
	if o.TLS != nil {
		tconf, err := os.ReadFile(filepath.Join(deploy, "tls.conf"))
		if err != nil {
			t.Fatal(err)
		}
		tlsAddr = freeAddr(t)
		_, tport, _ := net.SplitHostPort(tlsAddr)
		ttext := string(tconf)
		for old, repl := range map[string]string{
			"listener 8883":                  "listener " + tport + " 127.0.0.1",
			"/etc/campusgate/pki/ca.crt":     o.TLS.CA,
			"/etc/campusgate/pki/server.crt": o.TLS.Cert,
			"/etc/campusgate/pki/server.key": o.TLS.Key,
		} {
			if !strings.Contains(ttext, old) {
				t.Fatalf("deploy/mosquitto/tls.conf no longer has %q", old)
			}
			ttext = strings.ReplaceAll(ttext, old, repl)
		}
		text += "\n" + ttext
	}
	if os.Geteuid() == 0 {
		text += "\nuser root\n" // as root mosquitto drops to its own user, who cannot read the test's files
	}
	cfg := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &Broker{Addr: addr, TLSAddr: tlsAddr, conf: cfg, bin: bin, log: o.Log, t: t}
	b.Restart(t)
	t.Cleanup(b.Stop)
	return b
}

// Listens are the sockets mosquitto said it opened at its last start
// ("ipv4 listen socket on port N.").
func (b *Broker) Listens() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.listens...)
}

// Stop stops mosquitto (SIGINT: it saves its persistence file).
func (b *Broker) Stop() {
	b.mu.Lock()
	cmd := b.cmd
	b.cmd = nil
	b.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}

// Restart starts mosquitto again with the same configuration and state, and
// returns once it is running and listening.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	b.Stop()
	cmd := exec.Command(b.bin, "-c", b.conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.cmd = cmd
	b.mu.Unlock()
	running := make(chan struct{})
	go b.watch(stderr, running)
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("mosquitto did not start")
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

// watch reads mosquitto's log: the sockets it opens, and when it runs.
func (b *Broker) watch(stderr io.Reader, running chan<- struct{}) {
	var listens []string
	sent := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		b.mu.Lock()
		if b.log && b.cmd != nil {
			b.t.Log("mosquitto:", line)
		}
		b.mu.Unlock()
		if sent {
			continue
		}
		if _, sock, ok := strings.Cut(line, "Opening "); ok {
			listens = append(listens, sock)
		}
		if strings.Contains(line, " running") {
			b.mu.Lock()
			b.listens = listens
			b.mu.Unlock()
			close(running)
			sent = true
		}
	}
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// CPU is the CPU time mosquitto has used so far (user + system), or 0 where
// /proc cannot say. It counts in the kernel's clock ticks (USER_HZ, 100 on
// Linux): a figure for a benchmark's total over many operations, not for one.
func (b *Broker) CPU() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is the first, utime and stime the 12th and 13th.
	i := strings.LastIndex(string(data), ") ")
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}
