package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"campusgate/sync/console"
	"campusgate/sync/store"
	"campusgate/sync/wire"

	"github.com/jonboulle/clockwork"
)

// districtSetting holds, in the store's settings, the last daily report
// published (its JSON as sent): a restart goes on from its revision, and sends
// it again in case the broker lost the retained message.
const districtSetting = "district_report"

// districtEvery is how often the feed looks at the day's numbers. A
// correction reaches the district within it.
const districtEvery = time.Minute

// dayTotals is the console's count of a day (console.Server.DayTotals).
type dayTotals interface {
	DayTotals(ctx context.Context, day string) (console.ClassCount, error)
}

// districtFeed publishes the school's daily report for the district.
//
// From the report time (At after midnight, school time) the report of the day
// is published, and published again with the next revision whenever its
// numbers change. Before the report time the feed goes on correcting the
// previous day's report, the one the district still holds retained; a day
// whose report time passed while campusd was down gets its report at start.
type districtFeed struct {
	db     *store.DB
	totals dayTotals
	pub    publisher
	school string
	at     time.Duration // since midnight
	clock  clockwork.Clock
	log    *slog.Logger

	loaded bool
	last   []byte           // the last report published (or being published), as sent
	lastR  wire.DailyReport // last, decoded
	resend bool             // last may not have reached the broker
	// unusable is a stored report that would not decode, warned about once.
	unusable string
}

// parseReportAt reads -district-report-at: HH:MM, or "off".
func parseReportAt(s string) (time.Duration, bool, error) {
	if s == "off" {
		return 0, false, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false, fmt.Errorf("-district-report-at %q: want HH:MM (school time) or off", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, true, nil
}

// Run publishes until ctx ends; a failure is logged and retried at the next
// look.
func (f *districtFeed) Run(ctx context.Context) {
	t := f.clock.NewTicker(districtEvery)
	defer t.Stop()
	for {
		if err := f.step(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("district report not published; trying again in a minute", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
	}
}

// step publishes the report due now, if it is new or its numbers changed.
func (f *districtFeed) step(ctx context.Context) error {
	// Read again at every look: several campusd instances on one database
	// share the report, so one's correction is the others' last revision.
	if err := f.load(ctx); err != nil {
		return err
	}
	now := f.clock.Now().In(f.db.Location())
	day := f.dueDay(now)
	if day == "" {
		return nil
	}
	rep, err := f.count(ctx, day, now)
	if err != nil {
		return err
	}
	if f.last != nil && rep.SameDay(f.lastR) {
		if f.resend {
			return f.publish(ctx)
		}
		return nil
	}
	rep.Revision = 1
	if f.last != nil && f.lastR.Day == day {
		rep.Revision = f.lastR.Revision + 1
	}
	b := wire.Encode(rep)
	// Kept before it is sent: if the publish fails, or campusd stops, the same
	// revision goes again, and a later correction never reuses its number.
	if err := f.db.PutSetting(ctx, districtSetting, string(b)); err != nil {
		return fmt.Errorf("district report %s: %w", day, err)
	}
	f.last, f.lastR, f.resend = b, rep, true
	return f.publish(ctx)
}

func (f *districtFeed) load(ctx context.Context) error {
	s, err := f.db.Setting(ctx, districtSetting)
	if err != nil || s == "" || s == string(f.last) || s == f.unusable {
		return err
	}
	r, err := wire.DecodeReport([]byte(s), f.school)
	if err != nil {
		// Another school's or a broken one: start the day's revisions again
		// rather than never report.
		f.log.Warn("the stored district report is not usable; starting afresh", "err", err)
		f.unusable = s
		return nil
	}
	// The embedded broker keeps retained messages in memory only: at start,
	// send the last report again once. Later, a report that changed under us
	// is another instance's, which it sent.
	f.last, f.lastR, f.resend = []byte(s), r, !f.loaded
	f.loaded = true
	return nil
}

func (f *districtFeed) publish(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.pub.Publish(ctx, wire.ReportTopic(f.school), 1, true, f.last); err != nil {
		return fmt.Errorf("district report %s revision %d: %w", f.lastR.Day, f.lastR.Revision, err)
	}
	f.resend = false
	f.log.Info("district report published", "day", f.lastR.Day, "revision", f.lastR.Revision, "zero_report", f.lastR.Zero)
	return nil
}

// dueDay is the day whose report the district should hold now: today from
// its report time on; before it, the previous day if its report went out
// (and may still be corrected); otherwise none.
func (f *districtFeed) dueDay(now time.Time) string {
	y, m, d := now.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, now.Location())
	// Wall-clock time of day, so a daylight-saving change moves nothing.
	due := time.Date(y, m, d, int(f.at/time.Hour), int(f.at%time.Hour/time.Minute), 0, 0, now.Location())
	if !now.Before(due) {
		return midnight.Format(time.DateOnly)
	}
	if yesterday := time.Date(y, m, d-1, 0, 0, 0, 0, now.Location()).Format(time.DateOnly); f.last != nil && f.lastR.Day == yesterday {
		return yesterday
	}
	return ""
}

// count makes day's report from the console's totals, the fever alerts'
// outcomes and the gate registry.
func (f *districtFeed) count(ctx context.Context, day string, now time.Time) (wire.DailyReport, error) {
	r := wire.DailyReport{V: wire.Version, School: f.school, Day: day, GeneratedAt: now}
	tot, err := f.totals.DayTotals(ctx, day)
	if err != nil {
		return r, fmt.Errorf("district report %s: %w", day, err)
	}
	r.Expected, r.Arrived, r.Absent, r.Fevers, r.Denied = tot.Expected, tot.Arrived, tot.NotArrived, tot.Fevers, tot.Denied
	if r.Isolated, err = f.isolated(ctx, day, now); err != nil {
		return r, fmt.Errorf("district report %s: %w", day, err)
	}
	gates, err := f.db.Gates(ctx)
	if err != nil {
		return r, fmt.Errorf("district report %s: %w", day, err)
	}
	r.Gates = len(gates)
	for _, g := range gates {
		if g.Online {
			r.GatesOnline++
		}
	}
	r.Zero = r.Fevers == 0 && r.Isolated == 0 && r.Denied == 0
	return r, nil
}

// isolated counts the people with a fever on day whom the nurse sent to the
// isolation room, whatever happened to them after (collected, cleared): the
// alert's outcome is its latest, so the earlier ones are read from its events.
func (f *districtFeed) isolated(ctx context.Context, day string, now time.Time) (int, error) {
	start, err := time.ParseInLocation(time.DateOnly, day, f.db.Location())
	if err != nil {
		return 0, err
	}
	// An alert is received after it happened (late from an offline gate,
	// perhaps days later), never before.
	as, err := f.db.FeverAlerts(ctx, true, start, now.Add(time.Minute), 1000)
	if err != nil {
		return 0, err
	}
	people := map[string]bool{}
	for _, a := range as {
		if a.Alert.At.In(f.db.Location()).Format(time.DateOnly) != day || a.Outcome == "" {
			continue
		}
		sent := a.Outcome == "isolated"
		if !sent {
			evs, err := f.db.AlertEvents(ctx, a.ID)
			if err != nil {
				return 0, err
			}
			for _, e := range evs {
				sent = sent || e.Outcome == "isolated"
			}
		}
		if sent {
			who := a.Alert.PersonID
			if who == "" {
				who = fmt.Sprint("alert ", a.ID)
			}
			people[who] = true
		}
	}
	return len(people), nil
}
