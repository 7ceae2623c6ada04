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
	for i, u := range [][2]string{{"north-1", gatePass}, {"south-1", south}, {"campusd@hz", serverPass}, {"district@hz", distPass}} {
		args := []string{"-b", pw, u[0], u[1]}
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
	if err := os.WriteFile(acl, []byte(strings.ReplaceAll(string(tmpl), "SCHOOL", "hz")), 0o600); err != nil {
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
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if testing.Verbose() {
				t.Log("mosquitto:", sc.Text())
			}
		}
	}()
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
