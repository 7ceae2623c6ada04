package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"campusgate/cmd/internal/metrics"
	"campusgate/cmd/internal/service"
	"campusgate/gate/pass"
	"campusgate/sync/broker"
	"campusgate/sync/console"
	"campusgate/sync/ingest"
	"campusgate/sync/pki"
	"campusgate/sync/store"
	"campusgate/sync/wire"

	"github.com/jonboulle/clockwork"
)

// serverUser is campusd's own MQTT user on its embedded broker.
func serverUser(school string) string { return "campusd@" + school }

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("campusd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "/var/lib/campusgate-server", "state directory: database, MQTT accounts")
	database := dbFlag(fs)
	school := fs.String("school", "", "school id (required; the gates' configs carry the same)")
	httpAddr := fs.String("http", "127.0.0.1:8090", "web pages and API")
	// Not on -http: the console may face the school's network, and metrics need no login.
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9471", "serve Prometheus metrics at http://ADDR/metrics, without login (\"\": none)")
	mqttListen := fs.String("mqtt-listen", "127.0.0.1:1883", "the embedded broker's address (ignored with -broker)")
	mqttTLS := fs.String("mqtt-tls-listen", "", "also listen with TLS here for the gates (e.g. 0.0.0.0:8883); needs -tls-cert and -tls-key")
	tlsCert := fs.String("tls-cert", "", "the broker's TLS certificate (gatectl pki issue-server)")
	tlsKey := fs.String("tls-key", "", "its key")
	tlsClientCA := fs.String("tls-client-ca", "", "CA of the gates' client certificates (gatectl pki init): a gate with one needs no password")
	brokerURL := fs.String("broker", "", "use this MQTT broker instead of the embedded one (tcp://host:1883, ssl://host:8883)")
	brokerUser := fs.String("broker-user", "", "with -broker: campusd's user (default campusd@SCHOOL)")
	brokerPassFile := fs.String("broker-password-file", "", "with -broker: file holding campusd's password")
	instance := fs.String("instance", "", "this instance's name when several campusd share a broker (default: host name)")
	rosterFile := fs.String("roster", "", "the school's roster, a JSON array of people (id, name, role, grade, class, card_id, health, health_date), sent to every gate")
	keysDir := fs.String("keys", "", "directory of the school's pass-signing public keys (*.pub), sent to every gate")
	gateConfig := fs.String("gate-config", "", "the school's gate settings (TOML: temperature, roles, identity, arrival, anti_passback, guard), sent to every gate")
	passKey := fs.String("pass-key", "", "the school's pass-signing private key (gatectl pass keygen); default: one campusd makes in the state directory")
	tz := fs.String("tz", "", "the school's time zone, for days and reports (e.g. Asia/Shanghai; default: this machine's)")
	escalate := fs.Duration("escalate-after", 3*time.Minute, "a fever alert nobody acknowledges for this long goes to the admins too")
	cutoff := fs.String("absence-cutoff", "08:30", "time of day after which someone expected who has not come in is absent")
	feverC := fs.Float64("fever", 37.3, "a temperature at home at or over this makes a family's morning report red")
	publicURL := fs.String("public-url", "", "the console's address as families reach it, for the printed morning-report links (default: the address the letters are printed from)")
	reportAt := fs.String("district-report-at", "09:30", "time of day (HH:MM, school time) the daily report goes to the district, then again at each correction; off: none")
	secure := fs.Bool("secure-cookies", false, "mark session cookies Secure (the console is behind an HTTPS proxy)")
	verbose := fs.Bool("v", false, "log debug messages")
	retention := daysFlag(store.DefaultRetention.Data)
	fs.Var(&retention, "retention", "keep entries, alerts, morning reports, absences, visitors and expired passes this long (180d, or a Go duration); purged daily")
	auditRetention := daysFlag(store.DefaultRetention.Audit)
	fs.Var(&auditRetention, "audit-retention", "keep the audit log this long (never less than -retention)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if err := wire.ValidID(*school); err != nil {
		fmt.Fprintf(stderr, "campusd: -school: %v\n", err)
		return errUsage
	}
	at, feed, err := parseReportAt(*reportAt)
	if err != nil {
		fmt.Fprintf(stderr, "campusd: %v\n", err)
		return errUsage
	}
	loc := time.Local
	if *tz != "" {
		l, err := time.LoadLocation(*tz)
		if err != nil {
			fmt.Fprintf(stderr, "campusd: -tz: %v\n", err)
			return errUsage
		}
		loc = l
	}
	log := newLogger(stderr, *verbose)
	p := paths{*state, *database}
	if err := os.MkdirAll(p.dir, 0o750); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	db, err := store.Open(ctx, p.db(), &store.Opts{Logger: log, Location: loc})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := firstAdmin(ctx, db, stdout); err != nil {
		return err
	}
	issuer, err := passIssuer(p, *passKey)
	if err != nil {
		return err
	}

	// The broker: embedded (default) or external.
	url, user, password := *brokerURL, *brokerUser, ""
	if url == "" {
		accounts := &broker.Accounts{}
		if err := accounts.Load(p.accounts()); err != nil {
			return err
		}
		password, err = serverSecret(p, accounts, *school)
		if err != nil {
			return err
		}
		bo := broker.Opts{Listen: *mqttListen, Auth: accounts, School: *school, Logger: log}
		if *mqttTLS != "" {
			if *tlsCert == "" || *tlsKey == "" {
				fmt.Fprintln(stderr, "campusd: -mqtt-tls-listen needs -tls-cert and -tls-key")
				return errUsage
			}
			if bo.TLS, err = pki.ServerTLS(*tlsCert, *tlsKey, *tlsClientCA); err != nil {
				return err
			}
			bo.TLSListen = *mqttTLS
		}
		b, err := broker.Start(ctx, bo)
		if err != nil {
			return err
		}
		if b.TLSAddr() != "" {
			fmt.Fprintf(stdout, "campusd %s: MQTT broker (TLS) on %s\n", *school, b.TLSAddr())
		}
		defer b.Close()
		go reloadAccounts(ctx, accounts, p.accounts(), log)
		url, user = "tcp://"+b.Addr(), serverUser(*school)
		fmt.Fprintf(stdout, "campusd %s: MQTT broker on %s\n", *school, b.Addr())
	} else {
		if user == "" {
			user = serverUser(*school)
		}
		if *brokerPassFile != "" {
			b, err := os.ReadFile(*brokerPassFile)
			if err != nil {
				return fmt.Errorf("-broker-password-file: %w", err)
			}
			password = strings.TrimSpace(string(b))
		}
	}

	if *instance == "" {
		*instance, _ = os.Hostname()
	}
	pub := &ingest.LatePublisher{}
	dl := newDownlink(pub, log, *school)
	if *rosterFile != "" {
		if err := importRosterFile(ctx, db, *rosterFile, log); err != nil {
			return err
		}
	}
	baseConfig := ""
	if *gateConfig != "" {
		b, err := os.ReadFile(*gateConfig)
		if err != nil {
			return fmt.Errorf("-gate-config: %w", err)
		}
		// Checked as a gate will check it, so a mistake shows here, not on every gate.
		if err := console.CheckGateConfig(string(b)); err != nil {
			return fmt.Errorf("-gate-config %s: %w", *gateConfig, err)
		}
		baseConfig = string(b)
	}
	keys := wire.Keys{V: wire.Version}
	if *keysDir != "" {
		if keys, err = loadKeys(*keysDir); err != nil {
			return err
		}
	}
	if !slices.ContainsFunc(keys.Keys, func(k wire.Key) bool { return k.KID == issuer.KeyID() }) {
		keys.Keys = append(keys.Keys, wire.Key{KID: issuer.KeyID(), Public: issuer.Public()})
	}
	dl.setKeys(keys)
	cmdPriv, cmdKID, err := commandKey(p)
	if err != nil {
		return err
	}
	var client atomic.Pointer[ingest.Client]
	connected := func() bool { c := client.Load(); return c != nil && c.Connected() }
	met := newServerMetrics()
	met.watchBroker(connected)
	met.watchGates(db, log)
	gates := &gateControl{dl: dl, db: db, pub: pub, school: *school, cmdKey: cmdPriv, cmdKID: cmdKID, connected: connected}
	var in *ingest.Ingest
	cons, err := console.New(console.Opts{DB: db, School: *school, Gates: gates, Issuer: issuer, EscalateAfter: *escalate,
		AbsenceCutoff: *cutoff, Secure: *secure, Logger: log, Stats: func() any { return in.Stats() }, GateConfig: baseConfig,
		FeverC: *feverC, Base: *publicURL, Retention: store.Retention{Data: time.Duration(retention), Audit: time.Duration(auditRetention)},
		StoreFailing: func() (time.Time, error) { return in.StoreFailing() }})
	if err != nil {
		return err
	}
	if err := cons.PushAll(ctx); err != nil {
		return err
	}
	if *rosterFile != "" {
		go watchRoster(ctx, *rosterFile, db, cons, log)
	}
	// A fever alert held here unstored (a full disk) is announced to the
	// other instances, whose pages hold it too; the database may be slow to
	// answer as it refuses, so never on the ingest's goroutine.
	announceHeld := func(school string, a wire.Alert) {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		db.AnnounceHeld(actx, school, a)
	}
	// A fever in a batch the database refused is held for the nurse unless
	// the database has it, looked up one at a time off the ingest's
	// goroutine; one that finds the queue full waits for its gate's next
	// resend of the batch.
	type refusedFever struct {
		school string
		a      wire.Alert
	}
	refused := make(chan refusedFever, 64)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case f := <-refused:
				if cons.HoldUnlessStored(ctx, f.school, f.a) {
					announceHeld(f.school, f.a)
				}
			}
		}
	}()
	in, err = ingest.New(ingest.Opts{Store: db, Publisher: pub, Logger: log,
		OnAlert: func(school string, a wire.Alert, stored bool) {
			if stored {
				cons.Alert(school, a)
			} else if cons.AlertNotStored(school, a) {
				go announceHeld(school, a) // OnAlert must not block
			}
			log.Warn("alert", "kind", a.Kind, "gate", a.Gate, "seq", a.Seq, "body_c", a.BodyC) // no names in the log
		},
		OnRefusedFever: func(school string, a wire.Alert) {
			select {
			case refused <- refusedFever{school, a}:
			default:
			}
		},
		OnTelemetry:    dl.telemetry,
		OnCommit:       met.committed,
		OnStoreFailing: func(bool) { cons.StoreStateChanged() },
	})
	if err != nil {
		return err
	}
	// Alerts other instances store (several campusd on one PostgreSQL) are
	// shown live here too, and those they hold unstored are held here too.
	go db.ListenAlerts(ctx, func(school string, a wire.Alert, held bool) {
		if held {
			cons.HoldUnlessStored(ctx, school, a)
		} else {
			cons.Alert(school, a)
		}
	})
	met.watchIngest(in)
	ingCtx, stopIngest := context.WithCancel(ctx)
	ingDone := make(chan struct{})
	go func() { defer close(ingDone); _ = in.Run(ingCtx) }()
	cl, err := ingest.Dial(ctx, ingest.ClientOpts{Broker: url, ClientID: clientID(user, *instance), Username: user, Password: password, Logger: log}, in.Handle)
	if err != nil {
		stopIngest()
		<-ingDone
		return err
	}
	client.Store(cl)
	pub.Set(cl)
	consCtx, stopConsole := context.WithCancel(ctx)
	defer stopConsole()
	metrics.Serve(consCtx, *metricsAddr, met.reg, "campusd "+*school, stdout, log)
	go func() { _ = cons.Run(consCtx) }()
	if feed {
		d := &districtFeed{db: db, totals: cons, pub: pub, school: *school, at: at, clock: clockwork.NewRealClock(), log: log}
		go d.Run(consCtx)
	}
	srv := &http.Server{Handler: cons.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		cl.Close()
		stopIngest()
		<-ingDone
		return fmt.Errorf("http: %w", err)
	}
	fmt.Fprintf(stdout, "campusd %s: web console on http://%s/ (database %s)\n", *school, ln.Addr(), p.dbName())
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	service.Ready(log)
	go service.Watchdog(consCtx, log, db.Ping)

	select {
	case <-ctx.Done():
	case err = <-srvErr:
	}
	service.Stopping()
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	cl.Close()
	stopIngest() // stores what is queued, then returns
	<-ingDone
	log.Info("campusd stopped", "stats", fmt.Sprintf("%+v", in.Stats()))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// clientID is unique per instance: with the embedded broker's rules a
// server account may use any client id, and two instances must not share one.
func clientID(user, instance string) string {
	id := user + "-" + instance
	if len(id) > 64 {
		id = id[:64]
	}
	return id
}

// serverSecret returns campusd's own password on the embedded broker, made
// on first start and kept in the state directory.
func serverSecret(p paths, accounts *broker.Accounts, school string) (string, error) {
	b, err := os.ReadFile(p.secret())
	if err == nil {
		pw := strings.TrimSpace(string(b))
		if _, ok := accounts.Authenticate(serverUser(school), pw); ok {
			return pw, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	pw := broker.NewPassword()
	if err := accounts.Add(serverUser(school), pw, broker.Account{Role: broker.RoleServer}); err != nil {
		return "", err
	}
	if err := accounts.Save(p.accounts()); err != nil {
		return "", err
	}
	if err := os.WriteFile(p.secret(), []byte(pw+"\n"), 0o600); err != nil {
		return "", err
	}
	return pw, nil
}

// gateCmd provisions a gate's MQTT account.
func gateCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: campusd gate add [-state DIR] -school ID [-print-password] GATE")
		return errUsage
	}
	fs := flag.NewFlagSet("campusd gate add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "/var/lib/campusgate-server", "state directory")
	school := fs.String("school", "", "school id (required)")
	printOnly := fs.Bool("print-password", false, "print only the password (for scripts)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "campusd gate add: give one gate id")
		return errUsage
	}
	gate := fs.Arg(0)
	if err := wire.ValidGateID(gate); err != nil {
		return err
	}
	if err := wire.ValidID(*school); err != nil {
		return fmt.Errorf("-school: %w", err)
	}
	p := paths{dir: *state}
	if err := os.MkdirAll(p.dir, 0o750); err != nil {
		return err
	}
	if _, _, err := commandKey(p); err != nil {
		return err
	}
	pw, err := addAccount(p, gate, broker.Account{Role: broker.RoleGate, School: *school, Gate: gate})
	if err != nil {
		return err
	}
	if *printOnly {
		fmt.Fprintln(stdout, pw)
		return nil
	}
	fmt.Fprintf(stdout, `gate %s added (a running campusd picks it up within seconds). In the gate's gated.toml:

gate_id   = %q
school_id = %q

[sync]
broker        = "tcp://SCHOOL-SERVER:1883"
password_file = "/etc/campusgate/mqtt-password"   # this file holds: %s
command_key   = "/etc/campusgate/command.pub"     # a copy of %s
`, gate, gate, *school, pw, p.CommandPub())
	return nil
}

// addAccount adds an MQTT account with a new password to the state
// directory's accounts (a running campusd rereads them) and returns the
// password.
func addAccount(p paths, user string, acc broker.Account) (string, error) {
	accounts := &broker.Accounts{}
	if err := accounts.Load(p.accounts()); err != nil {
		return "", err
	}
	pw := broker.NewPassword()
	if err := accounts.Add(user, pw, acc); err != nil {
		return "", err
	}
	if err := accounts.Save(p.accounts()); err != nil {
		return "", err
	}
	return pw, nil
}

// districtCmd makes the district's MQTT account on the embedded broker: it
// may read the schools' daily reports and nothing else.
func districtCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: campusd district add [-state DIR] [-print-password] USER (e.g. district@hz-001)"
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, use)
		return errUsage
	}
	fs := flag.NewFlagSet("campusd district add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "/var/lib/campusgate-server", "state directory")
	printOnly := fs.Bool("print-password", false, "print only the password (for scripts)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, use)
		return errUsage
	}
	p := paths{dir: *state}
	if err := os.MkdirAll(p.dir, 0o750); err != nil {
		return err
	}
	user := fs.Arg(0)
	pw, err := addAccount(p, user, broker.Account{Role: broker.RoleDistrict})
	if err != nil {
		return err
	}
	if *printOnly {
		fmt.Fprintln(stdout, pw)
		return nil
	}
	fmt.Fprintf(stdout, `district account %s added (a running campusd picks it up within seconds); its password (shown once): %s
It reads %s and nothing else, e.g.:
  gatectl district watch -broker mqtt://SCHOOL-SERVER:1883 -user %s -password-file FILE
`, user, pw, wire.ReportFilter, user)
	return nil
}

// reloadAccounts rereads the accounts file when it changes, so a gate added
// with "campusd gate add" can connect without a restart.
func reloadAccounts(ctx context.Context, a *broker.Accounts, path string, log *slog.Logger) {
	var last time.Time
	if fi, err := os.Stat(path); err == nil {
		last = fi.ModTime()
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.ModTime().After(last) {
			continue
		}
		last = fi.ModTime()
		if err := a.Load(path); err != nil {
			log.Error("MQTT accounts not reloaded", "err", err)
			continue
		}
		log.Info("MQTT accounts reloaded", "file", path)
	}
}

// loadRoster reads a JSON roster file (an array of people).
func loadRoster(path string) ([]store.Person, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-roster: %w", err)
	}
	var people []store.Person
	if err := json.Unmarshal(b, &people); err != nil {
		return nil, fmt.Errorf("-roster %s: %w", path, err)
	}
	// The checks the console's CSV import makes: a file is refused whole.
	if errs := console.CheckPeople(people); len(errs) > 0 {
		var msgs []string
		for _, e := range errs[:min(len(errs), 10)] {
			msgs = append(msgs, fmt.Sprintf("person %d %s: %s %q", e.Line, e.Column, e.Code, e.Value))
		}
		return nil, fmt.Errorf("-roster %s: %d problems: %s", path, len(errs), strings.Join(msgs, "; "))
	}
	return people, nil
}

// importRosterFile makes the file the roster (the console's CSV import does
// the same from the web).
func importRosterFile(ctx context.Context, db *store.DB, path string, log *slog.Logger) error {
	people, err := loadRoster(path)
	if err != nil {
		return err
	}
	ch, err := db.ReplaceRoster(ctx, people)
	if err != nil {
		return err
	}
	if ch.Added+ch.Changed+ch.Removed > 0 {
		log.Info("roster file imported", "file", path, "version", ch.Version, "added", ch.Added, "changed", ch.Changed, "removed", ch.Removed)
	}
	return nil
}

func loadKeys(dir string) (wire.Keys, error) {
	k := wire.Keys{V: wire.Version}
	files, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil || len(files) == 0 {
		return k, fmt.Errorf("-keys %s: no *.pub files", dir)
	}
	for _, f := range files {
		pub, kid, err := pass.LoadPublicKey(f)
		if err != nil {
			return k, fmt.Errorf("-keys: %w", err)
		}
		k.Keys = append(k.Keys, wire.Key{KID: kid, Public: pub})
	}
	return k, nil
}

// commandKey loads campusd's command signing key, making it (and its public
// half for the gates) on first use.
func commandKey(p paths) (ed25519.PrivateKey, string, error) {
	priv, kid, err := pass.LoadOrCreatePrivateKey(p.cmdKey(), "cmd-")
	if err == nil {
		err = pass.EnsurePublicKey(p.CommandPub(), priv, kid)
	}
	if err != nil {
		return nil, "", fmt.Errorf("command key: %w", err)
	}
	return priv, kid, nil
}

// watchRoster imports the roster file again when it changes; gates on the
// previous version get a delta, the others a snapshot.
func watchRoster(ctx context.Context, path string, db *store.DB, cons *console.Server, log *slog.Logger) {
	var last time.Time
	if fi, err := os.Stat(path); err == nil {
		last = fi.ModTime()
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.ModTime().After(last) {
			continue
		}
		last = fi.ModTime() // a broken file is not retried until it changes again
		if err := importRosterFile(ctx, db, path, log); err != nil {
			log.Error("roster file not reloaded", "err", err)
			continue
		}
		if n, err := cons.PushRoster(ctx); err == nil {
			log.Info("roster reloaded", "people", n)
		}
	}
}

// firstAdmin makes the first console account when there is none, and says
// its password once.
func firstAdmin(ctx context.Context, db *store.DB, stdout io.Writer) error {
	n, err := db.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	pw := console.NewPassword()
	if err := console.CreateAccount(ctx, db, store.User{Username: "admin", DisplayName: "管理员 Admin", Role: console.RoleAdmin}, pw); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "campusd: the first console account: admin / %s (shown once: log in and change it)\n", pw)
	return nil
}

// passIssuer loads the school's pass-signing key, or the one campusd made
// in its state directory (making it on first use).
func passIssuer(p paths, keyFile string) (*pass.Issuer, error) {
	if keyFile != "" {
		priv, kid, err := pass.LoadPrivateKey(keyFile)
		if err != nil {
			return nil, fmt.Errorf("-pass-key: %w", err)
		}
		return pass.NewIssuer(priv, kid)
	}
	priv, kid, err := pass.LoadOrCreatePrivateKey(p.passKey(), "")
	if err != nil {
		return nil, fmt.Errorf("pass key: %w", err)
	}
	return pass.NewIssuer(priv, kid)
}

// userCmd adds a console account: campusd user add -role ROLE [-name N]
// [-class GRADE/CLASS] [-password-stdin] USER. Without -password-stdin a
// password is made and printed once.
func userCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: campusd user add [-state DIR] [-db URL] -role admin|nurse|head_teacher|guard|district [-name NAME] [-class GRADE/CLASS] [-password-stdin] USER")
		return errUsage
	}
	fs := flag.NewFlagSet("campusd user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "/var/lib/campusgate-server", "state directory")
	database := dbFlag(fs)
	role := fs.String("role", "", "the account's role (required)")
	name := fs.String("name", "", "the person's name as the console shows it")
	class := fs.String("class", "", "a head teacher's class, as GRADE/CLASS (1/1-2)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
		if err == nil {
			fmt.Fprintln(stderr, "campusd user add: name one account")
		}
		return errUsage
	}
	u := store.User{Username: fs.Arg(0), DisplayName: *name, Role: *role}
	if u.DisplayName == "" {
		u.DisplayName = u.Username
	}
	if *class != "" {
		var ok bool
		if u.Grade, u.Class, ok = strings.Cut(*class, "/"); !ok {
			fmt.Fprintln(stderr, "campusd user add: -class GRADE/CLASS, e.g. 1/1-2")
			return errUsage
		}
	}
	pw := console.NewPassword()
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	p := paths{*state, *database}
	if err := os.MkdirAll(p.dir, 0o750); err != nil {
		return err
	}
	db, err := store.Open(ctx, p.db(), &store.Opts{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := console.CreateAccount(ctx, db, u, pw); err != nil {
		return err
	}
	if *fromStdin {
		fmt.Fprintf(stdout, "account %s (%s) added\n", u.Username, u.Role)
	} else {
		fmt.Fprintf(stdout, "account %s (%s) added; its password (shown once): %s\n", u.Username, u.Role, pw)
	}
	return nil
}

// daysFlag is a duration flag that also takes whole days ("180d").
type daysFlag time.Duration

func (d *daysFlag) String() string {
	if *d%daysFlag(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", time.Duration(*d)/(24*time.Hour))
	}
	return time.Duration(*d).String()
}

func (d *daysFlag) Set(s string) error {
	var v time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return fmt.Errorf("%q: want days (180d) or a duration (4320h)", s)
		}
		v = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if v, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("%q: want days (180d) or a duration (4320h)", s)
		}
	}
	if v < 24*time.Hour {
		return fmt.Errorf("%q: at least a day", s)
	}
	*d = daysFlag(v)
	return nil
}
