-- campusd's database, version 4: the times of gates whose clock was not synchronised, corrected.

-- The kernel boot id the entry's mono_ns counts from ('' from gates before it was sent).
ALTER TABLE entries ADD COLUMN boot TEXT NOT NULL DEFAULT '';
-- The time the gate wrote, kept when the server corrected it (time and day then hold the corrected ones).
ALTER TABLE entries ADD COLUMN time_gate TEXT;
CREATE INDEX entries_uncorrected ON entries (gate_id, boot) WHERE clock_synced = 0 AND time_gate IS NULL;

-- How one boot of a gate maps to real time, from its latest telemetry with a synchronised clock:
-- real time (Unix ns) = offset_ns + mono_ns.
CREATE TABLE gate_boots (
    gate_id   TEXT NOT NULL,
    boot      TEXT NOT NULL,
    offset_ns INTEGER NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (gate_id, boot)
);
