// Package journal is the gate box's local journal: a bbolt file
// (go.etcd.io/bbolt) holding every gate decision, the outbox of decisions the
// server has not acknowledged yet, and what the school sends down (roster,
// pass revocations, pass-signing keys, gate configuration).
//
// Every Append is one bbolt read-write transaction whose commit is fsync'd
// (fdatasync) before Append returns; the gate opens only after that, so an
// admission the gate acted on survives a power cut or SIGKILL.
//
// The outbox is the sync layer's work list: Pending(after, limit) pages
// through unacknowledged entries in seq order, Ack(epoch, seqs...) removes
// them (idempotent, any order, refused for another file's epoch), and Backlog
// counts them. It is not a bucket of its own: Meta.AckedThrough is the highest
// seq up to which everything is acknowledged, and the acked bucket holds the
// acknowledgements above it that came out of order (a pipelined sender's acks
// can). So Append writes the entries bucket only, and an entry is pending
// simply by being above the cursor without an acked record.
//
// Layout (buckets):
//
//	entries      8-byte big-endian seq (bucket NextSequence) -> Entry JSON
//	acked        seq -> ack time (unix ns, 8 bytes BE), for seqs above
//	             acked_through only; folded into it once contiguous
//	roster       "p:"+person id -> Person JSON; "c:"+card id -> person id
//	revocations  pass id -> revoked-until (RFC 3339; zero time: for ever)
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
//   - fsync on SD cards: an Append is one bbolt commit, which writes about 7
//     pages (entries leaf and branches, the root page that holds the bucket's
//     sequence, freelist, meta) and
//     calls fdatasync twice (data pages, then the meta page). On the
//     development machine that is ~0.3 ms; on a Pi's SD card it is typically
//     several ms to tens of ms, with stalls of 100 ms or more while the card
//     erases blocks. That is the price of "durable before the gate opens" and
//     is fine at one person a second. Use a high-endurance card (3000 entries
//     a day write ~100 MB a day) and never put the file on tmpfs or a RAM
//     overlay, where fsync means nothing.
//   - db.Batch is not used. It saves fsyncs only when several goroutines
//     write at once; the gate has one lane writing one entry at a time, so it
//     would only add its MaxBatchDelay (10 ms) to every Append. And when one
//     call in a batch fails (ErrFull) the whole commit is rolled back, the
//     others are rerun and the failing one retried alone, so who hit the limit
//     and in which order seqs were given is no longer simply the call order.
//   - 32-bit MaxSize: bbolt maps the whole file, and a 32-bit process has
//     about 2-3 GiB of address space shared with everything else, so the
//     default MaxSize is 256 MiB (about 250 000 entries of ~600 bytes, 80
//     school days of a busy gate that cannot reach its server). Raise it only
//     on arm64. InitialMmapSize is min(MaxSize, 16 MiB): weeks of entries
//     without remapping, yet small on a 32-bit Pi. Growing past it remaps,
//     which waits for open read transactions; Entries, Export and Purge
//     therefore read in short transactions and call back outside them.
//   - Temperatures are float64 degrees Celsius rounded to 2 decimals, not
//     physic.Temperature as gate-design.md says for the Go API: the entry is a
//     wire record, the flow already works in °C (gate.Celsius), and a float
//     field keeps the JSON the same in Go and on the server. Convert at the
//     edge.
//   - Opts.MaxSize is bbolt's hard limit. At the limit, Append returns an error
//     wrapping ErrFull and the journal stays readable. Ack and Purge free pages
//     for reuse; the file never shrinks (use Compact offline). Because bbolt
//     copies pages on write, even a delete needs a few free pages: if Purge
//     itself fails with ErrFull, reopen with a larger MaxSize once.
//   - Unacknowledged entries are never purged, however old: a gate offline for
//     months fills up and then fails safe (shut, "journal full") rather than
//     losing records.
//   - Revocations are dropped by Purge a day after their until (the pass
//     verifier allows some clock skew past a pass's expiry); a zero until is
//     kept for ever. Revoked fails closed: an unreadable journal reports every
//     pass revoked.
//   - A second Open of the same file fails with ErrLocked: immediately in the
//     same process, after Opts.Timeout from another process (flock). bbolt
//     locks are advisory: copying the file while it is open gives a torn copy;
//     use Compact.
//   - Time is the wall clock and may be wrong before NTP sync (ClockSynced);
//     Entries/Export/Purge filter by it, while seq order is the true order.
//   - A journal file belongs to one gate id; opening it with another is
//     refused (ErrGateMismatch). Compact keeps the epoch, so the compacted file
//     must replace the original, never run beside it.
//   - Card ids are matched with spaces trimmed and letters upper-cased.
package journal
