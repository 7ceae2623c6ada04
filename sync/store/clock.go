package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"
)

// A gate box has no real-time clock: until NTP sets it, it admits people with
// the time it booted with (1970, or the last one saved) and marks its entries
// clock_synced=false. Each entry also carries the boot id and the time since
// that boot (CLOCK_BOOTTIME), which no clock step changes. Once the box's
// clock is synchronised, its telemetry gives that boot's offset to real time,
// and the server rewrites the times of the boot's unsynchronised entries
// (keeping what the gate wrote in time_gate), whether they arrived before the
// offset or after it. The entries are the same rows: nothing is counted twice.

// alertAt is the alerts table's time column as read: a fever alert takes its
// entry's time once the server has corrected that.
const alertAt = `COALESCE((SELECT e.time FROM entries e WHERE e.gate_id = alerts.gate_id AND e.epoch = alerts.epoch
	AND e.seq = alerts.seq AND e.time_gate IS NOT NULL AND alerts.kind = 'fever'), alerts.at)`

// bootOffset is offset_ns for (gate, boot), if known.
func bootOffset(ctx context.Context, tx *sql.Tx, gate, boot string) (int64, bool, error) {
	var off int64
	err := tx.QueryRowContext(ctx, `SELECT offset_ns FROM gate_boots WHERE gate_id = ? AND boot = ?`, gate, boot).Scan(&off)
	switch {
	case err == sql.ErrNoRows:
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("store: boot offset %s/%s: %w", gate, boot, err)
	}
	return off, true, nil
}

// correctedTime is when an entry stamped mono ns after its boot really was.
func correctedTime(offset, mono int64) time.Time { return time.Unix(0, offset+mono).UTC() }

// recordBoot keeps the boot offset a synchronised telemetry gives and corrects
// the boot's entries stamped before the sync (a fever alert reads its time
// from its entry: alertAt). It returns how many entries it corrected.
func (db *DB) recordBoot(ctx context.Context, tx *sql.Tx, gate string, t wire.Telemetry) (int, error) {
	if !t.ClockSynced || t.Boot == "" || t.MonoNS <= 0 {
		return 0, nil
	}
	off := t.At.UnixNano() - t.MonoNS
	if _, err := tx.ExecContext(ctx, `INSERT INTO gate_boots (gate_id, boot, offset_ns, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (gate_id, boot) DO UPDATE SET offset_ns = excluded.offset_ns, at = excluded.at WHERE gate_boots.at <= excluded.at`,
		gate, t.Boot, off, stamp(t.At)); err != nil {
		return 0, fmt.Errorf("store: boot offset %s: %w", gate, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT epoch, seq, mono_ns, time FROM entries
		WHERE gate_id = ? AND boot = ? AND clock_synced = 0 AND time_gate IS NULL`, gate, t.Boot)
	if err != nil {
		return 0, fmt.Errorf("store: correct times %s: %w", gate, err)
	}
	type fix struct {
		epoch    string
		seq      int64
		mono     int64
		original string
	}
	var fixes []fix
	for rows.Next() {
		var f fix
		if err := rows.Scan(&f.epoch, &f.seq, &f.mono, &f.original); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: correct times %s: %w", gate, err)
		}
		fixes = append(fixes, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: correct times %s: %w", gate, err)
	}
	for _, f := range fixes {
		at := correctedTime(off, f.mono)
		if _, err := tx.ExecContext(ctx, `UPDATE entries SET time = ?, day = ?, time_gate = ? WHERE gate_id = ? AND epoch = ? AND seq = ?`,
			stamp(at), at.In(db.loc).Format(time.DateOnly), f.original, gate, f.epoch, f.seq); err != nil {
			return 0, fmt.Errorf("store: correct time %s/%d: %w", gate, f.seq, err)
		}
	}
	if len(fixes) > 0 {
		db.log.Info("gate clock synchronised: entry times corrected", "gate", gate, "boot", t.Boot, "entries", len(fixes))
	}
	return len(fixes), nil
}

// entryTimes gives the time an entry is stored with, within one insert's
// transaction: its own, or the corrected one if its clock was not
// synchronised and its boot's offset is known (looked up once a boot).
type entryTimes struct {
	tx      *sql.Tx
	offsets map[string]*int64 // gate/boot → its offset; nil: not known yet
}

// of returns the time to store e with and, when that was corrected, the time
// the gate wrote (else nil).
func (t *entryTimes) of(ctx context.Context, e *journal.Entry) (at time.Time, gate any, err error) {
	if e.ClockSynced || e.Boot == "" {
		return e.Time, nil, nil
	}
	k := e.GateID + "/" + e.Boot
	off, seen := t.offsets[k]
	if !seen {
		v, ok, err := bootOffset(ctx, t.tx, e.GateID, e.Boot)
		if err != nil {
			return time.Time{}, nil, err
		}
		if ok {
			off = &v
		}
		t.offsets[k] = off
	}
	if off == nil {
		return e.Time, nil, nil
	}
	return correctedTime(*off, e.MonoNS), stamp(e.Time), nil
}
