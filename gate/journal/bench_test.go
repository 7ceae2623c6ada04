package journal

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func BenchmarkAppend(b *testing.B) {
	at := time.Now()
	e := sampleEntry(at)
	b.Run("ours", func(b *testing.B) {
		j := MustOpen(b, nil)
		b.ReportAllocs()
		for b.Loop() {
			e.Seq = 0
			if err := j.Append(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		// The same entry as stored, so the value has the same byte size.
		e.V, e.Seq, e.GateID, e.Epoch = SchemaVersion, 1, "north-1", "0123456789abcdef0123456789abcdef"
		val, err := json.Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		db, err := bolt.Open(filepath.Join(b.TempDir(), "baseline.db"), 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bEntries); return err })
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
