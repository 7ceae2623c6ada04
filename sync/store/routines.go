package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// HealthReport is one pupil's family morning health report for a day.
type HealthReport struct {
	Day         string    `json:"day"`
	PersonID    string    `json:"person_id"`
	TempC       float64   `json:"temp_c"`
	Symptoms    []string  `json:"symptoms,omitempty"`
	Contact     bool      `json:"contact"` // with a high-risk area
	Location    string    `json:"location,omitempty"`
	Status      string    `json:"status"` // green, yellow, red
	SubmittedAt time.Time `json:"submitted_at"`
	LinkID      string    `json:"-"`
}

// SaveHealthReport stores the day's report for a pupil (a later one replaces
// it) and makes its status the pupil's health on the roster, moving the
// roster version on, in one transaction. It returns the new roster version.
func (db *DB) SaveHealthReport(ctx context.Context, r HealthReport) (uint64, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: health report: %w", err)
	}
	defer tx.Rollback()
	now := db.now()
	if _, err := tx.ExecContext(ctx, `INSERT INTO health_reports (day, person_id, temp_c, symptoms, contact, location, status, submitted_at, link_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (day, person_id) DO UPDATE SET temp_c = excluded.temp_c, symptoms = excluded.symptoms, contact = excluded.contact,
			location = excluded.location, status = excluded.status, submitted_at = excluded.submitted_at, link_id = excluded.link_id`,
		r.Day, r.PersonID, r.TempC, strings.Join(r.Symptoms, ","), r.Contact, r.Location, r.Status, stamp(now), r.LinkID); err != nil {
		return 0, fmt.Errorf("store: health report %s: %w", r.PersonID, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE people SET health = ?, health_date = ?, updated_at = ? WHERE person_id = ?`, r.Status, r.Day, stamp(now), r.PersonID)
	if err != nil {
		return 0, fmt.Errorf("store: health report %s: %w", r.PersonID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, fmt.Errorf("store: health report: person %q: %w", r.PersonID, ErrNotFound)
	}
	v, err := bumpRoster(ctx, tx, now)
	if err != nil {
		return 0, err
	}
	return v, tx.Commit()
}

// bumpRoster moves the roster version on (to at least the time, as
// ReplaceRoster does).
func bumpRoster(ctx context.Context, tx *sql.Tx, now time.Time) (uint64, error) {
	cur, err := getSetting(ctx, tx, "roster_version")
	if err != nil {
		return 0, err
	}
	v, _ := strconv.ParseUint(cur, 10, 64)
	v = max(v+1, uint64(now.Unix()))
	return v, putSetting(ctx, tx, "roster_version", strconv.FormatUint(v, 10))
}

// HealthReports returns the reports of day, by person.
func (db *DB) HealthReports(ctx context.Context, day string) (map[string]HealthReport, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT day, person_id, temp_c, symptoms, contact, location, status, submitted_at, link_id
		FROM health_reports WHERE day = ?`, day)
	if err != nil {
		return nil, fmt.Errorf("store: health reports: %w", err)
	}
	defer rows.Close()
	out := map[string]HealthReport{}
	for rows.Next() {
		var r HealthReport
		var symptoms, at string
		if err := rows.Scan(&r.Day, &r.PersonID, &r.TempC, &symptoms, &r.Contact, &r.Location, &r.Status, &at, &r.LinkID); err != nil {
			return nil, fmt.Errorf("store: health reports: %w", err)
		}
		if symptoms != "" {
			r.Symptoms = strings.Split(symptoms, ",")
		}
		r.SubmittedAt = parseStamp(at)
		out[r.PersonID] = r
	}
	return out, rows.Err()
}

// FamilyLink is a link a family uses for the morning report: it reaches
// every child with the guardian's phone on the roster.
type FamilyLink struct {
	ID            string    `json:"id"`
	GuardianPhone string    `json:"guardian_phone"`
	CreatedBy     string    `json:"created_by"`
	CreatedAt     time.Time `json:"created_at"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	UsedAt        time.Time `json:"used_at,omitzero"`
}

// NewFamilyLink is a link to hand out: its id, its token's hash and the
// guardian's phone.
type NewFamilyLink struct{ ID, TokenHash, Phone string }

// AddFamilyLinks records new links, each replacing (revoking) the live link
// of its phone, in one transaction: a class's letters are printed from links
// that all exist.
func (db *DB) AddFamilyLinks(ctx context.Context, by string, links ...NewFamilyLink) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: family link: %w", err)
	}
	defer tx.Rollback()
	now := stamp(db.now())
	for _, l := range links {
		if _, err := tx.ExecContext(ctx, `UPDATE family_links SET revoked_at = ? WHERE guardian_phone = ? AND revoked_at IS NULL`, now, l.Phone); err != nil {
			return fmt.Errorf("store: family link: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO family_links (id, token_hash, guardian_phone, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
			l.ID, l.TokenHash, l.Phone, by, now); err != nil {
			return fmt.Errorf("store: family link: %w", err)
		}
	}
	return tx.Commit()
}

// FamilyLinkByToken returns the live link whose token hashes to tokenHash
// and marks it used.
func (db *DB) FamilyLinkByToken(ctx context.Context, tokenHash string) (FamilyLink, error) {
	var l FamilyLink
	var created, used string
	err := db.r.QueryRowContext(ctx, `SELECT id, guardian_phone, created_by, created_at, COALESCE(used_at, '') FROM family_links
		WHERE token_hash = ? AND revoked_at IS NULL`, tokenHash).Scan(&l.ID, &l.GuardianPhone, &l.CreatedBy, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("store: family link: %w", ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("store: family link: %w", err)
	}
	l.CreatedAt, l.UsedAt = parseStamp(created), parseStamp(used)
	if now := db.now(); now.Sub(l.UsedAt) > time.Hour {
		if _, err := db.w.ExecContext(ctx, `UPDATE family_links SET used_at = ? WHERE id = ?`, stamp(now), l.ID); err != nil {
			return l, fmt.Errorf("store: family link: %w", err)
		}
	}
	return l, nil
}

// Setting returns a stored setting ("" if none).
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	return getSetting(ctx, db.r, key)
}

// PutSetting stores a setting.
func (db *DB) PutSetting(ctx context.Context, key, value string) error {
	return putSetting(ctx, db.w, key, value)
}

// MiddayChecks returns, for day, each person's midday check: true when it
// was a normal temperature, false a fever.
func (db *DB) MiddayChecks(ctx context.Context, day string) (map[string]bool, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT person_id, MIN(CASE WHEN decision = 'admit' THEN 1 ELSE 0 END) FROM entries WHERE day = ? AND kind = 'midday' AND person_id <> '' GROUP BY person_id`, day)
	if err != nil {
		return nil, fmt.Errorf("store: midday checks: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		var ok bool
		if err := rows.Scan(&id, &ok); err != nil {
			return nil, fmt.Errorf("store: midday checks: %w", err)
		}
		out[id] = ok
	}
	return out, rows.Err()
}
