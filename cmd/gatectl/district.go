package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"campusgate/sync/pki"
	"campusgate/sync/wire"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/text/width"
)

const districtUsage = `usage: gatectl district watch -broker URL -user USER [-password P | -password-file F] [-schools a,b,c|all] [-once]

The schools' daily reports (aggregates only), as a district account reads them from
campusgate/v1/+/report/daily: one row a school, redrawn as reports and corrections arrive.
-once prints the reports the broker holds and exits. The password may also come from
$CAMPUSGATE_PASSWORD. URL: mqtt://host:1883, or mqtts://host:8883 (with -ca for the school's CA).
`

func districtCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "watch" {
		fmt.Fprint(e.errw, districtUsage)
		return errUsage
	}
	fs := e.flags("district watch")
	fs.Usage = func() { fmt.Fprint(e.errw, districtUsage); fs.PrintDefaults() }
	brokerURL := fs.String("broker", "", "the broker: mqtt://host:1883 or mqtts://host:8883 (required)")
	user := fs.String("user", "", "the district's MQTT account (campusd district add), e.g. district@hz-001 (required)")
	password := fs.String("password", "", "its password (visible to other users of this machine: prefer -password-file or $CAMPUSGATE_PASSWORD)")
	passwordFile := fs.String("password-file", "", "file whose first line is the password")
	caFile := fs.String("ca", "", "with mqtts://: the CA of the broker's certificate (default: the system's)")
	schools := fs.String("schools", "all", "school ids, comma-separated, or all")
	once := fs.Bool("once", false, "print the reports the broker holds now and exit")
	wait := fs.Duration("wait", 3*time.Second, "with -once: how long to wait for the reports at most")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *brokerURL == "" || *user == "" {
		fmt.Fprintln(e.errw, "gatectl district watch: -broker and -user are required")
		return errUsage
	}
	list, err := parseSchools(*schools)
	if err != nil {
		fmt.Fprintf(e.errw, "gatectl district watch: -schools: %v\n", err)
		return errUsage
	}
	pw, err := districtPassword(*password, *passwordFile)
	if err != nil {
		return err
	}
	server, tlsOn, err := brokerAddress(*brokerURL)
	if err != nil {
		fmt.Fprintf(e.errw, "gatectl district watch: %v\n", err)
		return errUsage
	}
	opts := mqtt.NewClientOptions().AddBroker(server).SetClientID(watchClientID(*user)).
		SetUsername(*user).SetPassword(pw).SetProtocolVersion(4).SetCleanSession(true).
		SetAutoReconnect(!*once).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).SetKeepAlive(30 * time.Second)
	if tlsOn {
		cfg, err := pki.ClientTLS(*caFile, "", "")
		if err != nil {
			return err
		}
		opts.SetTLSConfig(cfg)
	}
	reports := make(chan mqtt.Message, 256)
	filters := map[string]byte{}
	if list == nil {
		filters[wire.ReportFilter] = 1
	}
	for _, s := range list {
		filters[wire.ReportTopic(s)] = 1
	}
	subscribed := make(chan error, 1)
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		// On every connection (paho reconnects): the broker sends the
		// retained reports again, which also refreshes the table.
		tok := c.SubscribeMultiple(filters, func(_ mqtt.Client, m mqtt.Message) {
			select {
			case reports <- m:
			default: // the table is behind by 256 reports: the next retained copy catches it up
			}
		})
		go func() {
			err := errors.New("subscribing timed out")
			if tok.WaitTimeout(10 * time.Second) {
				err = subscribeError(tok)
			}
			select {
			case subscribed <- err:
			default:
			}
		}()
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		e.log.Warn("broker connection lost; reconnecting", "err", err)
	})
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return fmt.Errorf("district watch: connect %s as %s: %w", *brokerURL, *user, cmpErr(tok.Error(), errors.New("timed out")))
	}
	defer c.Disconnect(250)
	select {
	case err := <-subscribed:
		if err != nil {
			return fmt.Errorf("district watch: subscribe: %w", err)
		}
	case <-ctx.Done():
		return nil
	}

	t := &reportTable{want: list}
	if *once {
		return t.collect(ctx, e, reports, *wait)
	}
	t.draw(e.out, true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-reports:
			if t.add(e, m) {
				t.draw(e.out, true)
			}
		}
	}
}

// collect takes the retained reports until every listed school's is in, or
// (all schools) the broker has been quiet for a moment, then prints them.
func (t *reportTable) collect(ctx context.Context, e *env, reports <-chan mqtt.Message, wait time.Duration) error {
	// The broker sends the retained messages right after the subscription's
	// acknowledgement; a quiet spell after them is the end of them.
	const quiet = 300 * time.Millisecond
	deadline := time.After(wait)
	idle := time.NewTimer(quiet)
	defer idle.Stop()
	for !t.complete() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-reports:
			t.add(e, m)
			idle.Reset(quiet)
			continue
		case <-deadline:
		case <-idle.C:
			if t.want != nil {
				continue // the listed schools: wait for them until the deadline
			}
		}
		break
	}
	t.draw(e.out, false)
	return nil
}

// parseSchools reads -schools: nil for all.
func parseSchools(s string) ([]string, error) {
	if s == "all" || s == "" {
		return nil, nil
	}
	var out []string
	for _, id := range strings.Split(s, ",") {
		id = strings.TrimSpace(id)
		if err := wire.ValidID(id); err != nil {
			return nil, err
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func districtPassword(pw, file string) (string, error) {
	switch {
	case pw != "":
		return pw, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("-password-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	case os.Getenv("CAMPUSGATE_PASSWORD") != "":
		return os.Getenv("CAMPUSGATE_PASSWORD"), nil
	}
	return "", errors.New("no password: -password, -password-file or $CAMPUSGATE_PASSWORD")
}

// brokerAddress turns mqtt:// and mqtts:// into paho's tcp:// and ssl://.
func brokerAddress(s string) (string, bool, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", false, fmt.Errorf("-broker %q: want mqtt://host:port or mqtts://host:port", s)
	}
	switch u.Scheme {
	case "mqtt", "tcp":
		return "tcp://" + u.Host, false, nil
	case "mqtts", "ssl", "tls":
		return "ssl://" + u.Host, true, nil
	}
	return "", false, fmt.Errorf("-broker %q: scheme %q, want mqtt or mqtts", s, u.Scheme)
}

// watchClientID is unique per run, and never shaped like a gate id (the
// broker refuses those to district accounts): it has the user's '@', or a '@'.
func watchClientID(user string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := user + "-watch-" + hex.EncodeToString(b)
	if !strings.Contains(user, "@") {
		id = "watch@" + id
	}
	return id
}

// subscribeError is the token's error, or the broker's refusal (paho reports
// a refused filter as return code 0x80, not as an error).
func subscribeError(tok mqtt.Token) error {
	if err := tok.Error(); err != nil {
		return err
	}
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return nil
	}
	for f, code := range st.Result() {
		if code == 0x80 {
			return fmt.Errorf("%s refused by the broker: is the user a district account?", f)
		}
	}
	return nil
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// reportTable is the latest report of each school.
type reportTable struct {
	want []string // the listed schools; nil: all
	rows map[string]wire.DailyReport
}

// add takes one report message; it reports whether the table changed. A
// report of an earlier day, or an earlier revision of the same day, does not
// replace the one held.
func (t *reportTable) add(e *env, m mqtt.Message) bool {
	school, err := wire.ParseReportTopic(m.Topic())
	if err != nil {
		e.log.Warn("not a daily report topic", "topic", m.Topic())
		return false
	}
	if len(m.Payload()) == 0 {
		return false // a retained report cleared
	}
	r, err := wire.DecodeReport(m.Payload(), school)
	if err != nil {
		e.log.Warn("daily report refused", "school", school, "err", err)
		return false
	}
	if t.rows == nil {
		t.rows = map[string]wire.DailyReport{}
	}
	if old, ok := t.rows[school]; ok && (old.Day > r.Day || old.Day == r.Day && old.Revision >= r.Revision) {
		return false
	}
	t.rows[school] = r
	return true
}

func (t *reportTable) complete() bool {
	if t.want == nil {
		return false
	}
	for _, s := range t.want {
		if _, ok := t.rows[s]; !ok {
			return false
		}
	}
	return true
}

var reportHeader = []string{"学校 school", "日期 day", "应到 expected", "实到 arrived", "缺勤 absent", "发热 fevers",
	"隔离 isolated", "拒入 denied", "闸机在线 gates online", "修订 revision", "更新 updated"}

// draw writes the table; live, it clears the terminal first.
func (t *reportTable) draw(w io.Writer, live bool) {
	schools := slices.Clone(t.want)
	for s := range t.rows {
		if !slices.Contains(schools, s) {
			schools = append(schools, s)
		}
	}
	slices.Sort(schools)
	rows := [][]string{reportHeader}
	var total wire.DailyReport
	latest := ""
	for _, r := range t.rows {
		latest = max(latest, r.Day)
	}
	counted := 0
	for _, s := range schools {
		r, ok := t.rows[s]
		if !ok {
			rows = append(rows, []string{s, "无报告 no report"})
			continue
		}
		rows = append(rows, reportRow(s, r))
		if r.Day == latest {
			counted++
			total.Expected, total.Arrived, total.Absent = total.Expected+r.Expected, total.Arrived+r.Arrived, total.Absent+r.Absent
			total.Fevers, total.Isolated, total.Denied = total.Fevers+r.Fevers, total.Isolated+r.Isolated, total.Denied+r.Denied
			total.Gates, total.GatesOnline = total.Gates+r.Gates, total.GatesOnline+r.GatesOnline
		}
	}
	if counted > 1 {
		total.Day = latest
		row := reportRow(fmt.Sprintf("合计 total (%d)", counted), total)
		rows = append(rows, row[:len(row)-2])
	}
	var b strings.Builder
	if live {
		b.WriteString("\x1b[H\x1b[2J") // home and clear: the table is redrawn in place
		fmt.Fprintf(&b, "区县日报 district daily reports — %s\n\n", time.Now().Format("2006-01-02 15:04:05"))
	}
	writeColumns(&b, rows)
	if len(t.rows) == 0 && t.want == nil {
		b.WriteString("(尚无报告 no reports yet)\n")
	}
	_, _ = io.WriteString(w, b.String())
}

func reportRow(school string, r wire.DailyReport) []string {
	n := strconv.Itoa
	updated := ""
	if !r.GeneratedAt.IsZero() {
		updated = r.GeneratedAt.Local().Format("01-02 15:04")
	}
	return []string{school, r.Day, n(r.Expected), n(r.Arrived), n(r.Absent), n(r.Fevers), n(r.Isolated), n(r.Denied),
		fmt.Sprintf("%d/%d", r.GatesOnline, r.Gates), n(int(r.Revision)), updated}
}

// writeColumns pads cells to the widest of their column as a terminal shows
// them: a Chinese character takes two columns (text/tabwriter counts runes).
func writeColumns(b *strings.Builder, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
}

func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}
