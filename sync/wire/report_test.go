package wire

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func report() DailyReport {
	return DailyReport{V: 1, School: "hz-001", Day: "2026-12-01", Revision: 2,
		GeneratedAt: time.Date(2026, 12, 1, 1, 30, 0, 0, time.UTC),
		Expected:    812, Arrived: 800, Absent: 12, Fevers: 1, Isolated: 1, Denied: 3, Gates: 3, GatesOnline: 2}
}

func TestDecodeReport(t *testing.T) {
	m := report()
	got, err := DecodeReport(Encode(m), "hz-001")
	if err != nil || got != m {
		t.Fatalf("%+v %v", got, err)
	}
	zero := DailyReport{V: 1, School: "hz-001", Day: "2026-12-01", Revision: 1, GeneratedAt: m.GeneratedAt, Zero: true}
	if _, err := DecodeReport(Encode(zero), "hz-001"); err != nil {
		t.Fatalf("zero report refused: %v", err)
	}
	mut := func(f func(*DailyReport)) []byte {
		c := m
		f(&c)
		return Encode(c)
	}
	for name, tc := range map[string]struct {
		b    []byte
		says string
	}{
		"other school":    {mut(func(c *DailyReport) { c.School = "hz-002" }), `school "hz-002" on the topic of school "hz-001"`},
		"no day":          {mut(func(c *DailyReport) { c.Day = "" }), "want YYYY-MM-DD"},
		"bad day":         {mut(func(c *DailyReport) { c.Day = "2026-13-01" }), "want YYYY-MM-DD"},
		"short day":       {mut(func(c *DailyReport) { c.Day = "2026-1-1" }), "want YYYY-MM-DD"},
		"revision 0":      {mut(func(c *DailyReport) { c.Revision = 0 }), "revision 0"},
		"no generated_at": {mut(func(c *DailyReport) { c.GeneratedAt = time.Time{} }), "no generated_at"},
		"negative":        {mut(func(c *DailyReport) { c.Fevers = -1 }), "fevers -1"},
		"huge":            {mut(func(c *DailyReport) { c.Expected, c.Arrived = 2e6, 2e6-12 }), "expected 2000000"},
		"sum":             {mut(func(c *DailyReport) { c.Absent = 3 }), "arrived 800 + absent 3 is not expected 812"},
		"gates":           {mut(func(c *DailyReport) { c.GatesOnline = 4 }), "4 gates online of 3"},
		"zero with fever": {mut(func(c *DailyReport) { c.Zero = true }), "zero_report true with 1 fevers"},
		"version":         {mut(func(c *DailyReport) { c.V = 2 }), "version 2"},
		"no version":      {[]byte(`{"school":"hz-001","day":"2026-12-01","revision":1}`), `no "v"`},
		"not json":        {[]byte("\x00garbage"), "invalid character"},
		"array":           {[]byte(`[1,2]`), "cannot unmarshal array"},
		"string count":    {[]byte(`{"v":1,"school":"hz-001","day":"2026-12-01","revision":1,"expected":"3"}`), "cannot unmarshal string"},
		"too big":         {[]byte(`{"v":1,"school":"` + strings.Repeat("x", MaxMessage) + `"}`), "at most"},
	} {
		_, err := DecodeReport(tc.b, "hz-001")
		if !errors.Is(err, ErrMessage) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want an ErrMessage saying %q", name, err, tc.says)
		}
	}
}

func TestReportTopic(t *testing.T) {
	if s, err := ParseReportTopic(ReportTopic("hz-001")); err != nil || s != "hz-001" {
		t.Fatalf("%q %v", s, err)
	}
	if ReportFilter != "campusgate/v1/+/report/daily" {
		t.Fatal(ReportFilter)
	}
	for _, bad := range []string{"campusgate/v1/hz-001/report/weekly", "campusgate/v1/+/report/daily", "campusgate/v1/hz/north-1/entry",
		"campusgate/v2/hz/report/daily", "campusgate/v1/hz/report/daily/x", "campusgate/v1//report/daily"} {
		if _, err := ParseReportTopic(bad); !errors.Is(err, ErrTopic) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}

// FuzzDecodeReport: no input panics the decoder, and a report it accepts
// round-trips to the same report.
func FuzzDecodeReport(f *testing.F) {
	f.Add(Encode(report()))
	f.Add([]byte(`{"v":1,"school":"hz-001","day":"2026-12-01","revision":1,"generated_at":"2026-12-01T01:30:00Z","zero_report":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeReport(b, "hz-001")
		if err != nil {
			if !errors.Is(err, ErrMessage) {
				t.Fatalf("error without ErrMessage: %v", err)
			}
			return
		}
		again, err := DecodeReport(Encode(m), "hz-001")
		if err != nil || !again.GeneratedAt.Equal(m.GeneratedAt) || !again.SameDay(m) || again.Revision != m.Revision {
			t.Fatalf("report does not round-trip: %+v %+v %v", m, again, err)
		}
	})
}
