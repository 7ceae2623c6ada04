package main

import (
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"campusgate/cmd/internal/bintest"
	"campusgate/cmd/internal/browsertest"
)

// TestKioskSession runs campusgate-kiosk's launcher (deploy/kiosk) as the
// kiosk unit runs it on a box: "session" starts cage, cage starts "browser",
// which waits for gated's screen and opens it in Chromium in kiosk mode. Here
// cage draws on wlroots' headless backend with its software renderer, as an
// unprivileged user (cage refuses to run as root, as on the box), against a
// real simulated gated behind a proxy that records what the browser fetched.
//
// Proved: the session comes up, the page and its live stream are fetched
// from KIOSK_URL, the browser is cage's child in kiosk mode on that URL, and
// KIOSK_ROTATE turns the output to portrait. Not proved here: what the page
// looks like (TestPersonScreenInBrowser does that, in a browser that renders
// reliably without a GPU; Chromium's Wayland output under a headless wlroots
// is not repainted dependably enough to compare).
func TestKioskSession(t *testing.T) {
	need := []string{"cage", "grim", "Xwayland", "curl"}
	if os.Getuid() == 0 {
		need = append(need, "setpriv")
	}
	var missing []string
	for _, n := range need {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	chromium := browsertest.Path()
	if chromium == "" {
		missing = append(missing, "chromium")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("missing %v (CI=true: .ci/run installs cage, grim, xwayland, curl and chromium)", missing)
		}
		t.Skipf("missing %v (apt-get install cage grim xwayland curl chromium)", missing)
	}

	g := startGated(t, filepath.Join(t.TempDir(), "j.db"))
	target, _ := url.Parse("http://" + g.addr)
	var mu sync.Mutex
	fetched := map[string]int{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1 // the stream's events as they come
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched[r.URL.Path]++
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	screenURL := proxy.URL + "/screen"

	for _, tc := range []struct {
		rotate   string
		portrait bool
	}{{"0", false}, {"1", true}} {
		t.Run("rotate="+tc.rotate, func(t *testing.T) {
			mu.Lock()
			clear(fetched)
			mu.Unlock()
			k := startKiosk(t, map[string]string{
				"KIOSK_URL":    screenURL,
				"KIOSK_ROTATE": tc.rotate,
				// No GPU here; no user namespaces for Chromium's sandbox in
				// every CI container.
				"KIOSK_FLAGS": "--disable-gpu --no-sandbox --disable-dev-shm-usage",
				"CHROMIUM":    chromium,
			})
			deadline := time.Now().Add(90 * time.Second)
			for {
				mu.Lock()
				page, stream := fetched["/screen"], fetched["/screen/events"]
				mu.Unlock()
				if page > 0 && stream > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the kiosk fetched /screen %d times, /screen/events %d times in 90 s\n%s", page, stream, k.out)
				}
				time.Sleep(200 * time.Millisecond)
			}

			// The browser is the session's, in kiosk mode, on the URL.
			args := k.browserArgs(t, chromium)
			for _, want := range []string{"--kiosk", "--ozone-platform=wayland", "--disable-features=Translate,TranslateUI", screenURL} {
				if !strings.Contains(args, want) {
					t.Errorf("browser runs as %q, without %s", args, want)
				}
			}

			// The output as the person sees it: grim reads it through cage's
			// screencopy; rotated, it is taller than wide.
			shot := filepath.Join(k.dir, "shot.png")
			grim := exec.Command("grim", shot)
			grim.Env = k.env
			grim.SysProcAttr = k.attr
			if out, err := grim.CombinedOutput(); err != nil {
				t.Fatalf("grim: %v\n%s\n%s", err, out, k.out)
			}
			f, err := os.Open(shot)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := png.DecodeConfig(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("browser: %s; output %d×%d", args, cfg.Width, cfg.Height)
			if portrait := cfg.Height > cfg.Width; portrait != tc.portrait {
				t.Errorf("KIOSK_ROTATE=%s: the output is %d×%d", tc.rotate, cfg.Width, cfg.Height)
			}
		})
	}
}

type kiosk struct {
	dir  string
	env  []string
	attr *syscall.SysProcAttr
	cmd  *exec.Cmd
	out  *bintest.Buffer
}

// startKiosk runs the launcher's session half with the kiosk settings in set,
// as the user "nobody" when the test runs as root.
func startKiosk(t *testing.T, set map[string]string) *kiosk {
	t.Helper()
	// A directory the kiosk's user may enter: t.TempDir's parents are 0700.
	dir, err := os.MkdirTemp("", "kiosk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	k := &kiosk{dir: dir, out: &bintest.Buffer{}, attr: &syscall.SysProcAttr{Setpgid: true}}
	if os.Getuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, run} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		k.attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The launcher as packaged, copied where the kiosk's user can read it.
	src, err := os.ReadFile("../../deploy/kiosk/campusgate-kiosk")
	if err != nil {
		t.Fatal(err)
	}
	launcher := filepath.Join(dir, "campusgate-kiosk")
	if err := os.WriteFile(launcher, src, 0o755); err != nil {
		t.Fatal(err)
	}
	k.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_RUNTIME_DIR=" + run,
		// wlroots without a display or input devices: the headless backend
		// and the software renderer.
		"WLR_BACKENDS=headless", "WLR_RENDERER=pixman", "WLR_LIBINPUT_NO_DEVICES=1",
		"WAYLAND_DISPLAY=wayland-0",
	}
	for key, v := range set {
		if key == "CHROMIUM" {
			k.env = append(k.env, "KIOSK_BROWSER="+v)
			continue
		}
		k.env = append(k.env, key+"="+v)
	}
	k.cmd = exec.Command(launcher, "session")
	k.cmd.Dir = dir
	k.cmd.Env = k.env
	k.cmd.SysProcAttr = k.attr
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// cage, Xwayland and Chromium's processes: the whole group.
		_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = k.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	return k
}

// browserArgs is the command line of the browser in the kiosk's process
// group, the first process of the group that runs the browser's binary.
func (k *kiosk) browserArgs(t *testing.T, chromium string) string {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		dir := filepath.Dir(p)
		pid, _ := strconv.Atoi(filepath.Base(dir))
		if pgid, err := syscall.Getpgid(pid); err != nil || pgid != k.cmd.Process.Pid {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		// Debian's /usr/bin/chromium is a script that execs the real binary;
		// the browser process is the one with our URL and no --type= (its
		// renderers and helpers have one).
		joined := strings.Join(args, " ")
		if strings.Contains(joined, "--kiosk") && !strings.Contains(joined, "--type=") {
			return joined
		}
	}
	t.Fatalf("no %s process in the kiosk's process group\n%s", chromium, k.out)
	return ""
}
