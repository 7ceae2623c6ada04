package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// gatectlPass runs "gatectl pass args..." through run, as main does.
func gatectlPass(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"pass"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func mustRun(t *testing.T, want int, args ...string) (string, string) {
	t.Helper()
	code, out, errs := gatectlPass(t, args...)
	if code != want {
		t.Fatalf("gatectl pass %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, want, out, errs)
	}
	return out, errs
}

// keygen makes a key pair in dir and returns its kid.
func keygen(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, _ := mustRun(t, 0, append([]string{"keygen", "-dir", dir}, args...)...)
	m := regexp.MustCompile(`(?m)^kid: +(\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keygen printed no kid:\n%s", out)
	}
	return m[1]
}

func field(out, name string) string {
	m := regexp.MustCompile(`(?m)^` + name + `: +(.*)$`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestPassKeygenIssueVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	kid := keygen(t, dir)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(kid) {
		t.Fatalf("derived kid %q", kid)
	}
	key, pub := filepath.Join(dir, kid+".key"), filepath.Join(dir, kid+".pub")
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v", st, err)
	}

	out, errs := mustRun(t, 0, "issue", "-key", key, "-person", "P20250017", "-role", "pupil", "-health", "green",
		"-valid", "24h", "-issuer", "北京市第一实验小学", "-id", "cli-pass-1")
	code := strings.TrimSuffix(out, "\n")
	if !strings.HasPrefix(code, "CG1:") || strings.Contains(code, "\n") {
		t.Fatalf("issue printed %q", out)
	}
	if !strings.Contains(errs, "pass_id cli-pass-1") || !strings.Contains(errs, kid) {
		t.Errorf("issue stderr: %q", errs)
	}

	out, _ = mustRun(t, 0, "verify", "-pub", pub, code)
	for name, want := range map[string]string{
		"status": "ok", "person_id": "P20250017", "role": "pupil", "health": "green",
		"issuer": "北京市第一实验小学", "pass_id": "cli-pass-1", "kid": kid,
	} {
		if got := field(out, name); got != want {
			t.Errorf("verify %s = %q, want %q\n%s", name, got, want, out)
		}
	}
	// A trailing line end (scanner, here-doc) is tolerated.
	mustRun(t, 0, "verify", "-pub", pub, code+"\r\n")

	// Refusals: exit 1 with the reason on stdout and the cause on stderr.
	later := time.Now().Add(25 * time.Hour).Format(time.RFC3339)
	revFile := filepath.Join(t.TempDir(), "revoked.txt")
	os.WriteFile(revFile, []byte("# office\nother-pass\ncli-pass-1 2099-01-01T00:00:00Z\n"), 0o644)
	other := keygen(t, dir, "-kid", "other-key")
	tampered := code[:len(code)-4] + "0000"
	for _, tc := range []struct {
		name   string
		args   []string
		reason string
	}{
		{"expired", []string{"-pub", pub, "-at", later}, "expired"},
		{"not yet valid", []string{"-pub", pub, "-at", time.Now().Add(-time.Hour).Format(time.RFC3339)}, "not_yet_valid"},
		{"revoked", []string{"-pub", pub, "-revoked", revFile}, "revoked"},
		{"unknown key", []string{"-pub", filepath.Join(dir, other+".pub")}, "unknown_key"},
		{"tampered", []string{"-pub", pub}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := code
			if tc.name == "tampered" {
				c = tampered
			}
			out, errs := mustRun(t, 1, append(append([]string{"verify"}, tc.args...), c)...)
			got := field(out, "reason")
			if field(out, "status") != "refused" || (tc.reason != "" && got != tc.reason) || (tc.reason == "" && got != "malformed" && got != "bad_signature") {
				t.Fatalf("stdout:\n%s", out)
			}
			if !strings.HasPrefix(errs, "gatectl: pass verify: pass: "+got+": ") {
				t.Fatalf("stderr: %q", errs)
			}
			signed := got == "expired" || got == "revoked" || got == "not_yet_valid"
			if (field(out, "person_id") == "P20250017") != signed {
				t.Fatalf("claims shown for %s? stdout:\n%s", got, out)
			}
		})
	}
	// Rotation: with both keys trusted, passes of either verify.
	out, _ = mustRun(t, 0, "issue", "-key", filepath.Join(dir, other+".key"), "-person", "S1", "-role", "staff", "-health", "yellow")
	both := pub + "," + filepath.Join(dir, other+".pub")
	mustRun(t, 0, "verify", "-pub", both, strings.TrimSpace(out))
	mustRun(t, 0, "verify", "-pub", both, code)
}

func TestPassKeygen(t *testing.T) {
	dir := t.TempDir()
	if kid := keygen(t, dir, "-kid", "school-2025"); kid != "school-2025" {
		t.Fatalf("kid %q", kid)
	}
	for _, f := range []string{"school-2025.key", "school-2025.pub"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "school-2025.key"))
	_, errs := mustRun(t, 1, "keygen", "-dir", dir, "-kid", "school-2025")
	if !strings.Contains(errs, "already exists") {
		t.Fatalf("stderr: %q", errs)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "school-2025.key")); !bytes.Equal(before, after) {
		t.Fatal("key overwritten")
	}
}

func TestPassUsage(t *testing.T) {
	dir := t.TempDir()
	kid := keygen(t, dir)
	key := filepath.Join(dir, kid+".key")
	for _, tc := range []struct {
		args []string
		want int
		msg  string
	}{
		{nil, 2, "gatectl pass keygen"},
		{[]string{"help"}, 0, ""},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"keygen"}, 2, "-dir is required"},
		{[]string{"keygen", "-dir", dir, "-kid", "a b"}, 2, "-kid"},
		{[]string{"keygen", "-dir", dir, "extra"}, 2, "unexpected argument"},
		{[]string{"issue", "-h"}, 2, "-person"},
		{[]string{"issue", "-person", "P", "-role", "pupil", "-health", "green"}, 2, "-key is required"},
		{[]string{"issue", "-key", key, "-role", "pupil", "-health", "green"}, 2, "-person is required"},
		{[]string{"issue", "-key", key, "-person", "P", "-role", "admin", "-health", "green"}, 2, `-role "admin"`},
		{[]string{"issue", "-key", key, "-person", "P", "-role", "pupil", "-health", "blue"}, 2, `-health "blue"`},
		{[]string{"issue", "-key", key, "-person", "P", "-role", "pupil", "-health", "red", "-valid", "-1h"}, 2, "-valid"},
		{[]string{"issue", "-key", key, "-person", "P", "-role", "pupil", "-health", "red", "-id", "a/b"}, 2, "-id"},
		{[]string{"issue", "-key", key, "-person", "P", "-role", "pupil", "-health", "red", "-not-before", "monday"}, 2, "-not-before"},
		{[]string{"issue", "-key", filepath.Join(dir, "nope.key"), "-person", "P", "-role", "pupil", "-health", "red"}, 1, "nope.key"},
		{[]string{"issue", "-key", filepath.Join(dir, kid+".pub"), "-person", "P", "-role", "pupil", "-health", "red"}, 1, "this is a public key file"},
		{[]string{"verify", "-pub", filepath.Join(dir, kid+".pub")}, 2, "exactly one CODE"},
		{[]string{"verify", "CG1:X"}, 2, "-pub is required"},
		{[]string{"verify", "-pub", filepath.Join(dir, kid+".pub"), "-at", "soon", "CG1:X"}, 2, "-at"},
		{[]string{"verify", "-pub", key, "CG1:X"}, 1, "this is a private key file"},
		{[]string{"verify", "-pub", filepath.Join(dir, kid+".pub"), "-revoked", filepath.Join(dir, "none"), "CG1:X"}, 1, "none"},
		{[]string{"verify", "-pub", filepath.Join(dir, kid+".pub"), "CG1:X"}, 1, "pass: malformed: base45"},
	} {
		code, out, errs := gatectlPass(t, tc.args...)
		if code != tc.want || !strings.Contains(out+errs, tc.msg) {
			t.Errorf("gatectl pass %q: exit %d (want %d)\nstdout: %s\nstderr: %s\nwant it to mention %q", tc.args, code, tc.want, out, errs, tc.msg)
		}
	}
}
