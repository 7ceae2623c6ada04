// Package journal is the gate box's local journal: a bbolt file
// (go.etcd.io/bbolt) holding every gate decision, the outbox of decisions the
// server has not acknowledged yet, and what the school sends down (roster,
// pass revocations, pass-signing keys, gate configuration).
//
// Every Append is one bbolt read-write transaction whose commit is fsync'd
// (fdatasync) before Append returns; the gate opens only after that, so an
// admission the gate acted on survives a power cut or SIGKILL.
//
// Layout (buckets):
//
//	entries      8-byte big-endian seq (bucket NextSequence) -> Entry JSON
//	outbox       seq -> entry time (unix ns, 8 bytes BE); deleted on Ack
//	roster       "p:"+person id -> Person JSON; "c:"+card id -> person id
//	revocations  pass id -> revoked-until (RFC 3339)
//	keys         kid -> public key bytes
//	config       "doc" -> configuration document
//	meta         epoch, gate_id, created, schema, roster_version,
//	             config_version, acked_through
//
// The epoch is 16 random bytes (crypto/rand, hex) created with the file. The
// server identifies an entry by (gate id, epoch, seq): if the file is lost and
// recreated, seqs restart at 1 under a new epoch and nothing is confused.
//
// # Caveats
//
//   - Temperatures are float64 degrees Celsius rounded to 2 decimals, not
//     physic.Temperature as gate-design.md says for the Go API: the entry is a
//     wire record and the flow already works in °C. Convert at the edge.
//   - Opts.MaxSize is bbolt's hard limit. At the limit, Append returns an error
//     wrapping ErrFull and the journal stays readable. Ack and Purge free pages
//     for reuse; the file never shrinks (use Compact offline). Because bbolt
//     copies pages on write, even a delete needs a few free pages: if Purge
//     itself fails with ErrFull, reopen with a larger MaxSize once.
//   - Unacknowledged entries are never purged, however old: a gate offline for
//     months fills up and then fails safe (shut, "journal full") rather than
//     losing records.
//   - A second Open of the same file fails with ErrLocked: immediately in the
//     same process, after Opts.Timeout from another process (flock). bbolt
//     locks are advisory: copying the file while it is open gives a torn copy;
//     use Compact.
//   - InitialMmapSize is min(MaxSize, 16 MiB), so the map stays small on a
//     32-bit Pi; growing past it remaps, which waits for open read
//     transactions. Entries and Export therefore read in batches and call back
//     outside transactions.
//   - Time is the wall clock and may be wrong before NTP sync (ClockSynced);
//     Entries/Export/Purge filter by it, while seq order is the true order.
//   - A journal file belongs to one gate id; opening it with another is
//     refused (ErrGateMismatch). Compact keeps the epoch, so the compacted file
//     must replace the original, never run beside it.
//   - Card ids are matched with spaces trimmed and letters upper-cased.
package journal
