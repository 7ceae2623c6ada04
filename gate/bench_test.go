package gate

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"campusgate/gate/pass"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkScanToDecision is the software path of one admission: code in,
// pass verified, roster looked up, one reading, entry fsync'd, decision out.
// The baseline is a plain fsync'd bbolt Put of a record of the same size, with
// bbolt's default options.
//
// ours cycles through passes the gate has seen before, as on every school day
// after the first (the verified-pass cache skips Ed25519); first_sight shows
// each pass for the first time.
//
// On a VM, fsync time drifts by tens of percent from one second to the next
// and depends on whether the CPU idled just before (a plain Put after a 100 µs
// sleep costs three times one made back to back), so compare figures from the
// same run, and run it more than once.
func BenchmarkScanToDecision(b *testing.B) {
	cfg := testConfig()
	cfg.Temperature.StableReadings = 1
	cfg.Temperature.ReadInterval = Duration{time.Nanosecond}
	cfg.Identity.DuplicateWindow = Duration{0}
	size := 0
	admit := func(r *rig, code string) {
		r.scan.c <- code
		if ev := r.waitFor(StateAdmitted, StateDenied, StateFault); ev.State != StateAdmitted {
			b.Fatalf("not admitted: %+v", ev)
		}
		r.waitFor(StateReady)
	}
	setup := func(b *testing.B, n int) (*rig, []string) {
		r := newRig(b, cfg, nil)
		r.therm.set(36.2, 24, nil)
		codes := make([]string, n)
		for i := range codes {
			codes[i] = r.passFor("p1", pass.RolePupil, pass.HealthGreen, time.Now())
		}
		return r, codes
	}
	recordSize := func(r *rig) {
		raw, _ := json.Marshal(r.lastEntry())
		size = max(size, len(raw))
	}
	b.Run("ours", func(b *testing.B) {
		r, codes := setup(b, 64)
		for _, c := range codes {
			admit(r, c) // the gate has seen each pass once
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			admit(r, codes[i%len(codes)])
			i++
		}
		recordSize(r)
	})
	b.Run("first_sight", func(b *testing.B) {
		r, codes := setup(b, b.N) // issued before the clock starts
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			admit(r, codes[i])
		}
		b.StopTimer()
		recordSize(r)
	})
	b.Run("baseline", func(b *testing.B) {
		put := plainPut(b, max(size, 400))
		b.ReportAllocs()
		for b.Loop() {
			put()
		}
	})
}

// plainPut returns a function that makes one fsync'd bbolt commit of one
// value of size bytes under a new key.
func plainPut(b *testing.B, size int) func() {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "plain.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("e")); return err }); err != nil {
		b.Fatal(err)
	}
	val := make([]byte, size)
	var i uint64
	return func() {
		i++
		err := db.Update(func(tx *bolt.Tx) error {
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], i)
			return tx.Bucket([]byte("e")).Put(k[:], val)
		})
		if err != nil {
			b.Fatal(fmt.Errorf("baseline put: %w", err))
		}
	}
}
