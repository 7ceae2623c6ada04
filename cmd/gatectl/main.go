// Command gatectl is the operator's tool for campusgate: hardware smoke tests on a
// real gate box (gatectl hw ...), passes (gatectl pass ...) and journal
// maintenance (gatectl journal ...), and the district's view of the schools'
// daily reports (gatectl district watch). The simulated gate is gated -simulate.
//
// Exit codes: 0 success, 1 the command failed (hardware missing, bad reading),
// 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `gatectl — campusgate operator's tool

  gatectl hw list                       I²C buses, serial ports, input devices and GPIO chips of this box
  gatectl hw temp   [flags]             read a thermometer N times with timing
  gatectl hw scan   [flags]             print every frame a scanner sends
  gatectl hw relay  [flags]             pulse, hold or release the gate relay
  gatectl hw lights [flags]             show a signal on the lights and buzzer
  gatectl hw voice  [flags]             play every spoken prompt through the speaker, saying its words
  gatectl hw display [flags]            show each screen in turn on the small display
  gatectl hw check  -profile BOARD      check that a box's bus, sensor, scanner and pins are there and answer
  gatectl pass keygen|issue|verify      school signing keys, and signed passes for people
  gatectl journal check|export|compact  a gate's journal, while gated is stopped
  gatectl pin < FILE                    bcrypt hash of the guard console PIN, for console.pin_hash
  gatectl pki init|issue-server|issue-gate  the school's certificates for MQTT over TLS
  gatectl school entries|export|report|alerts|roster-import|open   the school console's API
  gatectl district watch [flags]        the schools' daily reports, live, as a district account reads them
  gatectl sim up|present|fleet          the whole system on this machine, with simulated gates (make run); a load test

Every hw command takes -simulate to run against emulated devices. "gatectl hw temp -h" shows a command's flags.
`

// errUsage marks a usage error; the command has already printed what was wrong.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// env is what every subcommand gets: where to write, and a logger on stderr.
type env struct {
	in        io.Reader
	out, errw io.Writer
	log       *slog.Logger
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{in: stdin, out: stdout, errw: stderr, log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	err := dispatch(ctx, e, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		fmt.Fprintf(stderr, "gatectl: %v\n", err)
		return 1
	}
}

func dispatch(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.errw, usage)
		return errUsage
	}
	switch args[0] {
	case "hw":
		return hw(ctx, e, args[1:])
	case "pass":
		return passCmd(ctx, e, args[1:])
	case "journal":
		return journalCmd(ctx, e, args[1:])
	case "pin":
		return pinHash(ctx, e, args[1:])
	case "pki":
		return pkiCmd(ctx, e, args[1:])
	case "school":
		return schoolCmd(ctx, e, args[1:])
	case "sim":
		return simCmd(ctx, e, args[1:])
	case "district":
		return districtCmd(ctx, e, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.out, usage)
		return nil
	}
	fmt.Fprintf(e.errw, "gatectl: unknown command %q\n\n%s", args[0], usage)
	return errUsage
}

func hw(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.errw, usage)
		return errUsage
	}
	cmds := map[string]func(context.Context, *env, []string) error{
		"list":    hwList,
		"temp":    hwTemp,
		"scan":    hwScan,
		"relay":   hwRelay,
		"lights":  hwLights,
		"display": hwDisplay,
		"voice":   hwVoice,
		"check":   hwCheck,
	}
	f, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.errw, "gatectl hw: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
	return f(ctx, e, args[1:])
}

// flags returns a FlagSet that prints its usage to the command's stderr.
func (e *env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("gatectl "+name, flag.ContinueOnError)
	fs.SetOutput(e.errw)
	return fs
}

// parse parses args and turns a parse failure into errUsage (flag already printed why).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}
