// Command campusd is the school server: it runs the MQTT broker the gates
// connect to (embedded, or an external one with -broker), stores every entry
// the gates send exactly once, acknowledges it after the commit, raises fever
// alerts, keeps the gate registry, sends the roster and keys down, and serves
// the school's web pages and API.
//
//	campusd [-state DIR] [-school ID] [-http ADDR] [-mqtt-listen ADDR | -broker URL]
//	campusd gate add [-state DIR] [-school ID] [-print-password] GATE
//	campusd district add [-state DIR] [-print-password] USER
//	campusd user add [-state DIR] -role ROLE [-name NAME] [-class GRADE/CLASS] [-password-stdin] USER
//
// At -district-report-at (default 09:30, school time) campusd publishes the
// day's report for the district, retained, on campusgate/v1/SCHOOL/report/daily,
// and again with the next revision whenever the day's numbers change.
//
// On its first start campusd makes the console account "admin" and prints its
// password once.
//
// Exit codes: 0 clean stop, 1 failure, 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"campusgate/sync/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "gate":
		err = gateCmd(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "district":
		err = districtCmd(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "user":
		err = userCmd(ctx, args[1:], stdin, stdout, stderr)
	default:
		err = serve(ctx, args, stdout, stderr)
	}
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		fmt.Fprintf(stderr, "campusd: %v\n", err)
		return 1
	}
}

// paths are the files in the state directory, and the database.
type paths struct {
	dir      string
	database string // -db: a SQLite file or a PostgreSQL URL; "": campusd.db in dir
}

func (p paths) db() string {
	if p.database != "" {
		return p.database
	}
	return filepath.Join(p.dir, "campusd.db")
}

// dbName is the database as it may be printed: a URL's password hidden.
func (p paths) dbName() string {
	if u, err := url.Parse(p.db()); err == nil && store.IsPostgres(p.db()) {
		return u.Redacted()
	}
	return p.db()
}

// dbFlag is -db, for the commands that open the database.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "", "the database: a SQLite file (default: campusd.db in the state directory) or a PostgreSQL URL, "+
		"postgres://user@host:5432/dbname?sslmode=verify-full (the password from PGPASSWORD or ~/.pgpass, not the command line); "+
		"several campusd instances on one broker share one PostgreSQL")
}

func (p paths) accounts() string { return filepath.Join(p.dir, "mqtt-accounts.json") }
func (p paths) secret() string   { return filepath.Join(p.dir, "campusd-mqtt.secret") }
func (p paths) cmdKey() string   { return filepath.Join(p.dir, "command.key") }
func (p paths) passKey() string  { return filepath.Join(p.dir, "pass-signing.key") }

// CommandPub is where campusd keeps the public half of its command key, for
// the gates' sync.command_key.
func (p paths) CommandPub() string { return filepath.Join(p.dir, "command.pub") }

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	lvl := slog.LevelInfo
	if verbose {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}
