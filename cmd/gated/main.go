// Command gated is the gate daemon: it runs the admission flow on a gate box,
// records every entry in its journal before the gate opens, and serves the
// guard console.
//
//	gated -config /etc/campusgate/gated.toml
//	gated -simulate            # emulated devices behind the real drivers
//
// Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage, 125 bad
// configuration (systemd should not restart a gate whose config is wrong).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"campusgate/cmd/internal/metrics"
	"campusgate/cmd/internal/service"
	"campusgate/device/display"
	firmwareconfig "campusgate/firmware-config"
	"campusgate/gate"
	"campusgate/gate/console"
	"campusgate/gate/journal"
	"campusgate/gate/pass"
	"campusgate/sync/gatelink"
)

const exitBadConfig = 125

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// errConfig marks an error in the configuration.
type errConfig struct{ error }

func (e errConfig) Unwrap() error { return e.error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gated", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML)")
	simulate := fs.Bool("simulate", false, "emulated devices behind the real drivers; a demo school key and roster")
	listen := fs.String("listen", "", "guard console address (overrides console.listen)")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9470", "serve Prometheus metrics at http://ADDR/metrics, without login (\"\": none)")
	journalPath := fs.String("journal", "", "journal file (overrides journal)")
	keysDir := fs.String("keys", "", "directory of trusted school public keys (*.pub)")
	revoked := fs.String("revoked", "", "revocation list file (one pass id per line)")
	verbose := fs.Bool("v", false, "log debug messages")
	demo := fs.Duration("demo", 0, "with -simulate: present a random demo person this often (e.g. 3s)")
	demoKey := fs.String("demo-key", "", "with -simulate: the demo school's signing key (shared by simulated gates; made if missing)")
	simDisplay := fs.String("display", "", "with -simulate: an emulated small display on the I²C bus ("+display.ChipSSD1306+" or "+display.ChipHD44780+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := loadConfig(*cfgPath, *simulate, *listen, *journalPath, *simDisplay)
	if err != nil {
		fmt.Fprintf(stderr, "gated: %v\n", err)
		return exitBadConfig
	}
	d := &daemon{cfg: cfg, log: log, out: stdout, simulate: *simulate, keysDir: *keysDir, revoked: *revoked, demo: *demo, demoKey: *demoKey,
		metricsAddr: *metricsAddr}
	if err := d.run(ctx); err != nil {
		fmt.Fprintf(stderr, "gated: %v\n", err)
		var ce errConfig
		if errors.As(err, &ce) {
			return exitBadConfig
		}
		return 1
	}
	return 0
}

// loadConfig reads the file, or in simulation starts from a demo configuration.
func loadConfig(path string, simulate bool, listen, journalPath, simDisplay string) (gate.Config, error) {
	var cfg gate.Config
	switch {
	case path != "":
		c, err := gate.LoadConfigWith(path, firmwareconfig.Apply)
		if err != nil {
			return cfg, err
		}
		cfg = c
	case simulate:
		cfg = gate.DefaultConfig()
		cfg.GateID = "sim-1"
		cfg.SchoolID = "demo"
		cfg.Journal = filepath.Join(os.TempDir(), "campusgate-sim", "journal.db")
		cfg.Identity.AllowPlainIDs = true
		cfg.Temperature.ReadInterval = gate.Duration{Duration: 20 * time.Millisecond}
		cfg.Temperature.RetestPause = gate.Duration{Duration: 500 * time.Millisecond}
		cfg.Identity.DuplicateWindow = gate.Duration{Duration: 2 * time.Second}
	default:
		return cfg, errors.New("give -config FILE, or -simulate")
	}
	if listen != "" {
		cfg.Console.Listen = listen
	}
	if journalPath != "" {
		cfg.Journal = journalPath
	}
	if simDisplay != "" {
		if !simulate {
			return cfg, errors.New("-display is for -simulate: a real box's display is in its board profile ([display])")
		}
		cfg.Devices.Display = &display.Config{Chip: simDisplay}
	}
	return cfg, cfg.Validate()
}

type daemon struct {
	cfg      gate.Config
	log      *slog.Logger
	out      io.Writer
	simulate bool
	keysDir  string
	revoked  string
	demo     time.Duration
	demoKey  string
	// metricsAddr is its own listener, on localhost by default: the guard
	// console may face the school's network, and metrics need no login.
	metricsAddr string
	metrics     *gateMetrics
	appends     appendState // the journal's last append, for the health shown

	fileCfg gate.Config    // the box's own file; the school's config goes over it
	flow    *gate.Flow     // set before the link runs (commands use it)
	link    *gatelink.Link // nil without [sync]
}

func (d *daemon) run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(d.cfg.Journal), 0o750); err != nil {
		return fmt.Errorf("journal directory: %w", err)
	}
	j, err := journal.Open(d.cfg.Journal, &journal.Opts{GateID: d.cfg.GateID, Logger: d.log})
	if err != nil {
		return err
	}
	defer j.Close()
	d.metrics = newGateMetrics(j)
	d.fileCfg = d.cfg
	if v, doc, err := j.Config(); err == nil && v > 0 {
		// The school's last settings hold across a restart.
		if c, err := d.fileCfg.Overlay(string(doc)); err != nil {
			d.log.Warn("stored config from the school not applied", "version", v, "err", err)
		} else {
			d.cfg = c
			d.log.Info("config from the school in force", "version", v)
		}
	}

	// The cache holds a large school's passes: each pupil's Ed25519 check is
	// then paid once per gated run, not once per morning.
	verifier := &pass.Verifier{Keys: &pass.Keyring{}, Revoked: &pass.Revocations{}, Skew: 2 * time.Minute, Cache: pass.NewCache(4096)}
	localKeys, err := loadTrust(j, verifier, d.keysDir, d.revoked)
	if err != nil {
		return errConfig{err}
	}

	hw, err := d.devices()
	if err != nil {
		return err
	}
	defer hw.Close()
	speaker, err := d.newVoice()
	if err != nil {
		return err
	}
	hw.devices.Gate = meteredGate{Actuator: hw.devices.Gate, m: d.metrics}
	if hw.conn != nil {
		d.metrics.watchScanner(hw.conn)
	}
	if d.simulate {
		if err := seedDemo(j, verifier, d.out, d.cfg, d.demoKey); err != nil {
			return err
		}
	}
	if verifier.Keys.Len() == 0 && !d.cfg.Identity.AllowPlainIDs {
		d.log.Warn("no trusted school key and plain ids not allowed: every code will be refused until keys arrive")
	}

	// Every entry is counted; with [sync] it also wakes the link, and fevers go out at once.
	var (
		store = notifyingStore{Journal: j, m: d.metrics, last: &d.appends}
		link  *gatelink.Link
		cnt   = &counters{}
	)
	opts := &gate.Opts{Verifier: verifier, Logger: d.log}
	if d.cfg.Sync.Broker != "" {
		if link, err = d.newLink(j, verifier, localKeys, hw, cnt); err != nil {
			return err
		}
		store.kick, opts.Alerter = link.Kick, link
		d.metrics.watchLink(link)
	}
	flow, err := gate.New(d.cfg, hw.devices, store, opts)
	if err != nil {
		return errConfig{err}
	}
	d.flow, d.link = flow, link
	hw.flow.Store(flow)
	var presenter console.Presenter
	if d.simulate {
		presenter = &simPresenter{box: hw.sim, flow: flow, cal: d.cfg.Temperature.Calibration}
	}
	srv := &http.Server{
		Handler: console.New(flow, j, console.Opts{
			GateID: d.cfg.GateID, PINHash: d.cfg.Console.PINHash, Health: hw.health(j, &d.appends), Presenter: presenter, Logger: d.log,
			Checkpoint: d.cfg.Checkpoint(),
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	metrics.Serve(runCtx, d.metricsAddr, d.metrics.reg, "gated "+d.cfg.GateID, d.out, d.log)
	ln, err := net.Listen("tcp", d.cfg.Console.Listen)
	if err != nil {
		return fmt.Errorf("guard console: %w", err)
	}
	fmt.Fprintf(d.out, "gated %s: guard console on http://%s/ (journal %s)\n", d.cfg.GateID, ln.Addr(), d.cfg.Journal)
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()

	voiceDone := speak(runCtx, speaker, flow) // before the flow runs: the first person is heard too
	flowErr := make(chan error, 1)
	go func() { flowErr <- flow.Run(runCtx) }()
	go retention(runCtx, j, d.log)
	linkDone := make(chan struct{})
	if link != nil {
		go cnt.watch(runCtx, flow)
		go func() { defer close(linkDone); _ = link.Run(runCtx) }()
		fmt.Fprintf(d.out, "gated %s: syncing with %s as school %s\n", d.cfg.GateID, d.cfg.Sync.Broker, d.cfg.SchoolID)
	} else {
		close(linkDone)
	}
	if d.simulate && d.demo > 0 {
		go demoLoop(runCtx, presenter, d.demo, d.out)
	}
	panelDone := make(chan struct{})
	if hw.panel != nil {
		go func() { defer close(panelDone); hw.panel.Run(runCtx, flow) }()
	} else {
		close(panelDone)
	}
	service.Ready(d.log)
	// systemd restarts gated when the flow is stuck (a driver hung on its bus) or the journal no longer answers.
	go service.Watchdog(runCtx, d.log, func(context.Context) error {
		if err := flow.Check(); err != nil {
			return err
		}
		_, err := j.Backlog()
		return err
	})

	var result error
	select {
	case <-ctx.Done():
	case err := <-srvErr:
		result = fmt.Errorf("guard console: %w", err)
	case err := <-flowErr:
		if ctx.Err() == nil {
			result = err
		}
	}
	service.Stopping()
	cancel()
	<-linkDone // says "offline" to the server on the way out
	<-voiceDone
	<-panelDone // blanks the display before the bus closes
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer done()
	_ = srv.Shutdown(shutdownCtx) // SSE streams end with the context; nothing to save
	d.log.Info("gated stopped", "gate", d.cfg.GateID)
	return result
}

// loadTrust fills the verifier from the journal (keys and revocations sent down
// by the school) and from files given on the command line.
func loadTrust(j *journal.Journal, v *pass.Verifier, keysDir, revokedPath string) (local map[string]bool, err error) {
	local = map[string]bool{}
	keys, err := j.Keys()
	if err != nil {
		return nil, err
	}
	for kid, raw := range keys {
		pub, _, err := pass.ParsePublicKey(raw)
		if err != nil {
			return nil, fmt.Errorf("journal key %s: %w", kid, err)
		}
		if err := v.Keys.Add(kid, pub); err != nil {
			return nil, err
		}
	}
	if keysDir != "" {
		files, err := filepath.Glob(filepath.Join(keysDir, "*.pub"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("-keys %s: no *.pub files", keysDir)
		}
		for _, f := range files {
			pub, kid, err := pass.LoadPublicKey(f)
			if err != nil {
				return nil, err
			}
			if err := v.Keys.Add(kid, pub); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			local[kid] = true
		}
	}
	if revokedPath != "" {
		f, err := os.Open(revokedPath)
		if err != nil {
			return nil, fmt.Errorf("-revoked: %w", err)
		}
		defer f.Close()
		r, err := pass.ParseRevocations(f)
		if err != nil {
			return nil, fmt.Errorf("-revoked %s: %w", revokedPath, err)
		}
		v.Revoked = r
	}
	revs, err := j.Revocations()
	if err != nil {
		return nil, err
	}
	for id, until := range revs {
		v.Revoked.Add(id, until)
	}
	return local, nil
}

// retention purges acknowledged entries past the retention period, at start and
// then hourly: health data of children is not kept longer than the school needs.
func retention(ctx context.Context, j *journal.Journal, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := j.Purge(time.Now())
		if err != nil {
			log.Warn("journal purge", "err", err)
		} else if n > 0 {
			log.Info("journal purged", "entries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
