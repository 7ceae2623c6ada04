package store

import (
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/store/pgtest"

	"github.com/jackc/pgx/v5"
)

// BenchmarkIngest: InsertEntries of 50-entry batches (validation, conflict
// check, one fsync'd transaction each) next to a plain batched insert of the
// same rows into the same schema with the same pragmas.
func BenchmarkIngest(b *testing.B) {
	const batch = 50
	mk := func(from uint64) []journal.Entry {
		es := make([]journal.Entry, batch)
		for i := range es {
			es[i] = entry("north-1", "e1", from+uint64(i), "ok")
		}
		return es
	}
	b.Run("ours", func(b *testing.B) {
		db, _ := open(b)
		var seq uint64 = 1
		for b.Loop() {
			if _, _, err := db.InsertEntries(ctx, "hz", mk(seq)); err != nil {
				b.Fatal(err)
			}
			seq += batch
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("baseline", func(b *testing.B) {
		db, _ := open(b)
		const plain = `INSERT INTO entries (gate_id, epoch, seq, school, time, day, clock_synced, mono_ns, person_id, role, credential,
			assurance, health, body_c, decision, reason, kind, guard_id, guard_reason, readings, received_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
		readings := `[{"surface_c":34.9,"body_c":36.6,"ambient_c":24,"sensor":"mlx90614","at":"2026-09-01T07:30:00Z"}]`
		var seq int64 = 1
		for b.Loop() {
			tx, err := db.w.Begin()
			if err != nil {
				b.Fatal(err)
			}
			st, err := tx.Prepare(plain)
			if err != nil {
				b.Fatal(err)
			}
			for i := range batch {
				if _, err := st.Exec("north-1", "e1", seq+int64(i), "hz", "2026-09-01T07:30:00.000000000Z", "2026-09-01", true, 0, "P1",
					"pupil", "pass", "high", "green", 36.6, "admit", "ok", "entry", nil, nil, readings, "2026-09-01T07:30:00.000000000Z"); err != nil {
					b.Fatal(err)
				}
			}
			st.Close()
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			seq += batch
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
	})
}

// BenchmarkIngestPostgres: InsertEntries of 50-entry batches on PostgreSQL
// (sync/store/pgtest's server: fsync off, so it measures the SQL and the
// round trips, not the disk) next to pgx's COPY of the same rows into the same
// schema, a transaction a batch: the fastest way in.
func BenchmarkIngestPostgres(b *testing.B) {
	const batch = 50
	b.Run("ours", func(b *testing.B) {
		db, err := Open(ctx, pgtest.DSN(b), &Opts{Location: time.UTC, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		var seq uint64 = 1
		for b.Loop() {
			es := make([]journal.Entry, batch)
			for i := range es {
				es[i] = entry("north-1", "e1", seq+uint64(i), "ok")
			}
			if _, _, err := db.InsertEntries(ctx, "hz", es); err != nil {
				b.Fatal(err)
			}
			seq += batch
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("baseline", func(b *testing.B) {
		dsn := pgtest.DSN(b)
		db, err := Open(ctx, dsn, &Opts{Location: time.UTC, Logger: quiet}) // the schema
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(ctx)
		cols := []string{"gate_id", "epoch", "seq", "school", "time", "day", "clock_synced", "mono_ns", "person_id", "role", "credential",
			"assurance", "health", "body_c", "decision", "reason", "kind", "readings", "received_at"}
		readings := `[{"surface_c":34.9,"body_c":36.6,"ambient_c":24,"sensor":"mlx90614","at":"2026-09-01T07:30:00Z"}]`
		var seq int64 = 1
		for b.Loop() {
			rows := make([][]any, batch)
			for i := range rows {
				rows[i] = []any{"north-1", "e1", seq + int64(i), "hz", "2026-09-01T07:30:00.000000000Z", "2026-09-01", int64(1), int64(0), "P1",
					"pupil", "pass", "high", "green", 36.6, "admit", "ok", "entry", readings, "2026-09-01T07:30:00.000000000Z"}
			}
			tx, err := c.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"entries"}, cols, pgx.CopyFromRows(rows)); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
			seq += batch
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
	})
}
