package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"campusgate/gate/journal"
	"campusgate/sync/console"
)

const schoolUsage = `gatectl school — the school console's API from the command line

  gatectl school [-server URL] [-user NAME] COMMAND [flags]

  entries [-from D] [-to D] [-gate G] [-person P] [-class C] [-decision D] [-reason R]   the entry log
  export  [the same filters]  > entries.csv                                           the same as CSV (UTF-8 with BOM)
  report  [-day D]                                                                     the day's report by class
  alerts                                                                               open fever alerts
  roster-import [-dry-run] FILE.csv                                                    replace the roster
  open GATE -reason TEXT                                                               open a gate remotely (admins)

The password comes from $CAMPUSGATE_PASSWORD, or the first line of stdin.
`

func schoolCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("school")
	server := fs.String("server", "http://127.0.0.1:8090", "the school console")
	user := fs.String("user", "admin", "console account")
	fs.Usage = func() { fmt.Fprint(e.errw, schoolUsage) }
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprint(e.errw, schoolUsage)
		return errUsage
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	run, ok := map[string]func(context.Context, *env, *console.Client, []string) error{
		"entries": schoolEntries, "export": schoolExport, "report": schoolReport, "alerts": schoolAlerts,
		"roster-import": schoolRoster, "open": schoolOpen,
	}[cmd]
	if !ok {
		fmt.Fprintf(e.errw, "gatectl school: unknown command %q\n\n%s", cmd, schoolUsage)
		return errUsage
	}
	pw := os.Getenv("CAMPUSGATE_PASSWORD")
	if pw == "" {
		var err error
		if pw, err = readPassword(e); err != nil {
			return err
		}
	}
	c := console.NewClient(*server)
	if err := c.Login(ctx, *user, pw); err != nil {
		return err
	}
	return run(ctx, e, c, rest)
}

// readPassword reads a console password from the first line of stdin.
func readPassword(e *env) (string, error) {
	line, err := bufio.NewReader(e.in).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password: set CAMPUSGATE_PASSWORD or give it on stdin")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// entryFilters are the entry log's search fields as flags.
func entryFilters(fs *flag.FlagSet) func() url.Values {
	names := []string{"from", "to", "gate", "person", "grade", "class", "decision", "reason", "limit"}
	vals := map[string]*string{}
	for _, n := range names {
		vals[n] = fs.String(n, "", n+" (as on the entry log page)")
	}
	return func() url.Values {
		q := url.Values{}
		for _, n := range names {
			if *vals[n] != "" {
				q.Set(n, *vals[n])
			}
		}
		return q
	}
}

func schoolEntries(ctx context.Context, e *env, c *console.Client, args []string) error {
	fs := e.flags("school entries")
	q := entryFilters(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	var d struct {
		Entries []struct {
			journal.Entry
			Name, Class string
		}
	}
	if err := c.Get(ctx, "/api/entries?"+q().Encode(), &d); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tGATE\tID\tNAME\tCLASS\tTEMP\tDECISION\tREASON")
	for _, x := range d.Entries {
		temp := ""
		if x.BodyC != 0 {
			temp = fmt.Sprintf("%.1f", x.BodyC)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Time.Local().Format("2006-01-02 15:04:05"), x.GateID, x.PersonID, x.Name, x.Class,
			temp, x.Decision, x.Reason)
	}
	return tw.Flush()
}

func schoolExport(ctx context.Context, e *env, c *console.Client, args []string) error {
	fs := e.flags("school export")
	q := entryFilters(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	return c.Download(ctx, "/api/entries.csv?"+q().Encode(), e.out)
}

func schoolReport(ctx context.Context, e *env, c *console.Client, args []string) error {
	fs := e.flags("school report")
	day := fs.String("day", "", "YYYY-MM-DD (default today)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var rep console.Report
	if err := c.Get(ctx, "/api/reports/daily?day="+url.QueryEscape(*day), &rep); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\nGRADE\tCLASS\tEXPECTED\tARRIVED\tNOT ARRIVED\tFEVERS\tREFUSED\n", rep.Day)
	row := func(g, cl string, x console.ClassCount) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\n", g, cl, x.Expected, x.Arrived, x.NotArrived, x.Fevers, x.Denied)
	}
	for _, x := range rep.Classes {
		row(x.Grade, x.Class, x)
	}
	row("staff", "", rep.Staff)
	row("total", "", rep.Total)
	if rep.Zero {
		fmt.Fprintln(tw, "zero report: no fever, nobody refused")
	}
	return tw.Flush()
}

func schoolAlerts(ctx context.Context, e *env, c *console.Client, args []string) error {
	fs := e.flags("school alerts")
	if err := parse(fs, args); err != nil {
		return err
	}
	var d struct {
		Open []struct {
			ID    int64
			Alert struct {
				Gate, PersonID string
				BodyC          float64 `json:"body_c"`
			}
			Person struct{ Name, Class string }
		}
	}
	if err := c.Get(ctx, "/api/alerts", &d); err != nil {
		return err
	}
	if len(d.Open) == 0 {
		fmt.Fprintln(e.out, "no open fever alert")
	}
	for _, a := range d.Open {
		fmt.Fprintf(e.out, "#%d %s %s %s %.1f °C at %s\n", a.ID, a.Alert.PersonID, a.Person.Name, a.Person.Class, a.Alert.BodyC, a.Alert.Gate)
	}
	return nil
}

func schoolRoster(ctx context.Context, e *env, c *console.Client, args []string) error {
	fs := e.flags("school roster-import")
	dry := fs.Bool("dry-run", false, "check the file, change nothing")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprint(e.errw, "gatectl school roster-import [-dry-run] FILE.csv\n")
		return errUsage
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	path := "/api/roster"
	if *dry {
		path += "?dry_run=1"
	}
	var res struct {
		Result string
		Errors []struct {
			Line    int
			Column  string
			Message string
		}
	}
	err = c.PostRaw(ctx, path, "text/csv", f, &res)
	var ae *console.APIError
	if errors.As(err, &ae) && ae.Status == 422 {
		_ = json.Unmarshal([]byte(ae.Message), &res)
		for _, le := range res.Errors {
			fmt.Fprintf(e.errw, "%s:%d: %s %s\n", fs.Arg(0), le.Line, le.Column, le.Message)
		}
		return fmt.Errorf("%d errors: nothing applied", len(res.Errors))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, res.Result)
	return nil
}

func schoolOpen(ctx context.Context, e *env, c *console.Client, args []string) error {
	fs := e.flags("school open")
	reason := fs.String("reason", "", "why (required: it goes into the gate's journal)")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(e.errw, "gatectl school open GATE -reason TEXT\n")
		return errUsage
	}
	gate := args[0]
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if err := c.Post(ctx, "/api/gates/"+url.PathEscape(gate)+"/cmd", map[string]string{"kind": "open", "reason": *reason}, nil); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "%s: remote open sent (signed; the gate refuses it once it has expired)\n", gate)
	return nil
}
