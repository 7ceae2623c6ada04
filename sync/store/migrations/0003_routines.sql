-- campusd's database, version 3: the schools' daily routines.

-- A walk-in visitor's details, as the guard registered them at the gate (JSON), on their entry.
ALTER TABLE entries ADD COLUMN visitor TEXT;

-- The family morning health report (家庭每日晨报): one a pupil a day, the last sent counts.
CREATE TABLE health_reports (
    day          TEXT NOT NULL,
    person_id    TEXT NOT NULL,
    temp_c       REAL NOT NULL,
    symptoms     TEXT NOT NULL, -- comma-separated codes; '' = none
    contact      INTEGER NOT NULL, -- contact with a high-risk area
    location     TEXT NOT NULL,
    status       TEXT NOT NULL, -- green, yellow, red: what the gates get
    submitted_at TEXT NOT NULL,
    link_id      TEXT NOT NULL, -- the family link it came through
    PRIMARY KEY (day, person_id)
);

-- Per-family links the school hands out: the token's SHA-256, for a guardian's phone (all their children).
CREATE TABLE family_links (
    id             TEXT PRIMARY KEY,
    token_hash     TEXT NOT NULL UNIQUE,
    guardian_phone TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    revoked_at     TEXT,
    used_at        TEXT
);
CREATE INDEX family_links_phone ON family_links (guardian_phone);
