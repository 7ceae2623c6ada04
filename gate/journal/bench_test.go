package journal

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// freshFile names a new file in dir: -count repeats a sub-benchmark under the
// same parent, and both must start from an empty file every time.
func freshFile(b *testing.B, dir, name string) string {
	d, err := os.MkdirTemp(dir, name+"-")
	if err != nil {
		b.Fatal(err)
	}
	return filepath.Join(d, name+".db")
}

// BenchmarkAppend compares Append (seq, JSON, entry + outbox key, one fsync'd
// commit) with the least bbolt can do for the same durability: one Put of a
// value of the stored entry's size in one fsync'd commit, to a file with the
// same bbolt options in the same directory.
func BenchmarkAppend(b *testing.B) {
	dir := b.TempDir()
	e := sampleEntry(time.Now())
	b.Run("ours", func(b *testing.B) {
		j := MustOpenAt(b, freshFile(b, dir, "ours"), &Opts{GateID: "north-1"})
		b.ReportAllocs()
		for b.Loop() {
			e.Seq = 0
			if err := j.Append(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		rec := stored(e, "0123456789abcdef0123456789abcdef", "north-1", time.Now())
		rec.Seq = 1000 // as many digits as ours reaches in a typical run
		val, err := json.Marshal(&rec)
		if err != nil {
			b.Fatal(err)
		}
		o, err := (&Opts{}).withDefaults()
		if err != nil {
			b.Fatal(err)
		}
		db, err := bolt.Open(freshFile(b, dir, "baseline"), 0o600, boltOptions(&o))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bEntries); return err }); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		var i uint64
		for b.Loop() {
			i++
			if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bEntries).Put(u64(i), val) }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
