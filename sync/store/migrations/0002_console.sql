-- campusd's database, version 2: the school console (roster, accounts, audit, nurses' work, absences, passes,
-- visitors, per-gate settings).

-- The roster as the school keeps it; what goes down to the gates is derived from it (no guardian phone).
CREATE TABLE people (
    person_id      TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,            -- pupil, staff, visitor, parent
    grade          TEXT NOT NULL DEFAULT '',
    class          TEXT NOT NULL DEFAULT '',
    card_id        TEXT NOT NULL DEFAULT '',
    guardian_phone TEXT NOT NULL DEFAULT '',
    health         TEXT NOT NULL DEFAULT '', -- green|yellow|red|'' (today's morning report, a later issue)
    health_date    TEXT NOT NULL DEFAULT '',
    updated_at     TEXT NOT NULL
);
CREATE INDEX people_class ON people (grade, class);

-- Small values: the roster version, and the like.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,            -- admin, nurse, head_teacher, guard, district
    grade         TEXT NOT NULL DEFAULT '', -- head teachers: their class
    class         TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,            -- bcrypt
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    changed_at    TEXT NOT NULL
);

-- Sessions: the cookie holds a random token; only its SHA-256 is kept here.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    seen_at    TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (username);

-- Who looked at or changed what, when.
CREATE TABLE audit (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    username TEXT NOT NULL,
    role     TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    detail   TEXT NOT NULL,
    remote   TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_user ON audit (username, at);

-- The nurse's work on an alert: acknowledgement, escalation, outcomes (several over time).
ALTER TABLE alerts ADD COLUMN escalated_at TEXT;
CREATE TABLE alert_events (
    id       INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    at       TEXT NOT NULL,
    username TEXT NOT NULL,
    kind     TEXT NOT NULL,  -- ack, escalated, outcome
    outcome  TEXT NOT NULL,  -- retest, isolated, collected, cleared, referred ('' for ack/escalated)
    retest_c REAL,
    note     TEXT NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, at);

-- Absence follow-up: the reason a head teacher records for someone who did not arrive.
CREATE TABLE absences (
    day       TEXT NOT NULL,
    person_id TEXT NOT NULL,
    reason    TEXT NOT NULL, -- sick, leave, unreachable, other
    note      TEXT NOT NULL,
    username  TEXT NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (day, person_id)
);

-- Passes the console issued (the code itself, to print again), and their revocation.
CREATE TABLE passes (
    pass_id       TEXT PRIMARY KEY,
    person_id     TEXT NOT NULL,
    role          TEXT NOT NULL,
    kid           TEXT NOT NULL,
    code          TEXT NOT NULL,
    issued_at     TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    issued_by     TEXT NOT NULL,
    revoked_at    TEXT,
    revoked_by    TEXT,
    revoke_reason TEXT
);
CREATE INDEX passes_person ON passes (person_id, issued_at);

CREATE TABLE visitors (
    visitor_id TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    phone      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    host       TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to   TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    pass_id    TEXT NOT NULL
);

-- The school's settings for one gate (a TOML overlay like -gate-config), sent when its version differs.
CREATE TABLE gate_configs (
    gate_id    TEXT PRIMARY KEY,
    toml       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
