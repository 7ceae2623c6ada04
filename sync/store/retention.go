package store

import (
	"context"
	"fmt"
	"time"
)

// Retention says how long the server keeps personal data (PIPL: no longer
// than the purpose needs). Zero durations take the defaults.
type Retention struct {
	// Data bounds the entries, fever and device alerts with the nurse's
	// work on them, morning health reports, absence reasons, visitors,
	// passes past their expiry and revoked family links. Default 180 days:
	// a school term and the follow-up after it.
	Data time.Duration
	// Audit bounds the audit log, kept longer than what it records so that
	// who looked at the data can be answered after the data is gone (and
	// the Cybersecurity Law's six months of logs are met). Default 365
	// days; never shorter than Data.
	Audit time.Duration
}

// DefaultRetention is what campusd keeps without -retention.
var DefaultRetention = Retention{Data: 180 * 24 * time.Hour, Audit: 365 * 24 * time.Hour}

// WithDefaults fills the zero fields of r and keeps Audit ≥ Data.
func (r Retention) WithDefaults() Retention {
	if r.Data <= 0 {
		r.Data = DefaultRetention.Data
	}
	if r.Audit <= 0 {
		r.Audit = DefaultRetention.Audit
	}
	r.Audit = max(r.Audit, r.Data)
	return r
}

// purgeBatch is how many entries one purge transaction deletes (a variable
// for the test of the batches).
var purgeBatch = 5000

// Purged counts the rows one Purge deleted, by table.
type Purged map[string]int64

// Total is the sum of p.
func (p Purged) Total() int64 {
	var n int64
	for _, v := range p {
		n += v
	}
	return n
}

// Purge deletes what r says is kept no longer, as of now; the gates' own
// journals purge themselves (gate/journal). An entry goes by the time it was
// taken and the time the server received it, both past the cutoff (a gate
// whose clock was never set does not have its entries deleted on arrival).
// Entries go in transactions of purgeBatch; the rest, each table one
// statement, in one transaction, so a failure leaves nothing half-deleted
// between an alert and its events.
func (db *DB) Purge(ctx context.Context, r Retention) (Purged, error) {
	r = r.WithDefaults()
	now := db.now()
	cut := stamp(now.Add(-r.Data))
	cutDay := now.Add(-r.Data).In(db.loc).Format(time.DateOnly)
	cutAudit := stamp(now.Add(-r.Audit))
	got := Purged{}
	// Entries first, purgeBatch a transaction: the first purge of a school's
	// years of entries must not hold the single SQLite writer (and with it
	// the gates' acks) for minutes.
	for {
		res, err := db.w.ExecContext(ctx, `DELETE FROM entries WHERE (gate_id, epoch, seq) IN
			(SELECT gate_id, epoch, seq FROM entries WHERE time < ? AND received_at < ? LIMIT ?)`, cut, cut, purgeBatch)
		if err != nil {
			return nil, fmt.Errorf("store: purge entries: %w", err)
		}
		n, _ := res.RowsAffected()
		if n > 0 {
			got["entries"] += n
		}
		if n < int64(purgeBatch) {
			break
		}
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: purge: %w", err)
	}
	defer tx.Rollback()
	for _, d := range []struct {
		table, query string
		args         []any
	}{
		{"alert_events", `DELETE FROM alert_events WHERE alert_id IN (SELECT id FROM alerts WHERE received_at < ?)`, []any{cut}},
		{"alerts", `DELETE FROM alerts WHERE received_at < ?`, []any{cut}},
		{"health_reports", `DELETE FROM health_reports WHERE day < ?`, []any{cutDay}},
		{"absences", `DELETE FROM absences WHERE day < ?`, []any{cutDay}},
		{"visitors", `DELETE FROM visitors WHERE valid_to < ?`, []any{cut}},
		{"passes", `DELETE FROM passes WHERE expires_at < ?`, []any{cut}},
		{"family_links", `DELETE FROM family_links WHERE revoked_at IS NOT NULL AND revoked_at < ?`, []any{cut}},
		{"audit", `DELETE FROM audit WHERE at < ?`, []any{cutAudit}},
	} {
		res, err := tx.ExecContext(ctx, d.query, d.args...)
		if err != nil {
			return nil, fmt.Errorf("store: purge %s: %w", d.table, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			got[d.table] = n
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: purge: %w", err)
	}
	return got, nil
}
