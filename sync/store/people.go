package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"campusgate/gate/journal"
)

// Person is one person on the school's roster. GuardianPhone stays on the
// server: the gates get journal.Person, which has none.
type Person struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Role          string `json:"role"`
	Grade         string `json:"grade,omitempty"`
	Class         string `json:"class,omitempty"`
	CardID        string `json:"card_id,omitempty"`
	GuardianPhone string `json:"guardian_phone,omitempty"`
	Health        string `json:"health,omitempty"`
	HealthDate    string `json:"health_date,omitempty"`
}

// Gate is what the gates hold of p.
func (p Person) Gate() journal.Person {
	return journal.Person{ID: p.ID, Name: p.Name, Role: p.Role, Grade: p.Grade, Class: p.Class, CardID: p.CardID,
		Health: p.Health, HealthDate: p.HealthDate}
}

// ErrNotFound is wrapped when a row asked for by key does not exist.
var ErrNotFound = errors.New("store: not found")

// RosterChange is what ReplaceRoster did.
type RosterChange struct {
	Version                 uint64 `json:"version"`
	Added, Changed, Removed int    `json:"-"`
	Unchanged               int    `json:"-"`
}

// ReplaceRoster makes people the whole roster, in one transaction, and moves
// the roster version on when anything changed. Health and its date are kept
// for people whose record does not carry them (the morning reports set them).
func (db *DB) ReplaceRoster(ctx context.Context, people []Person) (RosterChange, error) {
	return db.replaceRoster(ctx, people, true)
}

// CheckRoster is ReplaceRoster rolled back: what the import would change.
func (db *DB) CheckRoster(ctx context.Context, people []Person) (RosterChange, error) {
	return db.replaceRoster(ctx, people, false)
}

func (db *DB) replaceRoster(ctx context.Context, people []Person, commit bool) (RosterChange, error) {
	var ch RosterChange
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return ch, fmt.Errorf("store: roster: %w", err)
	}
	defer tx.Rollback()
	old := map[string]Person{}
	rows, err := tx.QueryContext(ctx, `SELECT `+personCols+` FROM people`)
	if err != nil {
		return ch, fmt.Errorf("store: roster: %w", err)
	}
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			rows.Close()
			return ch, err
		}
		old[p.ID] = p
	}
	rows.Close()
	now := stamp(db.now())
	seen := map[string]bool{}
	for _, p := range people {
		seen[p.ID] = true
		o, had := old[p.ID]
		if had && p.Health == "" {
			p.Health, p.HealthDate = o.Health, o.HealthDate
		}
		switch {
		case !had:
			ch.Added++
		case o != p:
			ch.Changed++
		default:
			ch.Unchanged++
			continue
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO people (person_id, name, role, grade, class, card_id, guardian_phone, health, health_date, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (person_id) DO UPDATE SET name = excluded.name, role = excluded.role, grade = excluded.grade, class = excluded.class,
				card_id = excluded.card_id, guardian_phone = excluded.guardian_phone, health = excluded.health,
				health_date = excluded.health_date, updated_at = excluded.updated_at`,
			p.ID, p.Name, p.Role, p.Grade, p.Class, p.CardID, p.GuardianPhone, p.Health, p.HealthDate, now)
		if err != nil {
			return ch, fmt.Errorf("store: roster: %s: %w", p.ID, err)
		}
	}
	for id := range old {
		if !seen[id] {
			if _, err := tx.ExecContext(ctx, `DELETE FROM people WHERE person_id = ?`, id); err != nil {
				return ch, fmt.Errorf("store: roster: remove %s: %w", id, err)
			}
			ch.Removed++
		}
	}
	v, err := getSetting(ctx, tx, "roster_version")
	if err != nil {
		return ch, err
	}
	ch.Version, _ = strconv.ParseUint(v, 10, 64)
	if ch.Added+ch.Changed+ch.Removed > 0 || ch.Version == 0 {
		if ch.Version, err = bumpRoster(ctx, tx, db.now()); err != nil {
			return ch, err
		}
	}
	if !commit {
		return ch, nil // the deferred Rollback undoes it all
	}
	if err := tx.Commit(); err != nil {
		return ch, fmt.Errorf("store: roster: commit: %w", err)
	}
	return ch, nil
}

// Roster returns the roster's version and everyone on it, by id.
func (db *DB) Roster(ctx context.Context) (uint64, []Person, error) {
	v, err := getSetting(ctx, db.r, "roster_version")
	if err != nil {
		return 0, nil, err
	}
	version, _ := strconv.ParseUint(v, 10, 64)
	ps, err := db.People(ctx, PeopleQuery{})
	return version, ps, err
}

// PeopleQuery selects people; zero fields do not filter.
type PeopleQuery struct {
	Grade, Class  string
	Role          string
	GuardianPhone string
	IDs           []string // only these (none: no such condition)
}

// People returns the people q selects, by grade, class and id.
func (db *DB) People(ctx context.Context, q PeopleQuery) ([]Person, error) {
	where, args := "1 = 1", []any{}
	if q.Grade != "" {
		where += " AND grade = ?"
		args = append(args, q.Grade)
	}
	if q.Class != "" {
		where += " AND class = ?"
		args = append(args, q.Class)
	}
	if q.Role != "" {
		where += " AND role = ?"
		args = append(args, q.Role)
	}
	if q.GuardianPhone != "" {
		where += " AND guardian_phone = ?"
		args = append(args, q.GuardianPhone)
	}
	if q.IDs != nil {
		where += " AND person_id IN " + db.sql.inIDs
		args = append(args, idList(q.IDs))
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+personCols+` FROM people WHERE `+where+` ORDER BY grade, class, person_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: people: %w", err)
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// idList is the one argument of dialect.inIDs, an SQL set of ids: one
// statement whatever their number, under SQLite's limit on arguments.
func idList(ids []string) string {
	b, _ := json.Marshal(ids) // strings always marshal
	return string(b)
}

// PeopleByID is People as a map by id: the names, grades and classes to show
// beside entries or alerts, in one query.
func (db *DB) PeopleByID(ctx context.Context, q PeopleQuery) (map[string]Person, error) {
	ps, err := db.People(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Person, len(ps))
	for _, p := range ps {
		out[p.ID] = p
	}
	return out, nil
}

// PersonByID returns one person, or an error wrapping ErrNotFound.
func (db *DB) PersonByID(ctx context.Context, id string) (Person, error) {
	p, err := scanPerson(db.r.QueryRowContext(ctx, `SELECT `+personCols+` FROM people WHERE person_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("store: person %q: %w", id, ErrNotFound)
	}
	return p, err
}

// Classes returns every (grade, class) of the roster's pupils.
func (db *DB) Classes(ctx context.Context) ([][2]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT grade, class FROM people WHERE class <> '' ORDER BY grade, class`)
	if err != nil {
		return nil, fmt.Errorf("store: classes: %w", err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var gc [2]string
		if err := rows.Scan(&gc[0], &gc[1]); err != nil {
			return nil, err
		}
		out = append(out, gc)
	}
	return out, rows.Err()
}

const personCols = `person_id, name, role, grade, class, card_id, guardian_phone, health, health_date`

type scanner interface{ Scan(dest ...any) error }

func scanPerson(s scanner) (Person, error) {
	var p Person
	err := s.Scan(&p.ID, &p.Name, &p.Role, &p.Grade, &p.Class, &p.CardID, &p.GuardianPhone, &p.Health, &p.HealthDate)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("store: person: %w", err)
	}
	return p, err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func getSetting(ctx context.Context, q querier, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: setting %s: %w", key, err)
	}
	return v, nil
}

func putSetting(ctx context.Context, e execer, key, value string) error {
	_, err := e.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("store: setting %s: %w", key, err)
	}
	return nil
}
