// Package store is campusd's database: every entry the gates send, stored
// once by (gate, epoch, seq); the alerts; and the gate registry. SQLite
// through modernc.org/sqlite (pure Go, so campusd cross-compiles without cgo),
// in WAL mode with synchronous=FULL: an entry is acknowledged to its gate
// after the commit, so the commit must survive a power cut.
//
// Caveats:
//   - SQLite has one writer at a time. Writes go through one connection; reads
//     use a small pool and, in WAL mode, never wait for the writer.
//   - synchronous=FULL costs an fsync per commit; ingest batches many gate
//     messages into one transaction to pay it once.
//   - The schema is in migrations/*.sql, applied in order and recorded in
//     schema_migrations; a database from a newer campusd is refused.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrSchemaTooNew: the database was written by a newer campusd.
var ErrSchemaTooNew = errors.New("store: the database is from a newer campusd")

// Opts configures Open.
type Opts struct {
	Location *time.Location   // the school's time zone, for days; nil: time.Local
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger
}

// DB is campusd's database.
type DB struct {
	w, r *sql.DB
	sql  dialect
	dsn  string // PostgreSQL's, for ListenAlerts
	id   string // tells this handle's notifications from other instances
	loc  *time.Location
	now  func() time.Time
	log  *slog.Logger
}

// Open opens (creating if needed) the database at path and brings its schema
// up to date. path is a SQLite file, or a PostgreSQL URL
// (postgres://user:password@host:port/dbname?sslmode=...; IsPostgres), whose
// database must exist: Open creates the tables in it.
func Open(ctx context.Context, path string, o *Opts) (*DB, error) {
	var opts Opts
	if o != nil {
		opts = *o
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if IsPostgres(path) {
		w, r, err := openPostgres(path)
		if err != nil {
			return nil, err
		}
		db := &DB{w: w, r: r, sql: postgresDialect, dsn: path, id: rand.Text(), loc: opts.Location, now: opts.Now, log: opts.Logger}
		if err := db.migrate(ctx, ""); err != nil {
			db.Close()
			return nil, fmt.Errorf("store: postgres: %w", err)
		}
		return db, nil
	}
	dsn := func(txlock string) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", txlock)
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn("deferred"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	db := &DB{w: w, r: r, sql: sqliteDialect, loc: opts.Location, now: opts.Now, log: opts.Logger}
	if err := db.migrate(ctx, path); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return db, nil
}

// Ping checks that the database answers, for the writer and the readers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return db.r.PingContext(ctx)
}

// Close closes the database.
func (db *DB) Close() error {
	return errors.Join(db.w.Close(), db.r.Close())
}

// migrate applies the migrations the database lacks. An existing SQLite
// database is first copied whole (VACUUM INTO) to path.vN.bak, N its version:
// going back to the campusd that wrote it, which refuses a newer schema, is
// then putting that copy back (README: upgrade and rollback). A PostgreSQL
// database is the operator's to back up (pg_dump), as its server is; the
// migration runs in one transaction there too, and one campusd at a time
// applies it (an advisory lock), so instances started together do not race.
func (db *DB) migrate(ctx context.Context, dbPath string) error {
	if db.sql.postgres {
		conn, err := db.w.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		// Any constant: campusd's migrations, on this database.
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7243021)`); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7243021)`)
	}
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	var have int
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return err
	}
	if have > len(files) {
		return fmt.Errorf("schema version %d, this build knows %d: %w", have, len(files), ErrSchemaTooNew)
	}
	if have > 0 && have < len(files) && dbPath != ":memory:" && !db.sql.postgres {
		bak := fmt.Sprintf("%s.v%d.bak", dbPath, have)
		if _, err := os.Stat(bak); err == nil {
			bak = fmt.Sprintf("%s.v%d.%s.bak", dbPath, have, db.now().UTC().Format("20060102T150405"))
		}
		if _, err := db.w.ExecContext(ctx, `VACUUM INTO ?`, bak); err != nil {
			return fmt.Errorf("backup before migrating from version %d to %s: %w", have, bak, err)
		}
		db.log.Info("database backed up before its migration", "from_version", have, "to_version", len(files), "backup", bak)
	}
	for i, f := range files {
		v, err := strconv.Atoi(strings.SplitN(path.Base(f), "_", 2)[0])
		if err != nil || v != i+1 {
			return fmt.Errorf("migration %s: want %04d_*.sql", f, i+1)
		}
		if v <= have {
			continue
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		if db.sql.postgres {
			body = []byte(pgMigration(string(body)))
		}
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", f, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, stamp(db.now())); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", f, err)
		}
		db.log.Info("database migrated", "version", v)
	}
	return nil
}

// stampLayout is fixed-width, so times compare as strings in SQL.
const stampLayout = "2006-01-02T15:04:05.000000000Z"

func stamp(t time.Time) string { return t.UTC().Format(stampLayout) }

func parseStamp(s string) time.Time {
	t, _ := time.Parse(stampLayout, s)
	return t
}

var decisions = map[string]bool{"admit": true, "deny": true, "refer": true}

func validEntry(i int, e *journal.Entry) error {
	switch {
	case e.GateID == "" || e.Epoch == "":
		return fmt.Errorf("entry %d: no gate or epoch", i)
	case e.Seq == 0:
		return fmt.Errorf("entry %d (%s): seq 0", i, e.GateID)
	case !decisions[e.Decision]:
		return fmt.Errorf("entry %d (%s/%d): decision %q", i, e.GateID, e.Seq, e.Decision)
	}
	return nil
}

const (
	entryCols = `gate_id, epoch, seq, school, time, day, clock_synced, mono_ns, person_id, role, credential,
	assurance, health, body_c, decision, reason, kind, guard_id, guard_reason, readings, received_at, visitor, boot, time_gate`
	entryRow    = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	entryArgs   = 24
	insertEntry = `INSERT INTO entries (` + entryCols + `) VALUES ` + entryRow + ` ON CONFLICT (gate_id, epoch, seq) DO NOTHING`
	// pgRows are the rows of one multi-row insert on PostgreSQL (its limit
	// is 65,535 arguments): there every statement is a round trip.
	pgRows = 500
)

// InsertEntries stores entries in one transaction, each once by (gate,
// epoch, seq); it returns how many were new and how many were already there.
// A malformed entry refuses the whole call and nothing is stored. The
// entries' fever alerts are stored with them, as InsertBatch does.
func (db *DB) InsertEntries(ctx context.Context, school string, entries []journal.Entry) (inserted, duplicates int, err error) {
	inserted, duplicates, _, err = db.InsertBatch(ctx, school, entries)
	return inserted, duplicates, err
}

// InsertBatch is InsertEntries that also stores, in the same transaction,
// the fever alert of each entry that denied a fever (wire.FeverAlert), once
// (AlertKey): an entry stored, and so acknowledged, is never without its
// alert, whatever stops campusd or fills its disk after the commit. fevers
// are the alerts that are new.
func (db *DB) InsertBatch(ctx context.Context, school string, entries []journal.Entry) (inserted, duplicates int, fevers []wire.Alert, err error) {
	for i := range entries {
		if err := validEntry(i, &entries[i]); err != nil {
			return 0, 0, nil, fmt.Errorf("store: insert entries: %w", err)
		}
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("store: insert entries: %w", err)
	}
	defer tx.Rollback()
	now := stamp(db.now())
	times := entryTimes{tx: tx, offsets: map[string]*int64{}}
	row := func(e *journal.Entry, args []any) ([]any, error) {
		at, timeGate, err := times.of(ctx, e)
		if err != nil {
			return nil, err
		}
		readings, _ := json.Marshal(e.Readings) // readings always marshal
		if e.Readings == nil {
			readings = []byte("[]")
		}
		var gid, gwhy, visitor any
		if e.Guard != nil {
			gid, gwhy = e.Guard.ID, e.Guard.Reason
		}
		if e.Visitor != nil {
			b, _ := json.Marshal(e.Visitor)
			visitor = string(b)
		}
		return append(args, e.GateID, e.Epoch, int64(e.Seq), school, stamp(at), at.In(db.loc).Format(time.DateOnly),
			e.ClockSynced, e.MonoNS, e.PersonID, e.Role, e.Credential, e.Assurance, e.Health, e.BodyC, e.Decision, e.Reason, e.Kind,
			gid, gwhy, string(readings), now, visitor, e.Boot, timeGate), nil
	}
	if db.sql.postgres {
		inserted, err = insertEntryRows(ctx, tx, entries, row)
		duplicates = len(entries) - inserted
	} else {
		inserted, duplicates, err = insertEntriesEach(ctx, tx, entries, row)
	}
	if err != nil {
		return 0, 0, nil, err
	}
	for i := range entries {
		if !wire.DeniedFever(&entries[i]) {
			continue
		}
		a := wire.FeverAlert(&entries[i])
		isNew, err := db.insertAlert(ctx, tx, school, a)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("store: insert entries: fever of %s/%d: %w", a.Gate, a.Seq, err)
		}
		if !isNew {
			continue
		}
		fevers = append(fevers, a)
		// Announced to the other instances on commit, and only then. An
		// announcement that fails fails the batch (the gate sends it again):
		// in the transaction only a full queue or a lost connection can,
		// and then the commit would too.
		if db.sql.postgres {
			if err := db.notify(ctx, tx, alertNote{School: school, Alert: a}); err != nil {
				return 0, 0, nil, fmt.Errorf("store: insert entries: announce the fever of %s/%d: %w", a.Gate, a.Seq, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, nil, fmt.Errorf("store: insert entries: commit: %w", err)
	}
	return inserted, duplicates, fevers, nil
}

// insertEntriesEach inserts through one prepared statement: SQLite runs in
// campusd's process, and a statement a row costs it nothing more.
func insertEntriesEach(ctx context.Context, tx *sql.Tx, entries []journal.Entry, row func(*journal.Entry, []any) ([]any, error)) (inserted, duplicates int, err error) {
	st, err := tx.PrepareContext(ctx, insertEntry)
	if err != nil {
		return 0, 0, fmt.Errorf("store: insert entries: %w", err)
	}
	defer st.Close()
	args := make([]any, 0, entryArgs)
	for i := range entries {
		e := &entries[i]
		if args, err = row(e, args[:0]); err != nil {
			return 0, 0, err
		}
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return 0, 0, fmt.Errorf("store: insert entry %s/%d: %w", e.GateID, e.Seq, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			inserted++
		} else {
			duplicates++
		}
	}
	return inserted, duplicates, nil
}

// insertEntryRows inserts pgRows entries a statement.
func insertEntryRows(ctx context.Context, tx *sql.Tx, entries []journal.Entry, row func(*journal.Entry, []any) ([]any, error)) (int, error) {
	inserted := 0
	for from := 0; from < len(entries); from += pgRows {
		chunk := entries[from:min(from+pgRows, len(entries))]
		args := make([]any, 0, len(chunk)*entryArgs)
		var err error
		for i := range chunk {
			if args, err = row(&chunk[i], args); err != nil {
				return 0, err
			}
		}
		q := `INSERT INTO entries (` + entryCols + `) VALUES ` + entryRow + strings.Repeat(", "+entryRow, len(chunk)-1) +
			` ON CONFLICT (gate_id, epoch, seq) DO NOTHING`
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, fmt.Errorf("store: insert entries %s/%d…: %w", chunk[0].GateID, chunk[0].Seq, err)
		}
		n, _ := res.RowsAffected()
		inserted += int(n)
	}
	return inserted, nil
}

// AlertStored tells whether a is stored (AlertKey).
func (db *DB) AlertStored(ctx context.Context, a wire.Alert) (bool, error) {
	var one int
	err := db.r.QueryRowContext(ctx, `SELECT 1 FROM alerts WHERE dedup = ?`, AlertKey(a)).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store: alert stored: %w", err)
	}
	return true, nil
}

// HeldSince gives a stored alert what the console knew of it while it held
// it unstored: received at receivedAt, if that is earlier than the stored
// time (when it was first stored), and escalated at escalatedAt (unless
// zero, or the stored alert is escalated already, or acknowledged: then the
// admins were told, but the record has only the acknowledgement), with the
// escalation's event. Escalation goes by the received time, and each alert
// is escalated once. It reports whether a is stored; if not, it changes
// nothing.
func (db *DB) HeldSince(ctx context.Context, a wire.Alert, receivedAt, escalatedAt time.Time) (bool, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: held alert: %w", err)
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM alerts WHERE dedup = ?`, AlertKey(a)).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store: held alert: %w", err)
	}
	// Stamps are fixed-width UTC text: they compare as their times do.
	at := stamp(receivedAt)
	if _, err := tx.ExecContext(ctx, `UPDATE alerts SET received_at = ? WHERE id = ? AND received_at > ?`, at, id, at); err != nil {
		return false, fmt.Errorf("store: held alert %d: %w", id, err)
	}
	if !escalatedAt.IsZero() {
		if _, err := markEscalated(ctx, tx, id, stamp(escalatedAt)); err != nil {
			return false, fmt.Errorf("store: held alert %d: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: held alert %d: commit: %w", id, err)
	}
	return true, nil
}

// AlertKey is what makes an alert the same alert: a fever alert is the same
// whether it came from the gate's alert message or from its entry.
func AlertKey(a wire.Alert) string {
	if a.Kind == wire.AlertFever {
		return fmt.Sprintf("fever/%s/%s/%d", a.Gate, a.Epoch, a.Seq)
	}
	return fmt.Sprintf("%s/%s/%s/%s", a.Kind, a.Gate, a.Device, stamp(a.At))
}

// InsertAlert stores a, once (AlertKey). It reports whether a is new.
func (db *DB) InsertAlert(ctx context.Context, school string, a wire.Alert) (bool, error) {
	isNew, err := db.insertAlert(ctx, db.w, school, a)
	if err != nil {
		return false, fmt.Errorf("store: insert alert: %w", err)
	}
	if isNew && db.sql.postgres {
		db.notifyAlert(ctx, school, a)
	}
	return isNew, nil
}

// insertAlert stores a through x, the writer pool or a transaction.
func (db *DB) insertAlert(ctx context.Context, x execer, school string, a wire.Alert) (bool, error) {
	dedup := AlertKey(a)
	payload, _ := json.Marshal(a)
	res, err := x.ExecContext(ctx, `INSERT INTO alerts (gate_id, epoch, seq, kind, school, at, person_id, body_c, device, detail, payload, received_at, dedup)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup) DO NOTHING`,
		a.Gate, a.Epoch, int64(a.Seq), string(a.Kind), school, stamp(a.At), a.PersonID, a.BodyC, a.Device, a.Detail, string(payload), stamp(db.now()), dedup)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// GateStatus records a gate's online/offline status; an older status never
// overwrites a newer one (messages can arrive out of order).
func (db *DB) GateStatus(ctx context.Context, school, gate string, s wire.Status) error {
	at := stamp(s.At)
	_, err := db.w.ExecContext(ctx, `INSERT INTO gates (gate_id, school, online, status_at, version, epoch, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (gate_id) DO UPDATE SET
			school = excluded.school, online = excluded.online, status_at = excluded.status_at,
			version = COALESCE(NULLIF(excluded.version, ''), gates.version), epoch = COALESCE(NULLIF(excluded.epoch, ''), gates.epoch),
			last_seen = `+db.sql.greatest+`(COALESCE(gates.last_seen, ''), excluded.last_seen)
		WHERE gates.status_at IS NULL OR gates.status_at <= excluded.status_at`,
		gate, school, s.State == "online", at, s.Version, s.Epoch, at)
	if err != nil {
		return fmt.Errorf("store: gate status %s: %w", gate, err)
	}
	return nil
}

// GateTelemetry records a gate's latest telemetry.
func (db *DB) GateTelemetry(ctx context.Context, school, gate string, t wire.Telemetry) error {
	devices, _ := json.Marshal(t.Devices)
	counters, _ := json.Marshal(t.Counters)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: gate telemetry %s: %w", gate, err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO gates (gate_id, school, online, last_seen, backlog, devices, ambient_c, counters, roster_version, config_version, clock_synced)
		VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (gate_id) DO UPDATE SET
			school = excluded.school, last_seen = excluded.last_seen, backlog = excluded.backlog, devices = excluded.devices,
			ambient_c = excluded.ambient_c, counters = excluded.counters, roster_version = excluded.roster_version,
			config_version = excluded.config_version, clock_synced = excluded.clock_synced
		WHERE gates.last_seen IS NULL OR gates.last_seen <= excluded.last_seen`,
		gate, school, stamp(t.At), t.Backlog, string(devices), t.AmbientC, string(counters), int64(t.RosterVersion), int64(t.ConfigVersion), t.ClockSynced)
	if err != nil {
		return fmt.Errorf("store: gate telemetry %s: %w", gate, err)
	}
	if _, err := db.recordBoot(ctx, tx, gate, t); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: gate telemetry %s: %w", gate, err)
	}
	return nil
}
