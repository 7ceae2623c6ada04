// Package pgtest gives tests a real PostgreSQL database: a new, empty one
// per test, dropped when the test ends.
//
// The server is the one CAMPUSGATE_PG_URL names (an account allowed to
// create databases, e.g. postgres://postgres@127.0.0.1:5432/postgres), or
// else one this package starts for the test binary from the installed
// PostgreSQL (initdb, pg_ctl: Debian's postgresql package), on 127.0.0.1 and
// a free port, its files in a temporary directory, as the postgres user when
// run as root (PostgreSQL refuses to run as root). Without either the test
// is skipped, and fails when CI=true. A package using it stops the server
// it started with TestMain: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }.
//
// The started server trades durability for speed (fsync off): it is for
// tests of behaviour, not of crash safety.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	once     sync.Once
	adminURL string // an account that may create databases
	startErr error
	skipWhy  string
	stop     func()
	// halt and resume stop the server pgtest started and start it again.
	halt, resume func() error
)

// Main runs the tests, then stops the server pgtest started, if any.
func Main(m *testing.M) int {
	code := m.Run()
	if stop != nil {
		stop()
	}
	return code
}

// DSN is the URL of a new, empty database for t, dropped at its end.
func DSN(t testing.TB) string {
	t.Helper()
	server(t)
	name := made(t, "database", `CREATE DATABASE %s`, `DROP DATABASE IF EXISTS %s WITH (FORCE)`)
	u, _ := url.Parse(adminURL) // parsed in setup
	u.Path = "/" + name
	return u.String()
}

// server makes sure of a server for t: it skips without one, and fails when
// CI=true.
func server(t testing.TB) {
	t.Helper()
	once.Do(setup)
	switch {
	case startErr != nil:
		t.Fatalf("pgtest: %v", startErr)
	case adminURL == "":
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: %s (CI=true: .ci/run installs postgresql)", skipWhy)
		}
		t.Skipf("pgtest: %s", skipWhy)
	}
}

// own is server for what needs the server pgtest started on this machine:
// it skips with CAMPUSGATE_PG_URL's, which may be elsewhere and is not
// pgtest's to stop.
func own(t testing.TB, what string) {
	t.Helper()
	server(t)
	if halt == nil {
		t.Skipf("pgtest: %s needs the server pgtest starts, not CAMPUSGATE_PG_URL's", what)
	}
}

// made runs create (with a new name of kind for %s) and, at t's end, drop.
func made(t testing.TB, kind, create, drop string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "campusgate_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, fmt.Sprintf(create, name)); err != nil {
		t.Fatalf("pgtest: create %s: %v", kind, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, fmt.Sprintf(drop, name)); err != nil {
			t.Errorf("pgtest: drop %s %s: %v", kind, name, err)
		}
	})
	return name
}

// Tablespace makes a tablespace in dir, a directory on this machine, for t
// and drops it at the test's end, after the databases t made later. As root
// dir is given to the postgres user, who runs the server.
func Tablespace(t testing.TB, dir string) string {
	t.Helper()
	own(t, "a tablespace")
	if os.Geteuid() == 0 {
		uid, gid, err := postgresUser()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return made(t, "tablespace", `CREATE TABLESPACE %s LOCATION '`+dir+`'`, `DROP TABLESPACE IF EXISTS %s`)
}

// Outage stops the server, calls during, and starts the server again on the
// same port with its databases.
func Outage(t testing.TB, during func()) {
	t.Helper()
	own(t, "an outage")
	if err := halt(); err != nil {
		t.Fatalf("pgtest: stop: %v", err)
	}
	defer func() {
		if err := resume(); err != nil {
			t.Fatalf("pgtest: start again: %v", err)
		}
	}()
	during()
}

// postgresUser is the postgres account, which runs the server when the
// tests run as root (PostgreSQL refuses to run as root).
func postgresUser() (uid, gid int, err error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, err
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

func adminExec(ctx context.Context, sql string) error {
	c, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	_, err = c.Exec(ctx, sql)
	return err
}

func setup() {
	if u := os.Getenv("CAMPUSGATE_PG_URL"); u != "" {
		if _, err := url.Parse(u); err != nil {
			startErr = fmt.Errorf("CAMPUSGATE_PG_URL: %w", err)
			return
		}
		adminURL = u
		return
	}
	bin := binDir()
	if bin == "" {
		skipWhy = "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin) and CAMPUSGATE_PG_URL is not set"
		return
	}
	adminURL, stop, startErr = start(bin)
}

// binDir is where initdb and pg_ctl are: on PATH, or Debian's newest version.
func binDir() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// start makes a cluster in a temporary directory and starts it.
func start(bin string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "campusgate-pgtest-")
	if err != nil {
		return "", nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		uid, gid, err := postgresUser()
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("running as root, PostgreSQL needs another user and there is no postgres user: %w", err)
		}
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
	}
	run := func(name string, args ...string) error {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", name, err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, dir)
	resume = func() error {
		return run("pg_ctl", "-D", data, "-w", "-t", "60", "-l", filepath.Join(dir, "log"), "-o", opts, "start")
	}
	halt = func() error { return run("pg_ctl", "-D", data, "-m", "fast", "-w", "stop") }
	if err := resume(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("%w\nserver log:\n%s", err, log)
	}
	stop := func() {
		_ = run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), stop, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	a, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return a.Port, nil
}
