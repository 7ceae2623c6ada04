package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"campusgate/gate"
	"campusgate/gate/journal"
	"campusgate/sync/broker"
	"campusgate/sync/console"
	"campusgate/sync/gatelink"
	"campusgate/sync/wire"

	"golang.org/x/crypto/bcrypt"
)

// The morning profile of gatectl sim fleet, as fractions of -duration: the
// rate climbs linearly from 0 to -rate, holds, and falls back to 0, so a gate
// sends 0.7 × rate × duration entries on average.
const (
	fleetRamp = 0.3
	fleetPeak = 0.4
)

type fleetFlags struct {
	gates                 int
	rate, feverRate       float64
	duration, grace, wait time.Duration
	every                 time.Duration
	broker, school        string
	state, passwordFile   string
	prefix, journals      string
	keep, fsync           bool
	keepAccounts          bool
	consoleURL, user      string
}

func simFleet(ctx context.Context, e *env, args []string) error {
	fset := e.flags("sim fleet")
	var o fleetFlags
	fset.IntVar(&o.gates, "gates", 10, "simulated gates, each with its own MQTT connection and journal")
	fset.Float64Var(&o.rate, "rate", 1, "entries a second at each gate at the peak")
	fset.DurationVar(&o.duration, "duration", time.Minute, "the morning: 30% ramp up, 40% peak, 30% ramp down")
	fset.Float64Var(&o.feverRate, "fever-rate", 0.002, "fraction of entries that are fevers (denied, alert raised)")
	fset.StringVar(&o.broker, "broker", "mqtt://127.0.0.1:1883", "the school's MQTT broker (campusd's embedded one, or mosquitto)")
	fset.StringVar(&o.school, "school", "demo", "school id (campusd's -school)")
	fset.StringVar(&o.state, "state", "", "campusd's state directory: the fleet adds its gates' MQTT accounts to its mqtt-accounts.json")
	fset.StringVar(&o.passwordFile, "password-file", "", "instead of -state: the password of every fleet gate's account, made beforehand (mosquitto)")
	fset.StringVar(&o.prefix, "prefix", "fleet", "gate ids are PREFIX-0001, PREFIX-0002, …")
	fset.StringVar(&o.journals, "journals", "", "directory of the gates' journals, made afresh (default: a temporary one)")
	fset.BoolVar(&o.keep, "keep", false, "keep the temporary journal directory")
	fset.BoolVar(&o.keepAccounts, "keep-accounts", false, "with -state: keep the gates' MQTT accounts (and their password) for the next run instead of removing them at the end")
	fset.BoolVar(&o.fsync, "fsync", false, "fsync every journal commit as a real gate does (default off: N journals on one disk)")
	fset.StringVar(&o.consoleURL, "console", "http://127.0.0.1:8090", "the school console, to time fever alerts on the nurses' live stream (\"\": not timed)")
	fset.StringVar(&o.user, "user", "nurse", "console account for the live stream (nurse or admin); password from $CAMPUSGATE_PASSWORD, -state's console-accounts.txt, or stdin")
	fset.DurationVar(&o.grace, "grace", 30*time.Second, "after the morning, how long the server may take to ack the rest")
	fset.DurationVar(&o.wait, "connect-wait", time.Minute, "how long the gates may take to connect before the morning starts")
	fset.DurationVar(&o.every, "every", 5*time.Second, "print progress this often (0: only the summary)")
	if err := parse(fset, args); err != nil {
		return err
	}
	switch {
	case o.gates < 1 || o.gates > 9999:
		return usageErr(e.errw, "sim fleet", "-gates %d: 1 to 9999", o.gates)
	case o.rate <= 0 || o.duration <= 0:
		return usageErr(e.errw, "sim fleet", "-rate and -duration must be positive")
	case o.feverRate < 0 || o.feverRate > 1:
		return usageErr(e.errw, "sim fleet", "-fever-rate %v: 0 to 1", o.feverRate)
	case (o.state == "") == (o.passwordFile == ""):
		return usageErr(e.errw, "sim fleet", "give -state (campusd's state directory) or -password-file, one of them")
	}
	ids := make([]string, o.gates)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%04d", o.prefix, i+1)
		if err := wire.ValidGateID(ids[i]); err != nil {
			return usageErr(e.errw, "sim fleet", "-prefix %q: %v", o.prefix, err)
		}
	}
	password, err := fleetPassword(e, o, ids)
	if err != nil {
		return err
	}
	if o.state != "" && !o.keepAccounts {
		// A load test leaves no logins behind on the school's broker, also
		// when it is stopped or fails part way.
		defer func() {
			if err := removeFleetAccounts(e, o, ids); err != nil {
				fmt.Fprintf(e.errw, "gatectl sim fleet: the fleet's accounts were not removed: %v\n", err)
			}
		}()
	}
	dir := o.journals
	if dir == "" {
		if dir, err = os.MkdirTemp("", "campusgate-fleet-"); err != nil {
			return err
		}
		if o.keep {
			fmt.Fprintf(e.out, "journals in %s (kept)\n", dir)
		} else {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f := &fleet{o: o, e: e, start: time.Now(), fevers: map[fleetKey]time.Duration{}}
	var nurse *console.Client
	if o.consoleURL != "" {
		if nurse, err = fleetConsole(ctx, e, o); err != nil {
			return err
		}
	}
	return f.run(ctx, dir, ids, password, nurse)
}

// fleetPassword is the password every fleet gate logs in with. With -state it
// is made once and kept there (fleet-mqtt.secret), and the gates' accounts are
// added to campusd's accounts file, which campusd rereads within a second.
// They are hashed at bcrypt's lowest cost, so that 2,000 of them take seconds
// to make: the server's first check of each is then cheaper than a real
// gate's (campusd gate add, cost 10), later ones are remembered alike.
func fleetPassword(e *env, o fleetFlags, ids []string) (string, error) {
	if o.passwordFile != "" {
		b, err := os.ReadFile(o.passwordFile)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]), nil
	}
	file := filepath.Join(o.state, "mqtt-accounts.json")
	if _, err := os.Stat(file); err != nil {
		return "", fmt.Errorf("-state %s: not a campusd state directory: %w", o.state, err)
	}
	secret := filepath.Join(o.state, "fleet-mqtt.secret")
	b, err := os.ReadFile(secret)
	made := errors.Is(err, fs.ErrNotExist)
	pw := strings.TrimSpace(string(b))
	switch {
	case made:
		pw = broker.NewPassword()
		if err := os.WriteFile(secret, []byte(pw+"\n"), 0o600); err != nil {
			return "", err
		}
	case err != nil:
		return "", err
	}
	accounts := &broker.Accounts{Cost: bcrypt.MinCost}
	if err := accounts.Load(file); err != nil {
		return "", err
	}
	added := 0
	for _, id := range ids {
		want := broker.Account{Role: broker.RoleGate, School: o.school, Gate: id}
		if a, ok := accounts.Lookup(id); ok && a == want && !made {
			continue // made by an earlier run, with this password
		}
		if err := accounts.Add(id, pw, want); err != nil {
			return "", err
		}
		added++
	}
	if added > 0 {
		if err := accounts.Save(file); err != nil {
			return "", err
		}
		fmt.Fprintf(e.out, "added %d gate accounts to %s; waiting for campusd to reread it\n", added, file)
		time.Sleep(1500 * time.Millisecond) // campusd looks at the file every second
	}
	return pw, nil
}

// removeFleetAccounts takes the fleet's gates out of campusd's accounts file
// (campusd rereads it within a second and refuses them from then on) and
// removes their password.
func removeFleetAccounts(e *env, o fleetFlags, ids []string) error {
	file := filepath.Join(o.state, "mqtt-accounts.json")
	accounts := &broker.Accounts{}
	if err := accounts.Load(file); err != nil {
		return err
	}
	removed := 0
	for _, id := range ids {
		if a, ok := accounts.Lookup(id); ok && a.Role == broker.RoleGate && a.School == o.school && a.Gate == id {
			accounts.Remove(id)
			removed++
		}
	}
	if removed > 0 {
		if err := accounts.Save(file); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(o.state, "fleet-mqtt.secret")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	fmt.Fprintf(e.out, "removed the fleet's %d gate accounts from %s (-keep-accounts keeps them)\n", removed, file)
	return nil
}

// fleetConsole logs in to the console for its live event stream.
func fleetConsole(ctx context.Context, e *env, o fleetFlags) (*console.Client, error) {
	pw := os.Getenv("CAMPUSGATE_PASSWORD")
	if pw == "" && o.state != "" {
		as, _ := readDemoAccounts(filepath.Join(o.state, "console-accounts.txt")) // sim up's accounts, if it made them
		for _, a := range as {
			if a.user == o.user {
				pw = a.password
			}
		}
	}
	if pw == "" {
		var err error
		if pw, err = readPassword(e); err != nil {
			return nil, fmt.Errorf("console %s: %w (or -console \"\" not to time alerts)", o.consoleURL, err)
		}
	}
	c := console.NewClient(o.consoleURL)
	if err := c.Login(ctx, o.user, pw); err != nil {
		return nil, fmt.Errorf("console %s: log in as %s: %w", o.consoleURL, o.user, err)
	}
	return c, nil
}

type fleetKey struct {
	gate string
	seq  uint64
}

// fleet is the simulated gates and what is measured of them. Times are
// durations since start (the monotonic clock).
type fleet struct {
	o     fleetFlags
	e     *env
	start time.Time
	gates []*fleetGate

	appended, acked atomic.Int64

	mu       sync.Mutex
	ackLat   []time.Duration // every entry acked
	window   []time.Duration // since the last progress line
	fevers   map[fleetKey]time.Duration
	alertLat []time.Duration
	raised   int // fevers
}

type fleetGate struct {
	id   string
	j    *journal.Journal
	link *gatelink.Link
	due  float64 // the expected-entries mark at which the next entry comes (the worker's)

	mu sync.Mutex
	at []time.Duration // by seq-1: when Append returned; -1 once acked
}

func (f *fleet) since() time.Duration { return time.Since(f.start) }

func (f *fleet) run(ctx context.Context, dir string, ids []string, password string, nurse *console.Client) error {
	o := f.o
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var links sync.WaitGroup
	defer func() {
		cancel()
		links.Wait()
		for _, g := range f.gates {
			_ = g.j.Close()
		}
	}()
	for _, id := range ids {
		path := filepath.Join(dir, id+".db")
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		j, err := journal.Open(path, &journal.Opts{GateID: id, NoSync: !o.fsync, Logger: f.e.log})
		if err != nil {
			return err
		}
		g := &fleetGate{id: id, j: j}
		f.gates = append(f.gates, g)
		dial, err := gatelink.PahoDialer(gatelink.PahoOpts{Broker: o.broker, ClientID: id, Username: id, Password: password})
		if err != nil {
			return err
		}
		// gated's settings (gate.Config's defaults), and the hook that times each entry.
		g.link, err = gatelink.New(gatelink.Opts{School: o.school, Gate: id, Dial: dial, Store: j, Version: "gatectl-sim-fleet",
			Silence: 15 * time.Second, Logger: f.e.log, AckedSeqs: func(seqs []uint64) { f.acks(g, seqs) }})
		if err != nil {
			return err
		}
	}

	alertsUp := make(chan error, 1)
	if nurse != nil {
		go f.watchAlerts(ctx, nurse, alertsUp)
		if err := <-alertsUp; err != nil {
			return err
		}
	}
	linksStart := time.Now()
	for _, g := range f.gates {
		links.Add(1)
		go func() { defer links.Done(); _ = g.link.Run(ctx) }()
		time.Sleep(time.Millisecond) // 2,000 gates connect over 2 s rather than in one burst
	}
	deadline := time.Now().Add(o.wait)
	for f.connected() < len(f.gates) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	connectTook := time.Since(linksStart)
	if n := f.connected(); n < len(f.gates) {
		return fmt.Errorf("only %d of %d gates connected to %s within %v", n, len(f.gates), o.broker, o.wait)
	}
	syncNote := "no fsync (a real gate fsyncs every entry)"
	if o.fsync {
		syncNote = "fsync on every commit, as a real gate"
	}
	fmt.Fprintf(f.e.out, "%d gates connected to %s in %v; the morning starts: %v at up to %g entries/s a gate; journals: %s\n",
		len(f.gates), o.broker, connectTook.Round(time.Millisecond), o.duration, o.rate, syncNote)

	morning := time.Now()
	stopProgress := f.progress(ctx, morning)
	if err := f.drive(ctx, morning); err != nil && ctx.Err() == nil {
		stopProgress()
		return err
	}
	// Interrupted (Ctrl-C): no grace, but the figures of what was done.
	// The drain grace: the server acks what is still in flight.
	graceEnd := time.Now().Add(o.grace)
	for time.Now().Before(graceEnd) && ctx.Err() == nil && (f.acked.Load() < f.appended.Load() || f.alertsMissing(nurse)) {
		time.Sleep(50 * time.Millisecond)
	}
	stopProgress()
	// What the fleet costs, taken while every link still runs.
	res := fleetResources{up: f.connected(), goroutines: runtime.NumGoroutine(), rss: selfRSS()}
	runtime.ReadMemStats(&res.mem)
	cancel()
	links.Wait()
	return f.summary(morning, connectTook, res, nurse != nil, syncNote)
}

// drive appends the morning's entries until -duration has passed. A few
// workers share the gates, each with one ticker: no goroutine or timer a
// gate. Arrivals are a Poisson process of the profile's rate: a gate's next
// entry comes when the expected count reaches its mark, each mark an
// exponential step above the last.
func (f *fleet) drive(ctx context.Context, morning time.Time) error {
	workers := min(len(f.gates), 4*runtime.GOMAXPROCS(0))
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(morning.UnixNano())))
			var mine []*fleetGate
			for i := w; i < len(f.gates); i += workers {
				f.gates[i].due = rng.ExpFloat64()
				mine = append(mine, f.gates[i])
			}
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				el := time.Since(morning)
				mark := f.expected(el)
				for _, g := range mine {
					for g.due <= mark {
						if err := f.admit(g, rng); err != nil {
							errc <- err
							return
						}
						g.due += rng.ExpFloat64()
					}
				}
				if el >= f.o.duration {
					return
				}
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
}

// expected is the entries a gate is expected to have sent el into the
// morning: the integral of the profile's rate.
func (f *fleet) expected(el time.Duration) float64 {
	d := f.o.duration.Seconds()
	t := min(el.Seconds(), d)
	a, b := fleetRamp*d, (fleetRamp+fleetPeak)*d
	r := f.o.rate
	switch {
	case t < a:
		return r * t * t / (2 * a)
	case t < b:
		return r*a/2 + r*(t-a)
	default:
		down := d - b
		x := t - b
		return r*a/2 + r*(b-a) + r*(x-x*x/(2*down))
	}
}

// admit is one person through gate g, as gated's flow writes it: the
// decision appended to the journal, the link told, and a fever's alert raised
// through Link.Alert once the entry is durable.
func (f *fleet) admit(g *fleetGate, rng *rand.Rand) error {
	fever := rng.Float64() < f.o.feverRate
	decided := f.since()
	now := time.Now()
	ambient := 18 + rng.Float64()*4
	body := 36.1 + rng.Float64()*0.9
	e := journal.Entry{Time: now, ClockSynced: true, MonoNS: int64(gate.Uptime()), Boot: fleetBoot,
		Role: "pupil", Credential: "pass", Assurance: "high", Health: "green", Decision: "admit", Reason: "ok", Kind: "entry"}
	if rng.IntN(20) == 0 {
		e.Role = "staff"
	}
	if fever {
		body = 38 + rng.Float64()*1.5
		e.Decision, e.Reason = "deny", string(gate.ReasonFever)
	}
	e.Readings = []journal.Reading{{SurfaceC: body - 1.8, BodyC: body, AmbientC: ambient, Sensor: "mlx90614", At: now}}
	e.BodyC = body
	g.mu.Lock()
	// A pupil comes once a morning: one id an entry, unique in the run.
	e.PersonID = "F" + g.id[len(g.id)-4:] + strconv.Itoa(100000+len(g.at))
	// The fever is noted under the seq Append will give it (the journal is
	// fresh) before the link can read the entry: the server raises the alert
	// from the entry too, and that may come first.
	k := fleetKey{g.id, uint64(len(g.at)) + 1}
	if fever {
		f.mu.Lock()
		f.fevers[k] = decided
		f.raised++
		f.mu.Unlock()
	}
	err := g.j.Append(&e)
	if err == nil {
		if e.Seq != k.seq {
			err = fmt.Errorf("journal seq %d, want %d (not a fresh journal)", e.Seq, k.seq)
		}
		g.at = append(g.at, f.since())
	}
	g.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", g.id, err)
	}
	f.appended.Add(1)
	g.link.Kick()
	if fever {
		g.link.Alert(e)
	}
	return nil
}

var fleetBoot = gate.BootID()

// acks is the link's AckedSeqs hook: each entry's stored-and-acked latency,
// from Append's return to the commit of the server's ack at the gate.
func (f *fleet) acks(g *fleetGate, seqs []uint64) {
	now := f.since()
	g.mu.Lock()
	f.mu.Lock()
	for _, s := range seqs {
		i := s - 1
		if i >= uint64(len(g.at)) || g.at[i] < 0 {
			continue // acked before (a resent batch)
		}
		lat := now - g.at[i]
		g.at[i] = -1
		f.ackLat = append(f.ackLat, lat)
		f.window = append(f.window, lat)
		f.acked.Add(1)
	}
	f.mu.Unlock()
	g.mu.Unlock()
}

func (f *fleet) connected() int {
	n := 0
	for _, g := range f.gates {
		if g.link.Stats().Connected {
			n++
		}
	}
	return n
}

// watchAlerts reads the console's live event stream as the nurses' page
// does, and times each fever alert of the fleet from the gate's decision.
// It says on up when the stream is open (or why not).
func (f *fleet) watchAlerts(ctx context.Context, c *console.Client, up chan<- error) {
	body, err := c.Stream(ctx, "/api/events")
	if err != nil {
		up <- fmt.Errorf("console live stream: %w", err)
		return
	}
	defer body.Close()
	go func() { <-ctx.Done(); body.Close() }()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	opened := false
	for sc.Scan() {
		line := sc.Text()
		if !opened && strings.HasPrefix(line, ": connected") {
			opened = true
			up <- nil
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Kind  string      `json:"kind"`
			Alert *wire.Alert `json:"alert"`
		}
		if json.Unmarshal([]byte(data), &ev) != nil || ev.Kind != "alert" || ev.Alert == nil {
			continue
		}
		seen := f.since()
		k := fleetKey{ev.Alert.Gate, ev.Alert.Seq}
		f.mu.Lock()
		if decided, ok := f.fevers[k]; ok {
			f.alertLat = append(f.alertLat, seen-decided)
			delete(f.fevers, k)
		}
		f.mu.Unlock()
	}
	if !opened {
		up <- fmt.Errorf("console live stream closed before it opened: %v", sc.Err())
	}
}

func (f *fleet) alertsMissing(nurse *console.Client) bool {
	if nurse == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.fevers) > 0
}

// progress prints a line every -every until stopped.
func (f *fleet) progress(ctx context.Context, morning time.Time) (stop func()) {
	if f.o.every <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(f.o.every)
		defer t.Stop()
		for ctx.Err() == nil {
			select {
			case <-t.C:
				f.printProgress(morning)
			case <-ctx.Done():
			}
		}
	}()
	return func() { cancel(); <-done }
}

// printProgress is one progress line; its latencies are of the entries
// acked since the last.
func (f *fleet) printProgress(morning time.Time) {
	f.mu.Lock()
	w := f.window
	f.window = nil
	f.mu.Unlock()
	slices.Sort(w)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	app, ack := f.appended.Load(), f.acked.Load()
	fmt.Fprintf(f.e.out, "%6s  appended %d  acked %d  outstanding %d  up %d/%d  ack p50 %v p99 %v (last %v)  heap %s  goroutines %d\n",
		time.Since(morning).Round(time.Second), app, ack, app-ack, f.connected(), len(f.gates),
		pct(w, 50), pct(w, 99), f.o.every, mib(ms.HeapAlloc), runtime.NumGoroutine())
}

// summary prints the figures and fails if an entry was lost.
type fleetResources struct {
	up, goroutines int
	mem            runtime.MemStats
	rss            string // the process's resident memory, journals' mapped pages included
}

func (f *fleet) summary(morning time.Time, connectTook time.Duration, res fleetResources, timedAlerts bool, syncNote string) error {
	f.mu.Lock()
	lat, alat, missing, raised := slices.Clone(f.ackLat), slices.Clone(f.alertLat), len(f.fevers), f.raised
	f.mu.Unlock()
	slices.Sort(lat)
	slices.Sort(alat)
	var resent int64
	for _, g := range f.gates {
		resent += g.link.Stats().Resent
	}
	app, ack := f.appended.Load(), f.acked.Load()
	n := len(f.gates)
	w := tabwriter.NewWriter(f.e.out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\nFIGURE\tVALUE\n")
	fmt.Fprintf(w, "gates\t%d (%d MQTT connections up at the end)\n", n, res.up)
	fmt.Fprintf(w, "morning\t%v, peak %g entries/s a gate (ramp %.0f%% / peak %.0f%% / down %.0f%%), took %v with the drain\n",
		f.o.duration, f.o.rate, fleetRamp*100, fleetPeak*100, (1-fleetRamp-fleetPeak)*100, time.Since(morning).Round(time.Millisecond))
	fmt.Fprintf(w, "journals\t%s\n", syncNote)
	fmt.Fprintf(w, "connect\tall gates up in %v\n", connectTook.Round(time.Millisecond))
	fmt.Fprintf(w, "entries expected\t%.0f (on average)\n", f.expected(f.o.duration)*float64(n))
	fmt.Fprintf(w, "entries appended\t%d\n", app)
	fmt.Fprintf(w, "entries acked\t%d\n", ack)
	fmt.Fprintf(w, "loss\t%d (appended − acked after a %v grace)\n", app-ack, f.o.grace)
	fmt.Fprintf(w, "stored-and-acked latency\tp50 %v  p95 %v  p99 %v  max %v  (n=%d)\n", pct(lat, 50), pct(lat, 95), pct(lat, 99), pct(lat, 100), len(lat))
	fmt.Fprintf(w, "resent messages\t%d\n", resent)
	if timedAlerts {
		fmt.Fprintf(w, "fever alerts\t%d raised, %d seen on the console's live stream, %d missing\n", raised, raised-missing, missing)
		fmt.Fprintf(w, "fever alert latency\tp50 %v  p95 %v  p99 %v  max %v  (decision → nurse's live stream)\n", pct(alat, 50), pct(alat, 95), pct(alat, 99), pct(alat, 100))
	} else {
		fmt.Fprintf(w, "fever alerts\t%d raised, not timed (no -console)\n", raised)
	}
	fmt.Fprintf(w, "fleet memory\theap %s, from the OS %s (%s a gate), %d goroutines (%.1f a gate), at the end of the drain\n",
		mib(res.mem.HeapAlloc), mib(res.mem.Sys), kib(res.mem.Sys/uint64(n)), res.goroutines, float64(res.goroutines)/float64(n))
	if res.rss != "" {
		fmt.Fprintf(w, "fleet resident memory\t%s (Go's and the journals' mapped files)\n", res.rss)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if app != ack {
		return fmt.Errorf("loss: %d entries appended but not acknowledged by the server", app-ack)
	}
	return nil
}

// pct is the p-th percentile of sorted (p 100: the largest), rounded for
// reading; "-" when there is none.
func pct(sorted []time.Duration, p float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := min(int(float64(len(sorted))*p/100), len(sorted)-1)
	d := sorted[i]
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func kib(b uint64) string { return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10)) }

// selfRSS is VmRSS from /proc (Linux), or "" elsewhere.
func selfRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
