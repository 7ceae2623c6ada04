package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	demoschool "campusgate/cmd/internal/demo"
	"campusgate/gate/pass"
	"campusgate/sync/console"
	"campusgate/sync/store"
)

const simUsage = `gatectl sim — the whole system on this machine, with simulated gates

  gatectl sim up      [-state DIR] [-gates N] [-http ADDR] [-mqtt ADDR] [-demo 5s]
                      start campusd (with its embedded broker and database) and N simulated gates
                      that sync to it; Ctrl-C stops everything
  gatectl sim present [-state DIR] -gate NAME -code CODE [-temp 36.6]
                      send one simulated person through a gate and print the decision
  gatectl sim fleet   -state CAMPUSD-STATE | -password-file FILE  [-broker URL] [-gates N] [-rate R] [-duration D]
                      a load test: N gates in this process, each with its own MQTT connection and
                      journal, send a morning peak to a running campusd; prints entries, loss and
                      latencies, and exits 1 if an entry was lost ("gatectl sim fleet -h": every flag)
`

const defaultSimState = ".campusgate-run"

func simCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.errw, simUsage)
		return errUsage
	}
	switch args[0] {
	case "up":
		return simUp(ctx, e, args[1:])
	case "present":
		return simPresent(ctx, e, args[1:])
	case "fleet":
		return simFleet(ctx, e, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.out, simUsage)
		return nil
	}
	fmt.Fprintf(e.errw, "gatectl sim: unknown command %q\n\n%s", args[0], simUsage)
	return errUsage
}

// gateNames are the simulated gates' ids: the school's north and south gates.
var gateNames = []string{"north-1", "south-1", "east-1", "west-1", "north-2", "south-2", "east-2", "west-2"}

func simUp(ctx context.Context, e *env, args []string) error {
	fset := e.flags("sim up")
	state := fset.String("state", defaultSimState, "state directory: database, journals, keys, logs")
	n := fset.Int("gates", 2, "simulated gates (1 to 8)")
	httpAddr := fset.String("http", "127.0.0.1:8090", "campusd's web address")
	mqttAddr := fset.String("mqtt", "127.0.0.1:18830", "the embedded broker's address (not 1883, where a system mosquitto may listen)")
	demo := fset.Duration("demo", 0, "present a random demo person at each gate this often (0: only when asked)")
	school := fset.String("school", "demo", "school id")
	consolePort := fset.Int("console-port", 8081, "the first gate's guard console port; the next gates take the following ones")
	checkpoints := fset.Int("checkpoints", 0, "simulated midday check desks (checkpoint mode, no turnstile): desk-1, desk-2, …")
	metricsAddr := fset.String("metrics-addr", "127.0.0.1:9471", "campusd's Prometheus metrics address (127.0.0.1:0: any free port, said in its log); each gate takes a free port")
	if err := parse(fset, args); err != nil {
		return err
	}
	if *n < 1 || *n > len(gateNames) {
		return usageErr(e.errw, "sim up", "-gates %d: 1 to %d", *n, len(gateNames))
	}
	if *checkpoints < 0 || *checkpoints > 4 {
		return usageErr(e.errw, "sim up", "-checkpoints %d: 0 to 4", *checkpoints)
	}
	boxes := append([]string(nil), gateNames[:*n]...)
	for i := range *checkpoints {
		boxes = append(boxes, fmt.Sprintf("desk-%d", i+1))
	}
	bin, err := siblingBinaries("campusd", "gated")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*state, 0o750); err != nil {
		return err
	}
	abs, _ := filepath.Abs(*state)
	keyPath := filepath.Join(abs, "demo-school.key")
	keysDir, err := ensureDemoKey(keyPath, filepath.Join(abs, "keys"))
	if err != nil {
		return err
	}
	rosterPath := filepath.Join(abs, "roster.json")
	roster, _ := json.MarshalIndent(demoRoster(time.Now()), "", "  ")
	if err := os.WriteFile(rosterPath, roster, 0o600); err != nil {
		return err
	}
	accounts, err := demoAccounts(ctx, bin["campusd"], abs)
	if err != nil {
		return err
	}

	var procs []*exec.Cmd
	var wg sync.WaitGroup
	waits := map[*exec.Cmd]chan struct{}{}
	// stopAll stops the gates first (they tell the server they go offline),
	// then campusd, each given a few seconds before it is killed.
	stopAll := func() {
		stop := func(ps []*exec.Cmd) {
			for _, p := range ps {
				_ = p.Process.Signal(syscall.SIGTERM)
			}
			for _, p := range ps {
				select {
				case <-waits[p]:
				case <-time.After(10 * time.Second):
					_ = p.Process.Kill()
					<-waits[p]
				}
			}
		}
		if len(procs) > 1 {
			stop(procs[1:])
		}
		if len(procs) > 0 {
			stop(procs[:1])
		}
		wg.Wait()
	}
	exited := make(chan string, 16)
	start := func(name string, ready string, argv ...string) error {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stderr = prefixWriter(e.errw, name)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, cmd)
		up := make(chan struct{})
		gone := make(chan struct{})
		waits[cmd] = gone
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(gone)
			sc := bufio.NewScanner(out)
			once := false
			for sc.Scan() {
				fmt.Fprintf(e.out, "[%s] %s\n", name, sc.Text())
				if !once && strings.Contains(sc.Text(), ready) {
					once = true
					close(up)
				}
			}
			_ = cmd.Wait()
			exited <- name
		}()
		select {
		case <-up:
			return nil
		case who := <-exited:
			return fmt.Errorf("%s exited while starting (see its log above)", who)
		case <-time.After(60 * time.Second):
			return fmt.Errorf("%s did not start within a minute", name)
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	err = func() error {
		// Accounts first, so the broker knows every gate when it starts.
		type gateSetup struct{ cfg, console, dir string }
		var setups []gateSetup
		for i, g := range boxes {
			dir := filepath.Join(abs, "gates", g)
			cfg, console, err := provisionGate(ctx, bin["campusd"], abs, dir, *school, g, *mqttAddr, *consolePort+i)
			if err != nil {
				return err
			}
			setups = append(setups, gateSetup{cfg, console, dir})
		}
		schoolCfg := filepath.Join(abs, "school.toml")
		if err := os.WriteFile(schoolCfg, []byte(demoSchoolConfig), 0o600); err != nil {
			return err
		}
		if err := start("campusd", "web console on", bin["campusd"], "-state", abs, "-school", *school,
			"-http", *httpAddr, "-mqtt-listen", *mqttAddr, "-roster", rosterPath, "-keys", keysDir, "-pass-key", keyPath,
			"-gate-config", schoolCfg, "-metrics-addr", *metricsAddr); err != nil {
			return err
		}
		for i, g := range boxes {
			cfg, console, dir := setups[i].cfg, setups[i].console, setups[i].dir
			// Each on a port of its own (said in its log): they cannot all have gated's default.
			argv := []string{bin["gated"], "-simulate", "-config", cfg, "-demo-key", keyPath, "-metrics-addr", "127.0.0.1:0"}
			if *demo > 0 {
				argv = append(argv, "-demo", demo.String())
			}
			if err := start(g, "guard console on", argv...); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "console.addr"), []byte(console), 0o600); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		stopAll()
		return err
	}
	fmt.Fprintf(e.out, `
== campusgate is running (state in %s) ==
  school console:  http://%s/   (the same as JSON under /api/; log in with an account below)
  MQTT broker:     %s (embedded in campusd; per-gate passwords in the state directory)
  console accounts (also in %s):
`, abs, *httpAddr, *mqttAddr, filepath.Join(abs, "console-accounts.txt"))
	for _, a := range accounts {
		fmt.Fprintf(e.out, "    %-9s %-13s %s\n", a.user, a.role, a.password)
	}
	for i, g := range boxes {
		what := "gate"
		if strings.HasPrefix(g, "desk-") {
			what = "desk"
		}
		fmt.Fprintf(e.out, "  %s %-9s guard console http://127.0.0.1:%d/\n", what, g, *consolePort+i)
	}
	fmt.Fprintf(e.out, `
Present a person (plain campus cards C0101 C0102 C0215 C9042 are allowed in the demo):
  bin/gatectl sim present -gate %s -code C0101 -temp 36.6
  bin/gatectl sim present -gate %s -code C0215 -temp 38.2     (a fever: denied, the nurse is alerted)
then see it in the console (the nurse's page at http://%s/alerts sounds the alarm), or from the command line:
  bin/gatectl school -server http://%s -user admin entries     (asks for the password)
Ctrl-C stops everything.
`, gateNames[0], gateNames[min(1, *n-1)], *httpAddr, *httpAddr)

	select {
	case <-ctx.Done():
		fmt.Fprintln(e.out, "stopping…")
		stopAll()
		return nil
	case who := <-exited:
		stopAll()
		return fmt.Errorf("%s exited; stopped the others", who)
	}
}

// provisionGate gives a gate its broker password (from campusd) and its
// configuration file, and returns the file and the guard console's address.
func provisionGate(ctx context.Context, campusd, state, dir, school, gate, mqttAddr string, port int) (string, string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", "", err
	}
	pwFile := filepath.Join(dir, "mqtt-password")
	if _, err := os.Stat(pwFile); errors.Is(err, fs.ErrNotExist) {
		out, err := exec.CommandContext(ctx, campusd, "gate", "add", "-state", state, "-school", school, "-print-password", gate).Output()
		if err != nil {
			return "", "", fmt.Errorf("campusd gate add %s: %w", gate, err)
		}
		if err := os.WriteFile(pwFile, bytes.TrimSpace(out), 0o600); err != nil {
			return "", "", err
		}
	}
	console := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := filepath.Join(dir, "gated.toml")
	mode := "gate"
	if strings.HasPrefix(gate, "desk-") {
		mode = "checkpoint" // the midday check: a desk with a thermometer and a scanner
	}
	text := fmt.Sprintf(`# written by gatectl sim up
gate_id   = %q
school_id = %q
journal   = %q
mode      = %q

[identity]
allow_plain_ids  = true   # the demo's printed campus cards
duplicate_window = "2s"

[temperature]
read_interval = "20ms"
retest_pause  = "500ms"

[console]
listen = %q

[sync]
broker        = "tcp://%s"
password_file = %q
command_key   = %q   # campusd's command key: remote open and re-sync, signed
`, gate, school, filepath.Join(dir, "journal.db"), mode, console, mqttAddr, pwFile, filepath.Join(state, "command.pub"))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return "", "", err
	}
	return cfg, console, nil
}

// ensureDemoKey makes the demo school's signing key if it is missing, and
// its public key in keysDir for campusd to send to the gates.
func ensureDemoKey(path, keysDir string) (string, error) {
	key, kid, err := pass.LoadOrCreatePrivateKey(path, "")
	if err == nil {
		if err = os.MkdirAll(keysDir, 0o750); err == nil {
			err = pass.EnsurePublicKey(filepath.Join(keysDir, kid+".pub"), key, kid)
		}
	}
	if err != nil {
		return "", fmt.Errorf("demo school key: %w", err)
	}
	return keysDir, nil
}

// siblingBinaries finds the named commands beside this gatectl (make run
// builds them all into bin/).
func siblingBinaries(names ...string) (map[string]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(self)
	if d := os.Getenv("CAMPUSGATE_BIN"); d != "" {
		dir = d // tests, and installs that keep the binaries elsewhere
	}
	out := map[string]string{}
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s is not beside gatectl (%s): build them together with make build", n, p)
		}
		out[n] = p
	}
	return out, nil
}

// prefixWriter writes each line of a child's log with its name in front.
func prefixWriter(w io.Writer, name string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintf(w, "[%s] %s\n", name, sc.Text())
		}
	}()
	return pw
}

func simPresent(ctx context.Context, e *env, args []string) error {
	fset := e.flags("sim present")
	state := fset.String("state", defaultSimState, "the state directory of gatectl sim up")
	gate := fset.String("gate", "", "gate id (required)")
	code := fset.String("code", "", "what the scanner reads: a pass (CG1:...) or a campus card id; none: a walk-in visitor the guard registered steps to the sensor")
	temp := fset.Float64("temp", 36.6, "body temperature the emulated sensor shows (0: nobody comes to the sensor)")
	if err := parse(fset, args); err != nil {
		return err
	}
	if *gate == "" || (*code == "" && *temp <= 0) {
		return usageErr(e.errw, "sim present", "-gate and -code (or, for a walk-in visitor, -temp) are required")
	}
	addr, err := os.ReadFile(filepath.Join(*state, "gates", *gate, "console.addr"))
	if err != nil {
		return fmt.Errorf("gate %s: is gatectl sim up running with -state %s? %w", *gate, *state, err)
	}
	body, _ := json.Marshal(map[string]any{"code": *code, "temperature_c": *temp})
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+strings.TrimSpace(string(addr))+"/api/sim/present", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) {
			return fmt.Errorf("gate %s does not answer at %s: %w", *gate, addr, err)
		}
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Decision string            `json:"decision"`
		Reason   string            `json:"reason"`
		Message  map[string]string `json:"message"`
		BodyC    float64           `json:"body_c"`
		Seq      uint64            `json:"seq"`
		Error    string            `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("gate %s: %s: %w", *gate, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("gate %s: %s", *gate, r.Error)
	}
	fmt.Fprintf(e.out, "%s: %s (%s) %s · %s", *gate, r.Decision, r.Reason, r.Message["ZH"], r.Message["EN"])
	if r.BodyC > 0 {
		fmt.Fprintf(e.out, " · %.1f °C", r.BodyC)
	}
	if r.Seq > 0 {
		fmt.Fprintf(e.out, " · journal seq %d", r.Seq)
	}
	fmt.Fprintln(e.out)
	return nil
}

type demoAccount struct{ user, role, class, password string }

// demoAccounts gives the demo school one console account per role, made on
// the first run and kept in the state directory (0600), so make run prints
// how to log in.
// readDemoAccounts reads the accounts file demoAccounts writes: "user role
// password" a line.
func readDemoAccounts(file string) ([]demoAccount, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []demoAccount
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			out = append(out, demoAccount{user: f[0], role: f[1], password: f[2]})
		}
	}
	return out, nil
}

func demoAccounts(ctx context.Context, campusd, state string) ([]demoAccount, error) {
	file := filepath.Join(state, "console-accounts.txt")
	if as, err := readDemoAccounts(file); err == nil {
		return as, nil
	}
	accounts := []demoAccount{{"admin", "admin", "", ""}, {"nurse", "nurse", "", ""}, {"teacher", "head_teacher", "1/1-2", ""},
		{"guard", "guard", "", ""}, {"district", "district", "", ""}}
	var text strings.Builder
	for i := range accounts {
		a := &accounts[i]
		a.password = "demo-" + console.NewPassword()
		args := []string{"user", "add", "-state", state, "-role", a.role, "-password-stdin"}
		if a.class != "" {
			args = append(args, "-class", a.class)
		}
		args = append(args, a.user)
		cmd := exec.CommandContext(ctx, campusd, args...)
		cmd.Stdin = strings.NewReader(a.password + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("campusd user add %s: %v\n%s", a.user, err, out)
		}
		fmt.Fprintf(&text, "%s %s %s\n", a.user, a.role, a.password)
	}
	if err := os.WriteFile(file, []byte(text.String()), 0o600); err != nil {
		return nil, err
	}
	return accounts, nil
}

// demoSchoolConfig is the demo school's settings for every gate (campusd
// -gate-config): pupils need today's family morning report, and one who has
// none, or reports symptoms, is let in and flagged.
const demoSchoolConfig = `# written by gatectl sim up: the demo school's settings for every gate
[roles.pupil]
admit       = true
daily_pass  = true
temperature = true

[roles.staff]
admit        = true
green_health = true
temperature  = true

[roles.visitor]
admit        = true
green_health = true
temperature  = true

[roles.parent]
admit       = false
temperature = true

[morning_report]
policy = "flag"
`

// demoRoster is the demo school's people with the guardians' phones (for the
// families' morning-report links), as campusd's -roster file.
func demoRoster(now time.Time) []store.Person {
	phones := map[string]string{"P20260101": "13800000101", "P20260102": "13800000102", "P20260215": "13800000215"}
	var out []store.Person
	for _, p := range demoschool.People(now) {
		out = append(out, store.Person{ID: p.ID, Name: p.Name, Role: p.Role, Grade: p.Grade, Class: p.Class, CardID: p.CardID,
			Health: p.Health, HealthDate: p.HealthDate, GuardianPhone: phones[p.ID]})
	}
	return out
}
