package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"
)

// Gate is one gate in the registry.
type Gate struct {
	ID            string            `json:"id"`
	School        string            `json:"school"`
	Online        bool              `json:"online"`
	StatusAt      time.Time         `json:"status_at"`
	LastSeen      time.Time         `json:"last_seen"`
	Version       string            `json:"version,omitempty"`
	Epoch         string            `json:"epoch,omitempty"`
	Backlog       int               `json:"backlog"`
	Devices       map[string]string `json:"devices,omitempty"`
	AmbientC      float64           `json:"ambient_c,omitempty"`
	Counters      wire.Counters     `json:"counters"`
	RosterVersion uint64            `json:"roster_version"`
	ConfigVersion uint64            `json:"config_version"`
	ClockSynced   bool              `json:"clock_synced"`
}

// Gates returns the registry, by gate id.
func (db *DB) Gates(ctx context.Context) ([]Gate, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT gate_id, school, online, COALESCE(status_at, ''), COALESCE(last_seen, ''), COALESCE(version, ''),
		COALESCE(epoch, ''), backlog, COALESCE(devices, ''), COALESCE(ambient_c, 0), COALESCE(counters, ''), roster_version, config_version, clock_synced
		FROM gates ORDER BY gate_id`)
	if err != nil {
		return nil, fmt.Errorf("store: gates: %w", err)
	}
	defer rows.Close()
	var out []Gate
	for rows.Next() {
		var g Gate
		var statusAt, lastSeen, devices, counters string
		var rv, cv int64
		if err := rows.Scan(&g.ID, &g.School, &g.Online, &statusAt, &lastSeen, &g.Version, &g.Epoch, &g.Backlog, &devices, &g.AmbientC,
			&counters, &rv, &cv, &g.ClockSynced); err != nil {
			return nil, fmt.Errorf("store: gates: %w", err)
		}
		g.StatusAt, g.LastSeen = parseStamp(statusAt), parseStamp(lastSeen)
		g.RosterVersion, g.ConfigVersion = uint64(rv), uint64(cv)
		if devices != "" {
			_ = json.Unmarshal([]byte(devices), &g.Devices)
		}
		if counters != "" {
			_ = json.Unmarshal([]byte(counters), &g.Counters)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Query selects entries; zero fields do not filter.
type Query struct {
	From, To      time.Time // From <= time < To
	Day           string    // YYYY-MM-DD in the school's zone
	Gate, Person  string
	Decision      string
	Reason        string
	Credential    string // pass, card, manual, walk_in
	Grade, Class  string // the person's, on the roster
	Name          string // part of the person's name on the roster
	Limit, Offset int    // Limit 0: 100; at most 10 000 (EachEntry: no limit)
	OldestFirst   bool
}

func (q Query) sql(d dialect, limit int) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v ...any) { where = append(where, cond); args = append(args, v...) }
	if !q.From.IsZero() {
		add("time >= ?", stamp(q.From))
	}
	if !q.To.IsZero() {
		add("time < ?", stamp(q.To))
	}
	if q.Day != "" {
		add("day = ?", q.Day)
	}
	if q.Gate != "" {
		add("gate_id = ?", q.Gate)
	}
	if q.Person != "" {
		add("person_id = ?", q.Person)
	}
	if q.Decision != "" {
		add("decision = ?", q.Decision)
	}
	if q.Reason != "" {
		add("reason = ?", q.Reason)
	}
	if q.Credential != "" {
		add("credential = ?", q.Credential)
	}
	if q.Grade != "" || q.Class != "" || q.Name != "" {
		cond, pargs := "1 = 1", []any{}
		if q.Grade != "" {
			cond, pargs = cond+" AND grade = ?", append(pargs, q.Grade)
		}
		if q.Class != "" {
			cond, pargs = cond+" AND class = ?", append(pargs, q.Class)
		}
		if q.Name != "" {
			cond, pargs = cond+` AND name `+d.like+` ? ESCAPE '\'`, append(pargs, "%"+likeEscape(q.Name)+"%")
		}
		add("person_id IN (SELECT person_id FROM people WHERE "+cond+")", pargs...)
	}
	order := "DESC"
	if q.OldestFirst {
		order = "ASC"
	}
	text := `SELECT gate_id, epoch, seq, time, clock_synced, mono_ns, person_id, role, credential, assurance, health, body_c,
		decision, reason, kind, COALESCE(guard_id, ''), COALESCE(guard_reason, ''), readings, COALESCE(visitor, ''), boot, COALESCE(time_gate, '') FROM entries`
	if len(where) > 0 {
		text += " WHERE " + strings.Join(where, " AND ")
	}
	text += fmt.Sprintf(" ORDER BY time %s, gate_id, seq", order)
	if limit > 0 {
		text += fmt.Sprintf(" LIMIT %d OFFSET %d", limit, max(q.Offset, 0))
	}
	return text, args
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

// Entries returns the entries q selects, newest first unless q.OldestFirst.
func (db *DB) Entries(ctx context.Context, q Query) ([]journal.Entry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []journal.Entry
	err := db.eachEntry(ctx, q, min(limit, 10_000), func(e journal.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// EachEntry calls fn for every entry q selects (no limit), streaming: an
// export of a year does not sit in memory. fn's error stops it and is
// returned.
func (db *DB) EachEntry(ctx context.Context, q Query, fn func(journal.Entry) error) error {
	return db.eachEntry(ctx, q, 0, fn)
}

func (db *DB) eachEntry(ctx context.Context, q Query, limit int, fn func(journal.Entry) error) error {
	text, args := q.sql(db.sql, limit)
	rows, err := db.r.QueryContext(ctx, text, args...)
	if err != nil {
		return fmt.Errorf("store: entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanEntry(rows *sql.Rows) (journal.Entry, error) {
	var e journal.Entry
	var seq int64
	var at, gid, gwhy, readings, visitor, timeGate string
	if err := rows.Scan(&e.GateID, &e.Epoch, &seq, &at, &e.ClockSynced, &e.MonoNS, &e.PersonID, &e.Role, &e.Credential, &e.Assurance,
		&e.Health, &e.BodyC, &e.Decision, &e.Reason, &e.Kind, &gid, &gwhy, &readings, &visitor, &e.Boot, &timeGate); err != nil {
		return e, fmt.Errorf("store: entries: %w", err)
	}
	e.V, e.Seq, e.Time = 1, uint64(seq), parseStamp(at)
	if timeGate != "" {
		t := parseStamp(timeGate)
		e.TimeAsSent = &t
	}
	if gid != "" {
		e.Guard = &journal.GuardAction{ID: gid, Reason: gwhy}
	}
	if visitor != "" {
		e.Visitor = &journal.VisitorInfo{}
		if err := json.Unmarshal([]byte(visitor), e.Visitor); err != nil {
			return e, fmt.Errorf("store: entry %s/%d visitor: %w", e.GateID, seq, err)
		}
	}
	if err := json.Unmarshal([]byte(readings), &e.Readings); err != nil {
		return e, fmt.Errorf("store: entry %s/%d readings: %w", e.GateID, seq, err)
	}
	return e, nil
}

// Gap is a run of seqs of one journal file (epoch) the server has not
// received, below the highest it has.
type Gap struct {
	Gate  string `json:"gate"`
	Epoch string `json:"epoch"`
	From  uint64 `json:"from"`
	To    uint64 `json:"to"`
}

// Gaps returns the missing seq ranges of gate ("" = every gate).
func (db *DB) Gaps(ctx context.Context, gate string) ([]Gap, error) {
	rows, err := db.r.QueryContext(ctx, `
		SELECT gate_id, epoch, prev + 1, seq - 1 FROM (
			SELECT gate_id, epoch, seq, COALESCE(LAG(seq) OVER (PARTITION BY gate_id, epoch ORDER BY seq), 0) AS prev
			FROM entries WHERE (? = '' OR gate_id = ?)
		) AS runs WHERE seq > prev + 1 ORDER BY gate_id, epoch, prev`, gate, gate)
	if err != nil {
		return nil, fmt.Errorf("store: gaps: %w", err)
	}
	defer rows.Close()
	var out []Gap
	for rows.Next() {
		var g Gap
		var from, to int64
		if err := rows.Scan(&g.Gate, &g.Epoch, &from, &to); err != nil {
			return nil, fmt.Errorf("store: gaps: %w", err)
		}
		g.From, g.To = uint64(from), uint64(to)
		out = append(out, g)
	}
	return out, rows.Err()
}

// Alert is a stored alert.
type Alert struct {
	ID          int64      `json:"id"`
	Alert       wire.Alert `json:"alert"`
	School      string     `json:"school"`
	ReceivedAt  time.Time  `json:"received_at"`
	AckedBy     string     `json:"acked_by,omitempty"`
	AckedAt     time.Time  `json:"acked_at,omitzero"`
	Outcome     string     `json:"outcome,omitempty"`
	EscalatedAt time.Time  `json:"escalated_at,omitzero"`
}

// Alerts returns the newest alerts, open (unacknowledged) ones only if open.
func (db *DB) Alerts(ctx context.Context, open bool, limit int) ([]Alert, error) {
	where := ""
	if open {
		where = `WHERE acked_at IS NULL`
	}
	return db.alerts(ctx, where, limit)
}

func (db *DB) alerts(ctx context.Context, where string, limit int, args ...any) ([]Alert, error) {
	q := `SELECT id, school, payload, ` + alertAt + `, received_at, COALESCE(acked_by, ''), COALESCE(acked_at, ''), COALESCE(outcome, ''),
		COALESCE(escalated_at, '') FROM alerts ` + where
	q += fmt.Sprintf(` ORDER BY received_at DESC, id DESC LIMIT %d`, min(max(limit, 1), 1000))
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		var a Alert
		var payload, at, recv, ackedAt, escAt string
		if err := rows.Scan(&a.ID, &a.School, &payload, &at, &recv, &a.AckedBy, &ackedAt, &a.Outcome, &escAt); err != nil {
			return nil, fmt.Errorf("store: alerts: %w", err)
		}
		_ = json.Unmarshal([]byte(payload), &a.Alert)
		a.Alert.At = parseStamp(at) // corrected if the gate's clock was not synchronised (clock.go)
		a.ReceivedAt, a.AckedAt, a.EscalatedAt = parseStamp(recv), parseStamp(ackedAt), parseStamp(escAt)
		out = append(out, a)
	}
	return out, rows.Err()
}

// DayCount is one day's decisions.
type DayCount struct {
	Day      string         `json:"day"`
	Entries  int            `json:"entries"`
	People   int            `json:"people"` // distinct people admitted
	Decision map[string]int `json:"decision"`
	Fevers   int            `json:"fevers"`
}

// CountDay counts day (YYYY-MM-DD in the school's zone).
func (db *DB) CountDay(ctx context.Context, day string) (DayCount, error) {
	c := DayCount{Day: day, Decision: map[string]int{}}
	rows, err := db.r.QueryContext(ctx, `SELECT decision, COUNT(*), SUM(CASE WHEN reason = 'fever' THEN 1 ELSE 0 END) FROM entries WHERE day = ? GROUP BY decision`, day)
	if err != nil {
		return c, fmt.Errorf("store: count day: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		var n, f int
		if err := rows.Scan(&d, &n, &f); err != nil {
			return c, fmt.Errorf("store: count day: %w", err)
		}
		c.Decision[d], c.Entries, c.Fevers = n, c.Entries+n, c.Fevers+f
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	err = db.r.QueryRowContext(ctx, `SELECT COUNT(DISTINCT person_id) FROM entries WHERE day = ? AND decision = 'admit'`, day).Scan(&c.People)
	if err != nil {
		return c, fmt.Errorf("store: count day: %w", err)
	}
	return c, nil
}

// Check runs SQLite's integrity check; PostgreSQL checks its own pages
// (data checksums, amcheck), so there it only asks whether the server answers.
func (db *DB) Check(ctx context.Context) error {
	if db.sql.postgres {
		return db.Ping(ctx)
	}
	var res string
	if err := db.r.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("store: integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("store: integrity check: %s", res)
	}
	return nil
}
