package wire

import (
	"fmt"
	"strings"
	"time"
)

// DailyReport is a school's day for the district: aggregates only, never a
// name, a person id or a class. campusd publishes it retained (QoS 1) on
// ReportTopic at the school's report time, a zero report too, and again with
// the next Revision whenever the day's numbers change afterwards (late entries
// from a gate that was offline, a clock correction, a nurse's outcome). A
// district reads the retained message on subscribing, so it needs no history.
type DailyReport struct {
	V           int       `json:"v"`
	School      string    `json:"school"`
	Day         string    `json:"day"`      // YYYY-MM-DD in the school's zone
	Revision    uint64    `json:"revision"` // 1 for the day's first report, +1 for each correction
	GeneratedAt time.Time `json:"generated_at"`
	// The roster's pupils and staff: expected = arrived + absent.
	Expected int `json:"expected"`
	Arrived  int `json:"arrived"`
	Absent   int `json:"absent"`
	Fevers   int `json:"fevers"`   // people with a confirmed fever at the gate
	Isolated int `json:"isolated"` // people the nurse sent to the temporary isolation room
	Denied   int `json:"denied"`   // people refused at least once, for any reason
	// Gates known and online when the report was generated: a snapshot, not a
	// day's number, so a gate going off alone does not make a new revision.
	Gates       int `json:"gates"`
	GatesOnline int `json:"gates_online"`
	// Zero: nothing to report (no fever, nobody isolated or refused), the
	// "zero report" the district expects every day.
	Zero bool `json:"zero_report"`
}

func (m *DailyReport) version() int { return m.V }

// SameDay reports whether r and o say the same of the same day: everything
// but the revision, when it was generated and the gate snapshot.
func (r DailyReport) SameDay(o DailyReport) bool {
	return r.School == o.School && r.Day == o.Day && r.Expected == o.Expected && r.Arrived == o.Arrived &&
		r.Absent == o.Absent && r.Fevers == o.Fevers && r.Isolated == o.Isolated && r.Denied == o.Denied
}

// maxCount bounds every count: no school has a million people, and a
// district's table should not be laid out by a garbled number.
const maxCount = 1_000_000

// DecodeReport decodes and checks a daily report from school (the topic's
// school).
func DecodeReport(b []byte, school string) (DailyReport, error) {
	var m DailyReport
	if err := decode(b, &m, "daily report"); err != nil {
		return m, err
	}
	if m.School != school {
		return m, bad("daily report", "school %q on the topic of school %q", m.School, school)
	}
	if d, err := time.Parse(time.DateOnly, m.Day); err != nil || d.Format(time.DateOnly) != m.Day {
		return m, bad("daily report", "day %.20q: want YYYY-MM-DD", m.Day)
	}
	if m.Revision == 0 {
		return m, bad("daily report", "revision 0 (the first is 1)")
	}
	if m.GeneratedAt.IsZero() {
		return m, bad("daily report", "no generated_at")
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"expected", m.Expected}, {"arrived", m.Arrived}, {"absent", m.Absent}, {"fevers", m.Fevers},
		{"isolated", m.Isolated}, {"denied", m.Denied}, {"gates", m.Gates}, {"gates_online", m.GatesOnline}} {
		if c.n < 0 || c.n > maxCount {
			return m, bad("daily report", "%s %d: want 0 to %d", c.name, c.n, maxCount)
		}
	}
	switch {
	case m.Arrived+m.Absent != m.Expected:
		return m, bad("daily report", "arrived %d + absent %d is not expected %d", m.Arrived, m.Absent, m.Expected)
	case m.GatesOnline > m.Gates:
		return m, bad("daily report", "%d gates online of %d", m.GatesOnline, m.Gates)
	case m.Zero != (m.Fevers == 0 && m.Isolated == 0 && m.Denied == 0):
		return m, bad("daily report", "zero_report %v with %d fevers, %d isolated, %d denied", m.Zero, m.Fevers, m.Isolated, m.Denied)
	}
	return m, nil
}

// ReportFilter is the subscription to the daily reports of every school.
const ReportFilter = Root + "/+/" + ReportLevel + "/daily"

// ParseReportTopic returns the school of a daily report topic.
func ParseReportTopic(topic string) (string, error) {
	rest, ok := strings.CutPrefix(topic, Root+"/")
	school, tail, _ := strings.Cut(rest, "/")
	if !ok || tail != ReportLevel+"/daily" {
		return "", fmt.Errorf("%w: %q is not %s/{school}/%s/daily", ErrTopic, topic, Root, ReportLevel)
	}
	if err := ValidID(school); err != nil {
		return "", fmt.Errorf("%w: school: %w", ErrTopic, err)
	}
	return school, nil
}
