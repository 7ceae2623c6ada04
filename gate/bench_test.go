package gate

import (
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"campusgate/gate/pass"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkScanToDecision is the software path of one admission: code in,
// pass verified, roster looked up, one reading, entry fsync'd, decision out.
// The baseline is a plain fsync'd bbolt Put of a record of the same size.
func BenchmarkScanToDecision(b *testing.B) {
	cfg := testConfig()
	cfg.Temperature.StableReadings = 1
	cfg.Temperature.ReadInterval = Duration{time.Nanosecond}
	cfg.Identity.DuplicateWindow = Duration{0}
	var size int
	b.Run("ours", func(b *testing.B) {
		r := newRig(b, cfg, nil)
		code := r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now())
		r.therm.set(36.2, 24, nil)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			r.scan.c <- code
			r.waitFor(StateAdmitted, StateDenied, StateFault)
			r.waitFor(StateReady)
		}
		b.StopTimer()
		e := r.lastEntry()
		raw, _ := json.Marshal(e)
		size = len(raw)
	})
	b.Run("baseline", func(b *testing.B) {
		db, err := bolt.Open(filepath.Join(b.TempDir(), "plain.db"), 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		val := make([]byte, max(size, 400))
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			err := db.Update(func(tx *bolt.Tx) error {
				bk, err := tx.CreateBucketIfNotExists([]byte("e"))
				if err != nil {
					return err
				}
				var k [8]byte
				binary.BigEndian.PutUint64(k[:], uint64(i))
				return bk.Put(k[:], val)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
