-- campusd's database, version 1. Portable SQL where it costs nothing; SQLite specifics are in store.go.
CREATE TABLE entries (
    gate_id      TEXT    NOT NULL,
    epoch        TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    school       TEXT    NOT NULL,
    time         TEXT    NOT NULL, -- RFC 3339, UTC, as the gate's clock said
    day          TEXT    NOT NULL, -- YYYY-MM-DD of time in the school's zone (reports)
    clock_synced INTEGER NOT NULL,
    mono_ns      INTEGER NOT NULL,
    person_id    TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    credential   TEXT    NOT NULL,
    assurance    TEXT    NOT NULL,
    health       TEXT    NOT NULL,
    body_c       REAL    NOT NULL,
    decision     TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    guard_id     TEXT,
    guard_reason TEXT,
    readings     TEXT    NOT NULL, -- JSON array, as sent
    received_at  TEXT    NOT NULL,
    PRIMARY KEY (gate_id, epoch, seq)
);
CREATE INDEX entries_time ON entries (time);
CREATE INDEX entries_person ON entries (person_id, time);
CREATE INDEX entries_day ON entries (day, decision);

CREATE TABLE gates (
    gate_id        TEXT PRIMARY KEY,
    school         TEXT NOT NULL,
    online         INTEGER NOT NULL DEFAULT 0,
    status_at      TEXT,            -- time of the newest status message
    version        TEXT,
    epoch          TEXT,
    last_seen      TEXT,            -- newest status or telemetry
    backlog        INTEGER NOT NULL DEFAULT 0,
    devices        TEXT,            -- JSON object, device -> "ok" or the fault
    ambient_c      REAL,
    counters       TEXT,            -- JSON
    roster_version INTEGER NOT NULL DEFAULT 0,
    config_version INTEGER NOT NULL DEFAULT 0,
    clock_synced   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,
    gate_id       TEXT NOT NULL,
    epoch         TEXT NOT NULL,   -- '' for device alerts
    seq           INTEGER NOT NULL, -- 0 for device alerts
    kind          TEXT NOT NULL,
    school        TEXT NOT NULL,
    at            TEXT NOT NULL,
    person_id     TEXT NOT NULL,
    body_c        REAL NOT NULL,
    device        TEXT NOT NULL,
    detail        TEXT NOT NULL,
    payload       TEXT NOT NULL,   -- the alert as received (JSON)
    received_at   TEXT NOT NULL,
    dedup         TEXT NOT NULL UNIQUE, -- fever/{gate}/{epoch}/{seq}: the gate's alert and its entry are one alert
    acked_by      TEXT,
    acked_at      TEXT,
    outcome       TEXT
);
CREATE INDEX alerts_open ON alerts (acked_at, received_at);
