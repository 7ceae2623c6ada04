package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AuditRecord is one line of the audit log: who looked at or changed what.
type AuditRecord struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	Username string    `json:"username"`
	Role     string    `json:"role"`
	Action   string    `json:"action"`
	Target   string    `json:"target"`
	Detail   string    `json:"detail"`
	Remote   string    `json:"remote"`
}

// Audit appends a record; At is set to now.
func (db *DB) Audit(ctx context.Context, r AuditRecord) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO audit (at, username, role, action, target, detail, remote) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		stamp(db.now()), r.Username, r.Role, r.Action, r.Target, r.Detail, r.Remote)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditQuery selects audit records; zero fields do not filter.
type AuditQuery struct {
	From, To time.Time
	Username string
	Action   string
	Limit    int // 0: 200; at most 5 000
}

// AuditLog returns records newest first.
func (db *DB) AuditLog(ctx context.Context, q AuditQuery) ([]AuditRecord, error) {
	var where []string
	var args []any
	if !q.From.IsZero() {
		where, args = append(where, "at >= ?"), append(args, stamp(q.From))
	}
	if !q.To.IsZero() {
		where, args = append(where, "at < ?"), append(args, stamp(q.To))
	}
	if q.Username != "" {
		where, args = append(where, "username = ?"), append(args, q.Username)
	}
	if q.Action != "" {
		where, args = append(where, "action = ?"), append(args, q.Action)
	}
	text := `SELECT id, at, username, role, action, target, detail, remote FROM audit`
	if len(where) > 0 {
		text += " WHERE " + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 200
	}
	text += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", min(limit, 5000))
	rows, err := db.r.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var r AuditRecord
		var at string
		if err := rows.Scan(&r.ID, &at, &r.Username, &r.Role, &r.Action, &r.Target, &r.Detail, &r.Remote); err != nil {
			return nil, fmt.Errorf("store: audit log: %w", err)
		}
		r.At = parseStamp(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// AlertEvent is a step of the nurse's work on an alert.
type AlertEvent struct {
	At       time.Time `json:"at"`
	Username string    `json:"username"`
	Kind     string    `json:"kind"`              // ack, escalated, outcome
	Outcome  string    `json:"outcome,omitempty"` // retest, isolated, collected, cleared, referred
	RetestC  float64   `json:"retest_c,omitempty"`
	Note     string    `json:"note,omitempty"`
}

// Outcome is what a nurse records for a fever alert; Open says whether the
// person is still waiting in the isolation room after it.
type Outcome struct {
	Code string
	Open bool
}

// Outcomes are the outcomes, in the order the nurse's page offers them.
var Outcomes = []Outcome{
	{"isolated", true},   // waiting in the temporary isolation room
	{"retest", true},     // measured again, still here
	{"collected", false}, // collected by a parent
	{"cleared", false},   // cleared and admitted
	{"referred", false},  // referred to hospital
}

// KnownOutcome says whether code is one of Outcomes.
func KnownOutcome(code string) bool {
	return slices.ContainsFunc(Outcomes, func(o Outcome) bool { return o.Code == code })
}

// Acknowledge marks alert id acknowledged by username, once: a second
// acknowledgement is not an error and changes nothing. It reports whether
// this call acknowledged it.
func (db *DB) Acknowledge(ctx context.Context, id int64, username string) (bool, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: acknowledge: %w", err)
	}
	defer tx.Rollback()
	acked, err := db.acknowledge(ctx, tx, id, username)
	if err != nil || !acked {
		return false, err
	}
	return true, tx.Commit()
}

// acknowledge is Acknowledge within tx.
func (db *DB) acknowledge(ctx context.Context, tx *sql.Tx, id int64, username string) (bool, error) {
	now := stamp(db.now())
	res, err := tx.ExecContext(ctx, `UPDATE alerts SET acked_by = ?, acked_at = ? WHERE id = ? AND acked_at IS NULL`, username, now, id)
	if err != nil {
		return false, fmt.Errorf("store: acknowledge %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM alerts WHERE id = ?`, id).Scan(&exists); err != nil || exists == 0 {
			return false, fmt.Errorf("store: alert %d: %w", id, ErrNotFound)
		}
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO alert_events (alert_id, at, username, kind, outcome, note) VALUES (?, ?, ?, 'ack', '', '')`,
		id, now, username); err != nil {
		return false, fmt.Errorf("store: acknowledge %d: %w", id, err)
	}
	return true, nil
}

// RecordOutcome adds an outcome to alert id, acknowledging it if it was not,
// in one transaction: an alert is never left acknowledged without the outcome
// that came with the acknowledgement.
func (db *DB) RecordOutcome(ctx context.Context, id int64, username, outcome string, retestC float64, note string) error {
	if !KnownOutcome(outcome) {
		return fmt.Errorf("store: outcome %q: want retest, isolated, collected, cleared or referred", outcome)
	}
	var rc any
	if retestC != 0 {
		rc = retestC
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: outcome: %w", err)
	}
	defer tx.Rollback()
	if _, err := db.acknowledge(ctx, tx, id, username); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO alert_events (alert_id, at, username, kind, outcome, retest_c, note) VALUES (?, ?, ?, 'outcome', ?, ?, ?)`,
		id, stamp(db.now()), username, outcome, rc, note); err != nil {
		return fmt.Errorf("store: outcome %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE alerts SET outcome = ? WHERE id = ?`, outcome, id); err != nil {
		return fmt.Errorf("store: outcome %d: %w", id, err)
	}
	return tx.Commit()
}

// Escalate marks unacknowledged fever alerts received before `before` as
// escalated and returns their ids (each is escalated once).
func (db *DB) Escalate(ctx context.Context, before time.Time) ([]int64, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: escalate: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id FROM alerts WHERE kind = 'fever' AND acked_at IS NULL AND escalated_at IS NULL AND received_at < ?`, stamp(before))
	if err != nil {
		return nil, fmt.Errorf("store: escalate: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	now := stamp(db.now())
	marked := ids[:0]
	for _, id := range ids {
		ok, err := markEscalated(ctx, tx, id, now)
		if err != nil {
			return nil, fmt.Errorf("store: escalate %d: %w", id, err)
		}
		if ok {
			marked = append(marked, id)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: escalate: commit: %w", err)
	}
	return marked, nil
}

// markEscalated marks alert id escalated at at, with its event, unless it
// is acknowledged or escalated already, and tells whether it did. The
// condition is in the update: on PostgreSQL two instances can read the same
// unescalated alert at once, and the second update, which waits for the
// first's row lock, then finds it escalated.
func markEscalated(ctx context.Context, tx *sql.Tx, id int64, at string) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE alerts SET escalated_at = ? WHERE id = ? AND escalated_at IS NULL AND acked_at IS NULL`, at, id)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO alert_events (alert_id, at, username, kind, outcome, note) VALUES (?, ?, '', 'escalated', '', '')`, id, at)
	return err == nil, err
}

// AlertEvents returns alert id's events, oldest first.
func (db *DB) AlertEvents(ctx context.Context, id int64) ([]AlertEvent, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT at, username, kind, outcome, COALESCE(retest_c, 0), note FROM alert_events WHERE alert_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("store: alert events: %w", err)
	}
	defer rows.Close()
	var out []AlertEvent
	for rows.Next() {
		var e AlertEvent
		var at string
		if err := rows.Scan(&at, &e.Username, &e.Kind, &e.Outcome, &e.RetestC, &e.Note); err != nil {
			return nil, fmt.Errorf("store: alert events: %w", err)
		}
		e.At = parseStamp(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AlertByID returns one alert.
func (db *DB) AlertByID(ctx context.Context, id int64) (Alert, error) {
	as, err := db.alerts(ctx, `WHERE id = ?`, 1, id)
	if err != nil {
		return Alert{}, err
	}
	if len(as) == 0 {
		return Alert{}, fmt.Errorf("store: alert %d: %w", id, ErrNotFound)
	}
	return as[0], nil
}

// FeverAlerts returns fever alerts (fever true) or the other kinds (device,
// command) received in [from, to), newest first.
func (db *DB) FeverAlerts(ctx context.Context, fever bool, from, to time.Time, limit int) ([]Alert, error) {
	op := "="
	if !fever {
		op = "<>"
	}
	return db.alerts(ctx, `WHERE kind `+op+` 'fever' AND received_at >= ? AND received_at < ?`, limit, stamp(from), stamp(to))
}

// PendingFeverCount is how many PendingFevers there are.
func (db *DB) PendingFeverCount(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM alerts WHERE kind = 'fever' AND (outcome IS NULL OR outcome = '')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: pending fevers: %w", err)
	}
	return n, nil
}

// PendingFevers returns fever alerts with no outcome recorded yet
// (acknowledged or not), newest first: the nurse's list of what to handle.
func (db *DB) PendingFevers(ctx context.Context) ([]Alert, error) {
	return db.alerts(ctx, `WHERE kind = 'fever' AND (outcome IS NULL OR outcome = '')`, 500)
}

// Isolation returns fever alerts whose person still waits (an open outcome,
// or no outcome yet), oldest first.
func (db *DB) Isolation(ctx context.Context) ([]Alert, error) {
	var open []string
	for _, o := range Outcomes {
		if o.Open {
			open = append(open, "'"+o.Code+"'")
		}
	}
	as, err := db.alerts(ctx, `WHERE kind = 'fever' AND (outcome IS NULL OR outcome = '' OR outcome IN (`+strings.Join(open, ",")+`))`, 500)
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(as)-1; i < j; i, j = i+1, j-1 {
		as[i], as[j] = as[j], as[i]
	}
	return as, nil
}

// Absence is the reason recorded for someone who did not arrive on a day.
type Absence struct {
	Day      string    `json:"day"`
	PersonID string    `json:"person_id"`
	Reason   string    `json:"reason"` // sick, leave, unreachable, other
	Note     string    `json:"note,omitempty"`
	Username string    `json:"by"`
	At       time.Time `json:"at"`
}

// AbsenceReasons are the reasons a head teacher records.
var AbsenceReasons = []string{"sick", "leave", "unreachable", "other"}

// RecordAbsence records (or replaces) the reason for a.PersonID on a.Day.
func (db *DB) RecordAbsence(ctx context.Context, a Absence) error {
	ok := false
	for _, r := range AbsenceReasons {
		ok = ok || r == a.Reason
	}
	if !ok {
		return fmt.Errorf("store: absence reason %q: want one of %s", a.Reason, strings.Join(AbsenceReasons, ", "))
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO absences (day, person_id, reason, note, username, at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (day, person_id) DO UPDATE SET reason = excluded.reason, note = excluded.note, username = excluded.username, at = excluded.at`,
		a.Day, a.PersonID, a.Reason, a.Note, a.Username, stamp(db.now()))
	if err != nil {
		return fmt.Errorf("store: absence: %w", err)
	}
	return nil
}

// Absences returns the reasons recorded on day, by person id.
func (db *DB) Absences(ctx context.Context, day string) (map[string]Absence, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT day, person_id, reason, note, username, at FROM absences WHERE day = ?`, day)
	if err != nil {
		return nil, fmt.Errorf("store: absences: %w", err)
	}
	defer rows.Close()
	out := map[string]Absence{}
	for rows.Next() {
		var a Absence
		var at string
		if err := rows.Scan(&a.Day, &a.PersonID, &a.Reason, &a.Note, &a.Username, &at); err != nil {
			return nil, fmt.Errorf("store: absences: %w", err)
		}
		a.At = parseStamp(at)
		out[a.PersonID] = a
	}
	return out, rows.Err()
}

// PassRecord is a pass the console issued.
type PassRecord struct {
	PassID       string    `json:"pass_id"`
	PersonID     string    `json:"person_id"`
	Role         string    `json:"role"`
	KID          string    `json:"kid"`
	Code         string    `json:"code"`
	IssuedAt     time.Time `json:"issued_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	IssuedBy     string    `json:"issued_by"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokedBy    string    `json:"revoked_by,omitempty"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

// AddPass records issued passes, all in one transaction (a class's passes
// are issued together or not at all).
func (db *DB) AddPass(ctx context.Context, ps ...PassRecord) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: pass: %w", err)
	}
	defer tx.Rollback()
	for _, p := range ps {
		if err := insertPass(ctx, tx, p); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func insertPass(ctx context.Context, tx *sql.Tx, p PassRecord) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO passes (pass_id, person_id, role, kid, code, issued_at, expires_at, issued_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		p.PassID, p.PersonID, p.Role, p.KID, p.Code, stamp(p.IssuedAt), stamp(p.ExpiresAt), p.IssuedBy)
	if err != nil {
		return fmt.Errorf("store: pass %s: %w", p.PassID, err)
	}
	return nil
}

// RevokePass marks a pass revoked; revoking twice keeps the first.
func (db *DB) RevokePass(ctx context.Context, passID, by, reason string) (PassRecord, error) {
	_, err := db.w.ExecContext(ctx, `UPDATE passes SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE pass_id = ? AND revoked_at IS NULL`,
		stamp(db.now()), by, reason, passID)
	if err != nil {
		return PassRecord{}, fmt.Errorf("store: revoke %s: %w", passID, err)
	}
	ps, err := db.passes(ctx, `WHERE pass_id = ?`, passID)
	if err != nil {
		return PassRecord{}, err
	}
	if len(ps) == 0 {
		return PassRecord{}, fmt.Errorf("store: pass %q: %w", passID, ErrNotFound)
	}
	return ps[0], nil
}

// Passes returns the passes of person (all if ""), newest first.
func (db *DB) Passes(ctx context.Context, person string) ([]PassRecord, error) {
	if person == "" {
		return db.passes(ctx, `ORDER BY issued_at DESC LIMIT 5000`)
	}
	return db.passes(ctx, `WHERE person_id = ? ORDER BY issued_at DESC`, person)
}

// PassesOf returns the passes of these people, newest first, by person.
func (db *DB) PassesOf(ctx context.Context, people []string) (map[string][]PassRecord, error) {
	ps, err := db.passes(ctx, `WHERE person_id IN `+db.sql.inIDs+` ORDER BY issued_at DESC`, idList(people))
	if err != nil {
		return nil, err
	}
	out := map[string][]PassRecord{}
	for _, p := range ps {
		out[p.PersonID] = append(out[p.PersonID], p)
	}
	return out, nil
}

// PassByID returns one pass.
func (db *DB) PassByID(ctx context.Context, id string) (PassRecord, error) {
	ps, err := db.passes(ctx, `WHERE pass_id = ?`, id)
	if err != nil {
		return PassRecord{}, err
	}
	if len(ps) == 0 {
		return PassRecord{}, fmt.Errorf("store: pass %q: %w", id, ErrNotFound)
	}
	return ps[0], nil
}

// Revoked returns the passes revoked and not yet expired at now: what the
// gates must refuse.
func (db *DB) Revoked(ctx context.Context) ([]PassRecord, error) {
	return db.passes(ctx, `WHERE revoked_at IS NOT NULL AND expires_at > ? ORDER BY revoked_at`, stamp(db.now()))
}

func (db *DB) passes(ctx context.Context, tail string, args ...any) ([]PassRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT pass_id, person_id, role, kid, code, issued_at, expires_at, issued_by,
		COALESCE(revoked_at, ''), COALESCE(revoked_by, ''), COALESCE(revoke_reason, '') FROM passes `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("store: passes: %w", err)
	}
	defer rows.Close()
	var out []PassRecord
	for rows.Next() {
		var p PassRecord
		var issued, expires, revoked string
		if err := rows.Scan(&p.PassID, &p.PersonID, &p.Role, &p.KID, &p.Code, &issued, &expires, &p.IssuedBy, &revoked, &p.RevokedBy, &p.RevokeReason); err != nil {
			return nil, fmt.Errorf("store: passes: %w", err)
		}
		p.IssuedAt, p.ExpiresAt, p.RevokedAt = parseStamp(issued), parseStamp(expires), parseStamp(revoked)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Visitor is someone registered to come in on a visitor pass.
type Visitor struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Phone     string    `json:"phone"`
	Reason    string    `json:"reason"`
	Host      string    `json:"host"`
	ValidFrom time.Time `json:"valid_from"`
	ValidTo   time.Time `json:"valid_to"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	PassID    string    `json:"pass_id"`
}

// AddVisitor records a visitor and the pass issued for the visit.
func (db *DB) AddVisitor(ctx context.Context, v Visitor, p PassRecord) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: visitor: %w", err)
	}
	defer tx.Rollback()
	if err := insertPass(ctx, tx, p); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO visitors (visitor_id, name, phone, reason, host, valid_from, valid_to, created_by, created_at, pass_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, v.ID, v.Name, v.Phone, v.Reason, v.Host, stamp(v.ValidFrom), stamp(v.ValidTo), v.CreatedBy,
		stamp(db.now()), v.PassID); err != nil {
		return fmt.Errorf("store: visitor: %w", err)
	}
	return tx.Commit()
}

// Visitors returns visitors whose visit ends after since, newest first.
func (db *DB) Visitors(ctx context.Context, since time.Time) ([]Visitor, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT visitor_id, name, phone, reason, host, valid_from, valid_to, created_by, created_at, pass_id
		FROM visitors WHERE valid_to > ? ORDER BY created_at DESC LIMIT 1000`, stamp(since))
	if err != nil {
		return nil, fmt.Errorf("store: visitors: %w", err)
	}
	defer rows.Close()
	var out []Visitor
	for rows.Next() {
		var v Visitor
		var from, to, created string
		if err := rows.Scan(&v.ID, &v.Name, &v.Phone, &v.Reason, &v.Host, &from, &to, &v.CreatedBy, &created, &v.PassID); err != nil {
			return nil, fmt.Errorf("store: visitors: %w", err)
		}
		v.ValidFrom, v.ValidTo, v.CreatedAt = parseStamp(from), parseStamp(to), parseStamp(created)
		out = append(out, v)
	}
	return out, rows.Err()
}

// GateConfig is the school's settings for one gate.
type GateConfig struct {
	Gate      string    `json:"gate"`
	TOML      string    `json:"toml"`
	Version   uint64    `json:"version"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SetGateConfig stores a gate's settings with a version greater than any it
// had (and than the time, so it also passes a school-wide -gate-config).
func (db *DB) SetGateConfig(ctx context.Context, c GateConfig) (GateConfig, error) {
	now := db.now()
	c.UpdatedAt = now
	var prev int64
	err := db.w.QueryRowContext(ctx, `SELECT version FROM gate_configs WHERE gate_id = ?`, c.Gate).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("store: gate config: %w", err)
	}
	c.Version = uint64(max(prev+1, now.Unix()))
	_, err = db.w.ExecContext(ctx, `INSERT INTO gate_configs (gate_id, toml, version, updated_by, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (gate_id) DO UPDATE SET toml = excluded.toml, version = excluded.version, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		c.Gate, c.TOML, int64(c.Version), c.UpdatedBy, stamp(now))
	if err != nil {
		return c, fmt.Errorf("store: gate config: %w", err)
	}
	return c, nil
}

// GateConfigs returns every gate's settings, by gate.
func (db *DB) GateConfigs(ctx context.Context) (map[string]GateConfig, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT gate_id, toml, version, updated_by, updated_at FROM gate_configs`)
	if err != nil {
		return nil, fmt.Errorf("store: gate configs: %w", err)
	}
	defer rows.Close()
	out := map[string]GateConfig{}
	for rows.Next() {
		var c GateConfig
		var v int64
		var at string
		if err := rows.Scan(&c.Gate, &c.TOML, &v, &c.UpdatedBy, &at); err != nil {
			return nil, fmt.Errorf("store: gate configs: %w", err)
		}
		c.Version, c.UpdatedAt = uint64(v), parseStamp(at)
		out[c.Gate] = c
	}
	return out, rows.Err()
}
