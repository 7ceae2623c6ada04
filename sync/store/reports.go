package store

import (
	"context"
	"fmt"
	"time"
)

// PersonDay is what one person's entries of a day add up to.
type PersonDay struct {
	PersonID   string
	Role       string
	FirstAdmit time.Time // zero: not admitted
	Fever      bool      // a confirmed fever (denied, reason fever)
	Denied     int       // entries denied, for any reason
}

// DaySummary returns, for each person with an entry on day (YYYY-MM-DD in
// the school's zone), their day; midday checks do not count as arrivals.
func (db *DB) DaySummary(ctx context.Context, day string) (map[string]*PersonDay, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT person_id, role,
			MIN(CASE WHEN decision = 'admit' AND kind <> 'midday' THEN time END),
			MAX(CASE WHEN reason = 'fever' AND decision = 'deny' THEN 1 ELSE 0 END),
			SUM(CASE WHEN decision = 'deny' THEN 1 ELSE 0 END)
		FROM entries WHERE day = ? GROUP BY person_id, role`, day)
	if err != nil {
		return nil, fmt.Errorf("store: day summary: %w", err)
	}
	defer rows.Close()
	out := map[string]*PersonDay{}
	for rows.Next() {
		var p PersonDay
		var first *string
		if err := rows.Scan(&p.PersonID, &p.Role, &first, &p.Fever, &p.Denied); err != nil {
			return nil, fmt.Errorf("store: day summary: %w", err)
		}
		if first != nil {
			p.FirstAdmit = parseStamp(*first)
		}
		if o := out[p.PersonID]; o != nil { // the same id under two roles: keep the first admission
			if o.FirstAdmit.IsZero() || (!p.FirstAdmit.IsZero() && p.FirstAdmit.Before(o.FirstAdmit)) {
				o.FirstAdmit = p.FirstAdmit
			}
			o.Fever, o.Denied = o.Fever || p.Fever, o.Denied+p.Denied
			continue
		}
		out[p.PersonID] = &p
	}
	return out, rows.Err()
}

// FirstAdmits are the times of the day's first admissions, by person.
func FirstAdmits(sum map[string]*PersonDay) map[string]time.Time {
	out := make(map[string]time.Time, len(sum))
	for id, pd := range sum {
		if !pd.FirstAdmit.IsZero() {
			out[id] = pd.FirstAdmit
		}
	}
	return out
}

// Admission is one admission's gate and time.
type Admission struct {
	Gate     string
	PersonID string
	At       time.Time
}

// Admissions returns day's admissions at the gate (not midday checks), in
// time order.
func (db *DB) Admissions(ctx context.Context, day string) ([]Admission, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT gate_id, person_id, time FROM entries WHERE day = ? AND decision = 'admit' AND kind <> 'midday' ORDER BY time`, day)
	if err != nil {
		return nil, fmt.Errorf("store: admissions: %w", err)
	}
	defer rows.Close()
	var out []Admission
	for rows.Next() {
		var a Admission
		var at string
		if err := rows.Scan(&a.Gate, &a.PersonID, &at); err != nil {
			return nil, fmt.Errorf("store: admissions: %w", err)
		}
		a.At = parseStamp(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// FeversPerDay counts the people with a confirmed fever on each day in
// [from, to] (YYYY-MM-DD, inclusive); days without any are absent.
func (db *DB) FeversPerDay(ctx context.Context, from, to string) (map[string]int, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT day, COUNT(DISTINCT person_id) FROM entries
		WHERE day >= ? AND day <= ? AND reason = 'fever' AND decision = 'deny' GROUP BY day`, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: fevers per day: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var d string
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			return nil, fmt.Errorf("store: fevers per day: %w", err)
		}
		out[d] = n
	}
	return out, rows.Err()
}

// Location is the school's time zone, in which days are counted.
func (db *DB) Location() *time.Location { return db.loc }
