package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// User is a console account. The password hash never leaves the store
// except to the login check (UserForLogin).
type User struct {
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	Role        string    `json:"role"`
	Grade       string    `json:"grade,omitempty"`
	Class       string    `json:"class,omitempty"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
	ChangedAt   time.Time `json:"changed_at"`
}

// ErrExists is wrapped when a row to be created is already there.
var ErrExists = errors.New("store: already exists")

// CreateUser adds an account with a password hash made by the caller.
func (db *DB) CreateUser(ctx context.Context, u User, hash string) error {
	now := stamp(db.now())
	_, err := db.w.ExecContext(ctx, `INSERT INTO users (username, display_name, role, grade, class, password_hash, disabled, created_at, changed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, u.Username, u.DisplayName, u.Role, u.Grade, u.Class, hash, u.Disabled, now, now)
	if err != nil {
		if isUnique(err) {
			return fmt.Errorf("store: user %q: %w", u.Username, ErrExists)
		}
		return fmt.Errorf("store: create user %q: %w", u.Username, err)
	}
	return nil
}

// UpdateUser changes an account's name, role, class and disabled flag; a new
// hash (if not "") replaces the password, and every session of a changed
// account ends (a role or password change takes effect at once).
func (db *DB) UpdateUser(ctx context.Context, u User, hash string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: update user: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE users SET display_name = ?, role = ?, grade = ?, class = ?, disabled = ?, changed_at = ?,
		password_hash = CASE WHEN ? = '' THEN password_hash ELSE ? END WHERE username = ?`,
		u.DisplayName, u.Role, u.Grade, u.Class, u.Disabled, stamp(db.now()), hash, hash, u.Username)
	if err != nil {
		return fmt.Errorf("store: update user %q: %w", u.Username, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: user %q: %w", u.Username, ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE username = ?`, u.Username); err != nil {
		return fmt.Errorf("store: update user %q: %w", u.Username, err)
	}
	return tx.Commit()
}

// Users returns every account, by user name.
func (db *DB) Users(ctx context.Context) ([]User, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, _, err := scanUser(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CountUsers is the number of accounts.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: users: %w", err)
	}
	return n, nil
}

// UserForLogin returns an account with its password hash.
func (db *DB) UserForLogin(ctx context.Context, username string) (User, string, error) {
	u, h, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+`, password_hash FROM users WHERE username = ?`, username), true)
	if errors.Is(err, sql.ErrNoRows) {
		return u, "", fmt.Errorf("store: user %q: %w", username, ErrNotFound)
	}
	return u, h, err
}

const userCols = `username, display_name, role, grade, class, disabled, created_at, changed_at`

func scanUser(s scanner, withHash bool) (User, string, error) {
	var u User
	var created, changed, hash string
	dest := []any{&u.Username, &u.DisplayName, &u.Role, &u.Grade, &u.Class, &u.Disabled, &created, &changed}
	if withHash {
		dest = append(dest, &hash)
	}
	if err := s.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return u, "", err
		}
		return u, "", fmt.Errorf("store: user: %w", err)
	}
	u.CreatedAt, u.ChangedAt = parseStamp(created), parseStamp(changed)
	return u, hash, nil
}

// CreateSession records a session whose cookie token hashes to tokenHash.
func (db *DB) CreateSession(ctx context.Context, tokenHash, username string, expires time.Time) error {
	now := stamp(db.now())
	_, err := db.w.ExecContext(ctx, `INSERT INTO sessions (token_hash, username, created_at, seen_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		tokenHash, username, now, now, stamp(expires))
	if err != nil {
		return fmt.Errorf("store: session: %w", err)
	}
	return nil
}

// Session is a live session and its account.
type Session struct {
	User      User
	CreatedAt time.Time
	SeenAt    time.Time
	ExpiresAt time.Time
}

// SessionByToken returns the session whose token hashes to tokenHash if it
// has not expired, was seen within idle, and its account is enabled; it
// marks it seen (at most once a minute, so reading pages does not write).
func (db *DB) SessionByToken(ctx context.Context, tokenHash string, idle time.Duration) (Session, error) {
	var s Session
	var created, seen, expires string
	row := db.r.QueryRowContext(ctx, `SELECT u.username, u.display_name, u.role, u.grade, u.class, u.disabled, u.created_at, u.changed_at,
		s.created_at, s.seen_at, s.expires_at FROM sessions s JOIN users u ON u.username = s.username WHERE s.token_hash = ?`, tokenHash)
	var uc, uch string
	err := row.Scan(&s.User.Username, &s.User.DisplayName, &s.User.Role, &s.User.Grade, &s.User.Class, &s.User.Disabled, &uc, &uch,
		&created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("store: session: %w", ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("store: session: %w", err)
	}
	s.User.CreatedAt, s.User.ChangedAt = parseStamp(uc), parseStamp(uch)
	s.CreatedAt, s.SeenAt, s.ExpiresAt = parseStamp(created), parseStamp(seen), parseStamp(expires)
	now := db.now()
	if s.User.Disabled || !now.Before(s.ExpiresAt) || now.Sub(s.SeenAt) > idle {
		_ = db.DeleteSession(ctx, tokenHash)
		return s, fmt.Errorf("store: session expired: %w", ErrNotFound)
	}
	if now.Sub(s.SeenAt) > time.Minute {
		if _, err := db.w.ExecContext(ctx, `UPDATE sessions SET seen_at = ? WHERE token_hash = ?`, stamp(now), tokenHash); err != nil {
			return s, fmt.Errorf("store: session: %w", err)
		}
		s.SeenAt = now
	}
	return s, nil
}

// DeleteSession ends one session.
func (db *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("store: end session: %w", err)
	}
	return nil
}

// PurgeSessions deletes expired sessions and those idle longer than idle.
func (db *DB) PurgeSessions(ctx context.Context, idle time.Duration) (int, error) {
	now := db.now()
	res, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR seen_at < ?`, stamp(now), stamp(now.Add(-idle)))
	if err != nil {
		return 0, fmt.Errorf("store: purge sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// isUnique tells a primary key or unique constraint failure, of either
// engine.
func isUnique(err error) bool {
	if se := (*sqlite.Error)(nil); errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgUniqueViolation
}

// pgUniqueViolation is PostgreSQL's SQLSTATE unique_violation.
const pgUniqueViolation = "23505"

// DiskFull tells whether err is the database refusing a write for want of
// space (SQLite's SQLITE_FULL, PostgreSQL's disk_full): nothing of that
// write was kept, and it can succeed as it is once space is freed.
func DiskFull(err error) bool {
	if se := (*sqlite.Error)(nil); errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_FULL // an extended code keeps the primary one in its low byte
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgDiskFull
}

// pgDiskFull is PostgreSQL's SQLSTATE disk_full.
const pgDiskFull = "53100"
