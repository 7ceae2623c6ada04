package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Entry is one decision of the gate, as stored (JSON) and sent to the server.
// Field names and values follow gate/design notes; V is SchemaVersion.
//
// Temperatures are float64 degrees Celsius rounded to 2 decimals on Append
// (the wire format); callers holding physic.Temperature convert at the edge.
type Entry struct {
	V           int       `json:"v"`
	GateID      string    `json:"gate_id"`
	Epoch       string    `json:"epoch"`
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`           // wall clock, RFC 3339 with ns
	ClockSynced bool      `json:"clock_synced"`   // false: Time may be far off
	MonoNS      int64     `json:"mono_ns"`        // monotonic ns since boot
	Boot        string    `json:"boot,omitempty"` // the kernel's boot id: MonoNS counts from that boot
	// TimeAsSent is set by the school server only, when it corrected Time (the
	// gate's clock was not synchronised): the time the gate wrote.
	TimeAsSent *time.Time   `json:"time_as_sent,omitempty"`
	PersonID   string       `json:"person_id"`
	Role       string       `json:"role"`       // pupil|staff|visitor|parent|unknown
	Credential string       `json:"credential"` // pass|card|manual
	Assurance  string       `json:"assurance"`  // high|low
	Health     string       `json:"health"`     // green|yellow|red|"" (unknown)
	Readings   []Reading    `json:"readings"`
	BodyC      float64      `json:"body_c"`   // final body temperature, °C
	Decision   string       `json:"decision"` // admit|deny|refer
	Reason     string       `json:"reason"`   // stable snake_case code
	Guard      *GuardAction `json:"guard"`
	Kind       string       `json:"kind"`              // entry|midday|override|emergency|remote
	Visitor    *VisitorInfo `json:"visitor,omitempty"` // a walk-in visitor the guard registered
}

// VisitorInfo is who a walk-in visitor said they were, as the guard wrote it.
type VisitorInfo struct {
	Name   string `json:"name"`
	Phone  string `json:"phone"`
	Reason string `json:"reason"`
	Host   string `json:"host,omitempty"`
}

// Reading is one temperature measurement, °C.
type Reading struct {
	SurfaceC float64   `json:"surface_c"`
	BodyC    float64   `json:"body_c"`
	AmbientC float64   `json:"ambient_c"`
	Sensor   string    `json:"sensor"`
	At       time.Time `json:"at"`
}

// GuardAction records which guard acted and why.
type GuardAction struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

func round2(c float64) float64 { return math.Round(c*100) / 100 }

// appendFill is the page fill of the entries bucket in Append.
// Their keys only ever grow, so a page left behind by a split is never
// written again, and bbolt's default of half a page wastes space: with
// ~600-byte entries it packs 3 per 4 KiB page, this 4 (bbolt keeps two keys
// for the right-hand page), which is 25% less file for the same entries.
const appendFill = 0.95

// stored is the record Append writes for e: schema version, file identity,
// time without its monotonic reading (MonoNS carries that), temperatures
// rounded to 2 decimals, and readings always a list (never JSON null). The
// caller's readings are copied, not rounded in place: it may share them.
func stored(e *Entry, epoch, gateID string, now time.Time) Entry {
	rec := *e
	rec.V, rec.Epoch, rec.GateID = SchemaVersion, epoch, gateID
	if rec.Time.IsZero() {
		rec.Time = now
	}
	rec.Time = rec.Time.Round(0)
	rec.BodyC = round2(rec.BodyC)
	rec.Readings = make([]Reading, len(e.Readings))
	for i, r := range e.Readings {
		r.SurfaceC, r.BodyC, r.AmbientC = round2(r.SurfaceC), round2(r.BodyC), round2(r.AmbientC)
		rec.Readings[i] = r
	}
	return rec
}

// Append assigns e.V, e.Seq, e.Epoch and e.GateID (and e.Time if zero) and
// stores the entry in one fsync'd bbolt commit, which writes only the entries
// bucket (the outbox is every seq above the acknowledged ones, so an entry is
// pending by being there). It returns
// only after the commit, so a nil error means the entry survives a power cut.
// Space errors wrap ErrFull. e is not modified on error.
//
// Append never refuses an entry for its labels: a decision that cannot be
// recorded keeps the gate shut, which would be worse than an odd label.
func (j *Journal) Append(e *Entry) error {
	if e == nil {
		return errors.New("journal: append: nil entry")
	}
	rec := stored(e, j.epoch, j.gateID, j.opts.Clock.Now())
	err := j.update(func(tx *bolt.Tx) error {
		entries := tx.Bucket(bEntries)
		entries.FillPercent = appendFill
		seq, err := entries.NextSequence()
		if err != nil {
			return err
		}
		rec.Seq = seq
		v, err := json.Marshal(&rec)
		if err != nil {
			return fmt.Errorf("encode entry: %w", err)
		}
		return entries.Put(u64(seq), v)
	})
	if err != nil {
		return j.wrap("append", err)
	}
	e.V, e.Seq, e.Epoch, e.GateID, e.Time = rec.V, rec.Seq, rec.Epoch, rec.GateID, rec.Time
	return nil
}

// Pending returns up to limit unacknowledged entries with seq > after, in seq
// order: the sync layer's outbox.
func (j *Journal) Pending(after uint64, limit int) ([]Entry, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("journal: pending: limit %d must be > 0", limit)
	}
	if after == math.MaxUint64 {
		return nil, nil
	}
	var out []Entry
	err := j.view(func(tx *bolt.Tx) error {
		acked := tx.Bucket(bAcked)
		from := max(after, getU64(tx.Bucket(bMeta), mAckedThrough)) + 1
		c := tx.Bucket(bEntries).Cursor()
		for k, v := c.Seek(u64(from)); k != nil && len(out) < limit; k, v = c.Next() {
			if acked.Get(k) != nil {
				continue
			}
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode entry %d: %w", seqOf(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, j.wrap("pending", err)
	}
	return out, nil
}

// RawEntry is a stored entry as it is in the file: its JSON is exactly the
// Entry's wire form, so the sync layer sends it without decoding it.
type RawEntry struct {
	Seq  uint64
	JSON []byte
}

// PendingRaw is Pending without the decoding: up to limit unacknowledged
// entries with seq > after, in seq order, as stored.
func (j *Journal) PendingRaw(after uint64, limit int) ([]RawEntry, error) {
	var out []RawEntry
	err := j.ViewPending(after, limit, func(es []RawEntry) error {
		n := 0
		for _, e := range es {
			n += len(e.JSON)
		}
		buf := make([]byte, 0, n) // one allocation for all the records
		out = make([]RawEntry, len(es))
		for i, e := range es {
			buf = append(buf, e.JSON...)
			out[i] = RawEntry{Seq: e.Seq, JSON: buf[len(buf)-len(e.JSON) : len(buf) : len(buf)]}
		}
		return nil
	})
	return out, err
}

// rawBufs are ViewPending's slices, used again: a drain reads one a batch.
var rawBufs = sync.Pool{New: func() any { return new([]RawEntry) }}

// ViewPending calls fn once with up to limit unacknowledged entries with
// seq > after, in seq order, inside a read transaction: their JSON is the
// file's own memory, valid only until fn returns and never to be modified. The
// sync layer builds its message from it with no copy in between.
func (j *Journal) ViewPending(after uint64, limit int, fn func([]RawEntry) error) error {
	if limit <= 0 {
		return fmt.Errorf("journal: pending: limit %d must be > 0", limit)
	}
	if after == math.MaxUint64 {
		return fn(nil)
	}
	err := j.view(func(tx *bolt.Tx) error {
		from := max(after, getU64(tx.Bucket(bMeta), mAckedThrough)) + 1
		c := tx.Bucket(bEntries).Cursor()
		// The acked bucket (acks ahead of a gap, usually none) is walked
		// alongside rather than searched for every entry.
		ac := tx.Bucket(bAcked).Cursor()
		ak, _ := ac.Seek(u64(from))
		bp := rawBufs.Get().(*[]RawEntry)
		defer func() {
			clear(*bp) // no references into the file once the transaction ends
			*bp = (*bp)[:0]
			rawBufs.Put(bp)
		}()
		out := (*bp)[:0]
		for k, v := c.Seek(u64(from)); k != nil && len(out) < limit; k, v = c.Next() {
			for ak != nil && bytes.Compare(ak, k) < 0 {
				ak, _ = ac.Next()
			}
			if ak != nil && bytes.Equal(ak, k) {
				continue
			}
			// Only the framing is checked (a zeroed or cut-off record): a full
			// JSON scan here would cost more than sending the entry, and the
			// server decodes every entry anyway.
			if len(v) < 2 || v[0] != '{' || v[len(v)-1] != '}' {
				return fmt.Errorf("entry %d is not a JSON object (%d bytes): %w", seqOf(k), len(v), ErrCorrupt)
			}
			out = append(out, RawEntry{Seq: seqOf(k), JSON: v})
		}
		*bp = out
		return fn(out)
	})
	return j.wrap("pending", err)
}

// Ack marks seqs as received by the server and returns how many were newly
// acknowledged. It is idempotent: acknowledging twice is not an error. An
// epoch other than Epoch() is refused with ErrEpoch (the server is talking
// about another file), a seq never assigned with ErrUnknownSeq; in both cases
// nothing is changed.
func (j *Journal) Ack(epoch string, seqs ...uint64) (int, error) {
	if epoch != j.epoch {
		return 0, fmt.Errorf("journal: ack %s: epoch %q, this file is %q: %w", j.path, epoch, j.epoch, ErrEpoch)
	}
	n := 0
	err := j.update(func(tx *bolt.Tx) error {
		last := tx.Bucket(bEntries).Sequence()
		for _, s := range seqs {
			if s == 0 || s > last {
				return fmt.Errorf("ack seq %d (last assigned %d): %w", s, last, ErrUnknownSeq)
			}
		}
		meta, acked := tx.Bucket(bMeta), tx.Bucket(bAcked)
		through := getU64(meta, mAckedThrough)
		stamp := u64(uint64(j.opts.Clock.Now().UnixNano()))
		// In seq order, an ack that follows on from the cursor moves it (and
		// takes along any out-of-order acks it reaches) without touching the
		// acked bucket, which holds only acks that arrived ahead of a gap: under a
		// backlog the acks come in order, and each costs no page write.
		// The link's acks come sorted (a drain's in seq order): sorting
		// a drain's 10,000 seqs again was most of a commit's time.
		sorted := seqs
		if !slices.IsSorted(seqs) {
			sorted = slices.Sorted(slices.Values(seqs))
		}
		// ahead is the lowest out-of-order ack still in the bucket (0: none);
		// the bucket is only searched for acks that are not the next in line.
		ac := acked.Cursor()
		ahead := func() uint64 {
			if k, _ := ac.First(); k != nil {
				return seqOf(k)
			}
			return 0
		}
		next := ahead()
		for i, s := range sorted {
			switch {
			case i > 0 && s == sorted[i-1]: // named twice
			case s <= through:
			case s == through+1:
				if s == next { // a file from before the cursor folded on every ack
					if err := acked.Delete(u64(s)); err != nil {
						return err
					}
					next = ahead()
				} else {
					n++
				}
				through++
				for next == through+1 {
					if err := acked.Delete(u64(next)); err != nil {
						return err
					}
					through++
					next = ahead()
				}
			default:
				if k := u64(s); acked.Get(k) == nil {
					if err := acked.Put(k, stamp); err != nil {
						return err
					}
					n++
					if next == 0 || s < next {
						next = s
					}
				}
			}
		}
		if n == 0 {
			return nil
		}
		return meta.Put(mAckedThrough, u64(through))
	})
	if err != nil {
		return 0, j.wrap("ack", err)
	}
	return n, nil
}

// Backlog is the number of entries not yet acknowledged.
func (j *Journal) Backlog() (int, error) {
	var n int
	err := j.view(func(tx *bolt.Tx) error {
		last, through := tx.Bucket(bEntries).Sequence(), getU64(tx.Bucket(bMeta), mAckedThrough)
		n = int(last-through) - tx.Bucket(bAcked).Stats().KeyN
		return nil
	})
	return n, j.wrap("backlog", err)
}

const (
	// purgeScan bounds the entries one Purge read transaction examines: a
	// long read transaction would hold off an Append that must remap the
	// file to grow it.
	purgeScan = 2048
	// purgeBatch bounds the deletions of one Purge write transaction, so an
	// Append never waits long behind it and a purge on a nearly full file
	// needs few new pages.
	purgeBatch = 256
)

// Purge deletes acknowledged entries whose Time is older than Opts.Retention
// before now, and revocations whose until is a day (revocationGrace) before
// now. Unacknowledged entries are kept whatever their age. It finds old
// entries in short read transactions and deletes them in write transactions
// of at most purgeBatch, so the gate's Appends interleave with a long purge.
// It returns the number of entries deleted, also when it fails part way.
func (j *Journal) Purge(now time.Time) (int, error) {
	cutoff := now.Add(-j.opts.Retention)
	total := 0
	for next := u64(1); next != nil; {
		var old [][]byte
		err := j.view(func(tx *bolt.Tx) error {
			through, acked := getU64(tx.Bucket(bMeta), mAckedThrough), tx.Bucket(bAcked)
			c := tx.Bucket(bEntries).Cursor()
			k, v := c.Seek(next)
			for n := 0; k != nil && n < purgeScan; k, v = c.Next() {
				n++
				if seqOf(k) > through && acked.Get(k) == nil {
					continue
				}
				t, err := entryTime(v)
				if err != nil {
					return fmt.Errorf("decode entry %d: %w", seqOf(k), err)
				}
				if t.Before(cutoff) {
					old = append(old, bytes.Clone(k))
				}
			}
			next = bytes.Clone(k)
			return nil
		})
		if err != nil {
			return total, j.wrap("purge", err)
		}
		for len(old) > 0 {
			batch := old[:min(len(old), purgeBatch)]
			old = old[len(batch):]
			n, err := j.deleteAcked(batch)
			total += n
			if err != nil {
				return total, j.wrap("purge", err)
			}
		}
	}
	var revs [][]byte
	err := j.view(func(tx *bolt.Tx) error {
		revs = expiredRevocations(tx, now)
		return nil
	})
	if err == nil && len(revs) > 0 { // no empty write: every commit costs an fsync
		err = j.update(func(tx *bolt.Tx) error {
			for _, k := range revs {
				if err := tx.Bucket(bRevocations).Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return total, j.wrap("purge revocations", err)
	}
	if total > 0 || len(revs) > 0 {
		j.log.Info("journal purged", "entries", total, "revocations", len(revs), "before", cutoff)
	}
	return total, nil
}

// deleteAcked deletes the entries keys, checking again under the write lock
// that each is still acknowledged: deleting an unacknowledged entry is the one
// thing Purge must never do.
func (j *Journal) deleteAcked(keys [][]byte) (int, error) {
	n := 0
	err := j.update(func(tx *bolt.Tx) error {
		entries, acked := tx.Bucket(bEntries), tx.Bucket(bAcked)
		through := getU64(tx.Bucket(bMeta), mAckedThrough)
		for _, k := range keys {
			if (seqOf(k) > through && acked.Get(k) == nil) || entries.Get(k) == nil {
				continue
			}
			// Its acked record stays: Backlog counts every seq above the cursor
			// that has none.
			if err := entries.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// timeKey is how the stored JSON starts the entry's time. Inside a JSON string
// every quote is escaped, so this byte sequence only occurs as a key, and the
// only "time" key is the entry's own (readings use "at").
var timeKey = []byte(`"time":"`)

// entryTime reads an entry's Time without decoding the whole record: Purge
// looks at every acknowledged entry each time it runs, on a small ARM board.
func entryTime(v []byte) (time.Time, error) {
	var t time.Time
	if i := bytes.Index(v, timeKey); i >= 0 {
		rest := v[i+len(timeKey):]
		if n := bytes.IndexByte(rest, '"'); n >= 0 && t.UnmarshalText(rest[:n]) == nil {
			return t, nil
		}
	}
	var e struct {
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return t, err
	}
	return e.Time, nil
}

// Entries calls fn for every entry with from <= Time < to, in seq order (a
// zero from or to is unbounded). Entries are read in small batches and fn is
// called outside any transaction, so fn may be slow or even Append.
func (j *Journal) Entries(from, to time.Time, fn func(Entry) error) error {
	next := u64(1)
	for next != nil {
		var batch []Entry
		err := j.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bEntries).Cursor()
			k, v := c.Seek(next)
			for ; k != nil && len(batch) < 256; k, v = c.Next() {
				var e Entry
				if err := json.Unmarshal(v, &e); err != nil {
					return fmt.Errorf("decode entry %d: %w", seqOf(k), err)
				}
				if (from.IsZero() || !e.Time.Before(from)) && (to.IsZero() || e.Time.Before(to)) {
					batch = append(batch, e)
				}
			}
			next = bytes.Clone(k)
			return nil
		})
		if err != nil {
			return j.wrap("entries", err)
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// Last returns the n newest entries, newest first (the guard console).
func (j *Journal) Last(n int) ([]Entry, error) {
	if n <= 0 {
		return nil, nil
	}
	out := make([]Entry, 0, min(n, 64))
	err := j.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEntries).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode entry %d: %w", seqOf(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, j.wrap("last", err)
	}
	return out, nil
}
