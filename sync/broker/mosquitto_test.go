package broker

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// startMosquitto runs a real mosquitto with deploy/mosquitto's configuration
// (its listener moved to a free port, its files into a temp dir). It skips
// when mosquitto is not installed, and fails under CI=true, where .ci/run
// installs it.
func startMosquitto(t *testing.T) target {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/mosquitto"); err2 == nil {
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
	deploy := filepath.Join(filepath.Dir(here), "..", "..", "deploy", "mosquitto")
	dir := t.TempDir()

	// Passwords, as the README says to make them.
	pw := filepath.Join(dir, "passwd")
	for i, u := range testUsers {
		if u.acc.Role == RoleGate && u.acc.School != "hz" {
			continue // mosquitto's ACL is for one school
		}
		args := []string{"-b", pw, u.user, u.pass}
		if i == 0 {
			args = append([]string{"-c"}, args...)
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
	// A second campusd instance gets its own user, as the README says.
	text := strings.ReplaceAll(string(tmpl), "SCHOOL", "hz") + "\nuser campusd-2@hz\ntopic readwrite campusgate/v1/#\n"
	if err := os.WriteFile(acl, []byte(text), 0o600); err != nil {
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
	text = string(conf)
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
		// As root mosquitto drops to the mosquitto user, who cannot read the test's files.
		text += "\nuser root\n"
	}
	cfg := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	running := make(chan []string, 1)
	go func() {
		var listens []string
		sent := false
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if testing.Verbose() {
				t.Log("mosquitto:", line)
			}
			if _, sock, ok := strings.Cut(line, "Opening "); ok && !sent {
				listens = append(listens, sock)
			}
			if strings.Contains(line, " running") && !sent {
				running <- listens
				sent = true
			}
		}
	}()
	select {
	case listens := <-running:
		// A listener option above the first `listener` line would open a
		// default listener on port 1883 of every interface.
		for _, l := range listens {
			if !strings.HasSuffix(l, "port "+port+".") || !strings.HasPrefix(l, "ipv4") {
				t.Errorf("mosquitto with deploy/mosquitto's config opened %q; want only 127.0.0.1:%s", l, port)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mosquitto did not start")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return target{addr: addr}
}

func TestMosquittoACL(t *testing.T) {
	checkACL(t, startMosquitto(t))
}

func TestMosquittoSharedSubscription(t *testing.T) {
	checkShared(t, startMosquitto(t))
}
