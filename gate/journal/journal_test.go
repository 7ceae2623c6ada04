package journal

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2025, 9, 1, 7, 30, 0, 0, time.FixedZone("CST", 8*3600))

func TestAppendReopenEpochStable(t *testing.T) {
	clk := clockwork.NewFakeClockAt(t0)
	j := MustOpen(t, &Opts{GateID: "north-1", Clock: clk})
	epoch := j.Epoch()
	if len(epoch) != 32 {
		t.Fatalf("epoch %q: want 32 hex chars", epoch)
	}
	e := sampleEntry(t0)
	if seq := mustAppend(t, j, e); seq != 1 || e.Epoch != epoch || e.GateID != "north-1" || e.V != SchemaVersion {
		t.Fatalf("appended %+v", e)
	}
	if e.Readings[0].BodyC != 37.456 {
		t.Fatal("Append rounded the caller's readings in place")
	}
	mustAppend(t, j, &Entry{Decision: "deny", Reason: "fever", BodyC: 38.123, Kind: "entry"}) // zero Time: clock
	j = Reopen(t, j)
	if j.Epoch() != epoch {
		t.Fatalf("epoch changed across reopen: %s -> %s", epoch, j.Epoch())
	}
	if seq := mustAppend(t, j, sampleEntry(t0.Add(time.Minute))); seq != 3 {
		t.Fatalf("seq after reopen = %d, want 3", seq)
	}
	last, err := j.Last(5)
	if err != nil || len(last) != 3 {
		t.Fatalf("last: %v %v", last, err)
	}
	if last[0].Seq != 3 || last[1].Seq != 2 || last[2].Seq != 1 {
		t.Fatalf("last not newest first: %d %d %d", last[0].Seq, last[1].Seq, last[2].Seq)
	}
	if last[1].BodyC != 38.12 || !last[1].Time.Equal(t0) {
		t.Errorf("entry 2: body %v time %v", last[1].BodyC, last[1].Time)
	}
	first := last[2]
	if first.Readings[0].BodyC != 37.46 || first.Readings[0].AmbientC != 24 || first.Guard.Reason != "复测正常 retest ok" || first.Epoch != epoch {
		t.Errorf("entry 1 as stored: %+v", first)
	}
	m, err := j.Meta()
	if err != nil {
		t.Fatal(err)
	}
	if m.Epoch != epoch || m.GateID != "north-1" || !m.Created.Equal(t0) || m.Schema != SchemaVersion || m.LastSeq != 3 {
		t.Errorf("meta %+v", m)
	}
	// Opening with nil options uses the stored gate id.
	path := j.Path()
	j.Close()
	j2 := MustOpenAt(t, path, nil)
	if j2.Epoch() != epoch || mustAppend(t, j2, sampleEntry(t0)) != 4 {
		t.Fatal("nil-opts reopen")
	}
}

func TestStoredJSONFieldNames(t *testing.T) {
	j := MustOpen(t, nil)
	mustAppend(t, j, sampleEntry(t0))
	var buf bytes.Buffer
	if err := j.Export(&buf, "jsonl", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "gate_id", "epoch", "seq", "time", "clock_synced", "mono_ns", "person_id", "role",
		"credential", "assurance", "health", "readings", "body_c", "decision", "reason", "guard", "kind"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %q missing from %s", k, buf.Bytes())
		}
	}
	r := m["readings"].([]any)[0].(map[string]any)
	for _, k := range []string{"surface_c", "body_c", "ambient_c", "sensor", "at"} {
		if _, ok := r[k]; !ok {
			t.Errorf("reading field %q missing", k)
		}
	}
}

func TestOpenValidation(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "j.db")
	for _, o := range []*Opts{
		{GateID: "g", Timeout: -1},
		{GateID: "g", MaxSize: 4096},
		{GateID: "g", MaxSize: -1},
		{GateID: "g", Retention: -time.Hour},
		{GateID: "a/b"},
		{GateID: "has space"},
		{}, // new file without a gate id
	} {
		if j, err := Open(p, o); err == nil {
			j.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("invalid options %+v touched the file", o)
		}
	}
	j := MustOpenAt(t, p, &Opts{GateID: "north-1"})
	j.Close()
	if _, err := Open(p, &Opts{GateID: "south-2"}); !errors.Is(err, ErrGateMismatch) {
		t.Fatalf("other gate id: %v", err)
	}
}

func TestSecondOpenLocked(t *testing.T) {
	j := MustOpen(t, nil)
	start := time.Now()
	_, err := Open(j.Path(), &Opts{GateID: "north-1"})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), j.Path()) {
		t.Fatalf("second open: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("second open took %v", d)
	}
	// The first one still works, and after Close the file opens again.
	mustAppend(t, j, sampleEntry(t0))
	Reopen(t, j)
}

// TestAckModel acks random sets in random order and checks the journal
// against a plain set after each: the counts, the backlog and what is pending.
func TestAckModel(t *testing.T) {
	j := MustOpen(t, nil)
	const n = 300
	for i := range n {
		mustAppend(t, j, sampleEntry(t0.Add(time.Duration(i)*time.Second)))
	}
	r := rand.New(rand.NewPCG(1, 2))
	acked := map[uint64]bool{}
	for round := 0; len(acked) < n; round++ {
		var seqs []uint64
		for range 1 + r.IntN(40) {
			// Mostly the next ones in order, as under a backlog; sometimes anywhere.
			s := uint64(len(acked) + 1 + r.IntN(8))
			if r.IntN(4) == 0 {
				s = uint64(1 + r.IntN(n))
			}
			seqs = append(seqs, min(s, n))
		}
		fresh := map[uint64]bool{}
		for _, s := range seqs {
			if !acked[s] {
				fresh[s] = true
			}
		}
		got, err := j.Ack(j.Epoch(), seqs...)
		if err != nil || got != len(fresh) {
			t.Fatalf("round %d: ack %v = %d, %v; want %d new", round, seqs, got, err, len(fresh))
		}
		for s := range fresh {
			acked[s] = true
		}
		if b, _ := j.Backlog(); b != n-len(acked) {
			t.Fatalf("round %d: backlog %d, want %d", round, b, n-len(acked))
		}
		p, _ := j.PendingRaw(0, n)
		for _, e := range p {
			if acked[e.Seq] {
				t.Fatalf("round %d: seq %d pending after its ack", round, e.Seq)
			}
		}
		if len(p) != n-len(acked) {
			t.Fatalf("round %d: %d pending, want %d", round, len(p), n-len(acked))
		}
	}
	if m, _ := j.Meta(); m.AckedThrough != n {
		t.Fatalf("acked through %d", m.AckedThrough)
	}
}

func TestPendingAck(t *testing.T) {
	j := MustOpen(t, nil)
	for i := range 10 {
		mustAppend(t, j, sampleEntry(t0.Add(time.Duration(i)*time.Second)))
	}
	seqs := func(es []Entry) (s []uint64) {
		for _, e := range es {
			s = append(s, e.Seq)
		}
		return s
	}
	p, err := j.Pending(0, 3)
	if err != nil || !equal(seqs(p), 1, 2, 3) {
		t.Fatalf("pending(0,3) = %v %v", seqs(p), err)
	}
	p, _ = j.Pending(3, 100)
	if !equal(seqs(p), 4, 5, 6, 7, 8, 9, 10) {
		t.Fatalf("pending(3,100) = %v", seqs(p))
	}
	if n, err := j.Ack(j.Epoch(), 9, 2, 5, 2); err != nil || n != 3 {
		t.Fatalf("ack out of order: %d %v", n, err)
	}
	if n, err := j.Ack(j.Epoch(), 5); err != nil || n != 0 {
		t.Fatalf("ack again: %d %v", n, err)
	}
	if n, err := j.Ack("0123456789abcdef0123456789abcdef", 1); !errors.Is(err, ErrEpoch) || n != 0 {
		t.Fatalf("wrong epoch: %d %v", n, err)
	}
	if _, err := j.Ack(j.Epoch(), 1, 11); !errors.Is(err, ErrUnknownSeq) {
		t.Fatalf("unknown seq: %v", err)
	}
	if n, _ := j.Backlog(); n != 7 {
		t.Fatalf("backlog %d, want 7 (a refused ack must change nothing)", n)
	}
	p, _ = j.Pending(0, 100)
	if !equal(seqs(p), 1, 3, 4, 6, 7, 8, 10) {
		t.Fatalf("pending after ack = %v", seqs(p))
	}
	if m, _ := j.Meta(); m.AckedThrough != 0 {
		t.Fatalf("acked through %d, want 0", m.AckedThrough)
	}
	j.Ack(j.Epoch(), 1, 3, 4)
	if m, _ := j.Meta(); m.AckedThrough != 5 {
		t.Fatalf("acked through %d, want 5", m.AckedThrough)
	}
	j = Reopen(t, j)
	if n, err := j.Ack(j.Epoch(), 6, 7, 8, 10); n != 4 || err != nil {
		t.Fatalf("ack rest: %d %v", n, err)
	}
	if m, _ := j.Meta(); m.AckedThrough != 10 {
		t.Fatalf("acked through %d, want 10", m.AckedThrough)
	}
	if p, _ := j.Pending(0, 100); len(p) != 0 {
		t.Fatalf("pending after all acked: %v", seqs(p))
	}
	if _, err := j.Pending(0, 0); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

func equal(got []uint64, want ...uint64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestPurgeKeepsUnacked(t *testing.T) {
	j := MustOpen(t, &Opts{Retention: 28 * 24 * time.Hour})
	now := t0.Add(60 * 24 * time.Hour)
	old := now.Add(-40 * 24 * time.Hour)
	const nOld = 2*purgeBatch + 37 // several batches
	for i := range nOld {
		mustAppend(t, j, sampleEntry(old.Add(time.Duration(i)*time.Second)))
	}
	for i := range 5 {
		mustAppend(t, j, sampleEntry(now.Add(-time.Duration(i)*time.Hour)))
	}
	var ack []uint64
	for s := uint64(1); s <= nOld+5; s++ {
		if s%100 != 0 { // seqs 100, 200, ... stay unacknowledged
			ack = append(ack, s)
		}
	}
	if _, err := j.Ack(j.Epoch(), ack...); err != nil {
		t.Fatal(err)
	}
	j.Revoke("expired-pass", now.Add(-revocationGrace-time.Hour))
	j.Revoke("skew-pass", now.Add(-time.Hour)) // expired, but within the grace
	j.Revoke("live-pass", now.Add(time.Hour))
	j.Revoke("forever-pass", time.Time{})
	n, err := j.Purge(now)
	if err != nil {
		t.Fatal(err)
	}
	if want := nOld - nOld/100; n != want {
		t.Fatalf("purged %d, want %d", n, want)
	}
	var left []uint64
	j.Entries(time.Time{}, time.Time{}, func(e Entry) error { left = append(left, e.Seq); return nil })
	want := []uint64{100, 200, 300, 400, 500}
	for s := uint64(nOld + 1); s <= nOld+5; s++ {
		want = append(want, s)
	}
	if !equal(left, want...) {
		t.Fatalf("left after purge: %v", left)
	}
	if n, _ := j.Purge(now); n != 0 {
		t.Fatalf("second purge deleted %d", n)
	}
	revs, _ := j.Revocations()
	if _, ok := revs["expired-pass"]; ok || len(revs) != 3 || !revs["forever-pass"].IsZero() {
		t.Fatalf("revocations after purge: %v", revs)
	}
	if b, _ := j.Backlog(); b != 5 {
		t.Fatalf("backlog after purge %d, want 5 (seqs 100..500)", b)
	}
	// seqs keep counting after a purge.
	if s := mustAppend(t, j, sampleEntry(now)); s != nOld+6 {
		t.Fatalf("seq after purge %d", s)
	}
	if _, err := j.Ack(j.Epoch(), 100, 200, 300, 400, 500, nOld+6); err != nil {
		t.Fatal(err)
	}
	if m, _ := j.Meta(); m.AckedThrough != nOld+6 {
		t.Fatalf("acked through %d after the gaps were acknowledged, want %d", m.AckedThrough, nOld+6)
	}
	if b, _ := j.Backlog(); b != 0 {
		t.Fatalf("backlog %d, want 0", b)
	}
}

// TestMigrateOutbox opens a file in the pre-release layout (an outbox bucket
// of unacknowledged seqs) and finds the same entries pending.
func TestMigrateOutbox(t *testing.T) {
	j := MustOpen(t, nil)
	for i := range 6 {
		mustAppend(t, j, sampleEntry(t0.Add(time.Duration(i)*time.Second)))
	}
	path, epoch := j.Path(), j.Epoch()
	j.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		// Entries 1, 2 and 4 acknowledged and 1 already purged; 3, 5, 6 pending.
		if err := tx.Bucket(bEntries).Delete(u64(1)); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bAcked); err != nil {
			return err
		}
		ob, err := tx.CreateBucket(bOldOutbox)
		if err != nil {
			return err
		}
		for _, s := range []uint64{3, 5, 6} {
			if err := ob.Put(u64(s), u64(1)); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(mAckedThrough, u64(0))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	j = MustOpenAt(t, path, nil)
	if j.Epoch() != epoch {
		t.Fatal("epoch changed")
	}
	var got []uint64
	p, _ := j.Pending(0, 10)
	for _, e := range p {
		got = append(got, e.Seq)
	}
	if !equal(got, 3, 5, 6) {
		t.Fatalf("pending after migration %v, want [3 5 6]", got)
	}
	if b, _ := j.Backlog(); b != 3 {
		t.Fatalf("backlog %d, want 3", b)
	}
	if m, _ := j.Meta(); m.AckedThrough != 2 {
		t.Fatalf("acked through %d, want 2", m.AckedThrough)
	}
	if _, err := j.Ack(epoch, 3); err != nil {
		t.Fatal(err)
	}
	if m, _ := j.Meta(); m.AckedThrough != 4 {
		t.Fatalf("acked through %d after acking 3, want 4", m.AckedThrough)
	}
}

func TestEntriesRange(t *testing.T) {
	j := MustOpen(t, nil)
	for i := range 600 { // more than one read batch
		mustAppend(t, j, sampleEntry(t0.Add(time.Duration(i)*time.Minute)))
	}
	var got []uint64
	err := j.Entries(t0.Add(100*time.Minute), t0.Add(400*time.Minute), func(e Entry) error {
		got = append(got, e.Seq)
		return nil
	})
	if err != nil || len(got) != 300 || got[0] != 101 || got[299] != 400 {
		t.Fatalf("entries: %d %v", len(got), err)
	}
	stop := errors.New("stop")
	calls := 0
	err = j.Entries(time.Time{}, time.Time{}, func(Entry) error {
		calls++
		if calls == 2 {
			return stop
		}
		// fn runs outside any transaction, so it may write.
		return j.Append(sampleEntry(t0))
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("stop: %v after %d calls", err, calls)
	}
}

func TestFullFailsSafe(t *testing.T) {
	j := MustOpen(t, &Opts{MaxSize: 256 << 10})
	var err error
	n := 0
	for ; n < 100000; n++ {
		e := sampleEntry(t0.Add(time.Duration(n) * time.Second))
		e.Guard.Reason = strings.Repeat("备注", 100)
		if err = j.Append(e); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), j.Path()) {
		t.Fatalf("after %d appends: %v, want ErrFull naming the file", n, err)
	}
	t.Logf("%d entries fit in 256 KiB: %v", n, err)
	// Still readable and consistent.
	if last, err := j.Last(1); err != nil || last[0].Seq != uint64(n) {
		t.Fatalf("last after full: %v %v", last, err)
	}
	if err := j.Check(); err != nil {
		t.Fatal(err)
	}
	if b, _ := j.Backlog(); b != n {
		t.Fatalf("backlog %d, want %d", b, n)
	}
	// The server acknowledges, old entries are purged: room again.
	var all []uint64
	for s := 1; s <= n; s++ {
		all = append(all, uint64(s))
	}
	if _, err := j.Ack(j.Epoch(), all...); err != nil {
		t.Fatalf("ack when full: %v", err)
	}
	if p, err := j.Purge(t0.Add(400 * 24 * time.Hour)); err != nil || p != n {
		t.Fatalf("purge when full: %d %v", p, err)
	}
	for i := range 10 {
		if err := j.Append(sampleEntry(t0)); err != nil {
			t.Fatalf("append %d after purge: %v", i, err)
		}
	}
}

func TestRoster(t *testing.T) {
	j := MustOpen(t, nil)
	if v, _ := j.RosterVersion(); v != 0 {
		t.Fatalf("empty roster version %d", v)
	}
	people := []Person{
		{ID: "p1", Name: "王小明", Role: "pupil", Grade: "1", Class: "1-2", CardID: "ab01", Health: "green", HealthDate: "2025-09-01"},
		{ID: "t1", Name: "陈老师", Role: "staff", CardID: "CD02"},
		{ID: "v1", Name: "访客", Role: "visitor"},
	}
	if err := j.ReplaceRoster(5, people); err != nil {
		t.Fatal(err)
	}
	if p, ok, err := j.PersonByCard(" AB01 "); err != nil || !ok || p.Name != "王小明" || p.HealthDate != "2025-09-01" {
		t.Fatalf("by card: %+v %v %v", p, ok, err)
	}
	if _, ok, _ := j.Person("nobody"); ok {
		t.Fatal("unknown person found")
	}
	// A duplicate card is refused and the old roster stays.
	bad := []Person{{ID: "x", CardID: "C1"}, {ID: "y", CardID: "c1"}}
	if err := j.ReplaceRoster(6, bad); err == nil {
		t.Fatal("duplicate card accepted")
	}
	if err := j.ReplaceRoster(6, []Person{{ID: "x"}, {ID: "x"}}); err == nil {
		t.Fatal("duplicate id accepted")
	}
	if err := j.ReplaceRoster(6, []Person{{ID: "x", HealthDate: "1.9.2025"}}); err == nil {
		t.Fatal("bad health date accepted")
	}
	if _, ok, _ := j.Person("p1"); !ok {
		t.Fatal("failed replace lost the roster")
	}
	if err := j.ReplaceRoster(4, people); !errors.Is(err, ErrVersion) {
		t.Fatalf("older snapshot: %v", err)
	}
	if err := j.ApplyRosterDelta(4, 6, nil, nil); !errors.Is(err, ErrVersion) {
		t.Fatalf("wrong from: %v", err)
	}
	if err := j.ApplyRosterDelta(5, 5, nil, nil); !errors.Is(err, ErrVersion) {
		t.Fatalf("non-advancing delta: %v", err)
	}
	// p1 gets a new card, t1 leaves, s9 arrives.
	err := j.ApplyRosterDelta(5, 6,
		[]Person{{ID: "p1", Name: "王小明", Role: "pupil", CardID: "EF03"}, {ID: "s9", Name: "新同学", Role: "pupil", CardID: "AB01"}},
		[]string{"t1", "ghost"})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok, _ := j.PersonByCard("ab01"); !ok || p.ID != "s9" {
		t.Fatalf("card AB01 now %+v %v", p, ok)
	}
	if p, ok, _ := j.PersonByCard("ef03"); !ok || p.ID != "p1" {
		t.Fatalf("card EF03 %+v", p)
	}
	if _, ok, _ := j.PersonByCard("CD02"); ok {
		t.Fatal("removed person's card still matches")
	}
	if _, ok, _ := j.Person("t1"); ok {
		t.Fatal("removed person still there")
	}
	// A delta that collides is refused as a whole.
	if err := j.ApplyRosterDelta(6, 7, []Person{{ID: "v1", CardID: "EF03"}}, []string{"s9"}); err == nil {
		t.Fatal("colliding delta accepted")
	}
	if _, ok, _ := j.Person("s9"); !ok {
		t.Fatal("refused delta was partly applied")
	}
	j = Reopen(t, j)
	if v, _ := j.RosterVersion(); v != 6 {
		t.Fatalf("version after reopen %d", v)
	}
}

func TestTrustAndConfig(t *testing.T) {
	j := MustOpen(t, nil)
	until := t0.Add(48 * time.Hour)
	if err := j.Revoke("pass-1", until); err != nil {
		t.Fatal(err)
	}
	if err := j.Revoke("", until); err == nil {
		t.Fatal("empty pass id accepted")
	}
	if err := j.PutKey("kid1", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := j.PutConfig(3, []byte(`gate_id = "north-1"`)); err != nil {
		t.Fatal(err)
	}
	if err := j.PutConfig(2, []byte("x")); !errors.Is(err, ErrVersion) {
		t.Fatalf("older config: %v", err)
	}
	j = Reopen(t, j)
	revs, err := j.Revocations()
	if err != nil || !revs["pass-1"].Equal(until) {
		t.Fatalf("revocations %v %v", revs, err)
	}
	keys, err := j.Keys()
	if err != nil || !bytes.Equal(keys["kid1"], []byte{1, 2, 3}) {
		t.Fatalf("keys %v %v", keys, err)
	}
	v, doc, err := j.Config()
	if err != nil || v != 3 || string(doc) != `gate_id = "north-1"` {
		t.Fatalf("config %d %q %v", v, doc, err)
	}
	if err := j.ReplaceKeys(map[string][]byte{"kid2": {4}, "kid3": {5}}); err != nil {
		t.Fatal(err)
	}
	if keys, _ := j.Keys(); len(keys) != 2 || keys["kid1"] != nil || keys["kid3"][0] != 5 {
		t.Fatalf("keys after replace: %v", keys)
	}
	if err := j.ReplaceKeys(map[string][]byte{"": {4}}); err == nil {
		t.Fatal("empty kid accepted")
	}
	if m, _ := j.Meta(); m.ConfigVersion != 3 {
		t.Fatalf("meta config version %d", m.ConfigVersion)
	}
}

func TestExportCSV(t *testing.T) {
	j := MustOpen(t, nil)
	j.ReplaceRoster(1, []Person{{ID: "p1024", Name: "王小明", Role: "pupil"}})
	mustAppend(t, j, sampleEntry(t0))
	e := sampleEntry(t0.Add(time.Hour))
	e.Guard.Reason = "=HYPERLINK(\"http://x\")"
	mustAppend(t, j, e)
	mustAppend(t, j, sampleEntry(t0.Add(48*time.Hour))) // outside the range
	var buf bytes.Buffer
	if err := j.Export(&buf, "csv", t0, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte{0xEF, 0xBB, 0xBF}) {
		t.Fatalf("no UTF-8 BOM: % x", buf.Bytes()[:8])
	}
	recs, err := csv.NewReader(bytes.NewReader(buf.Bytes()[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0][0] != "gate_id" {
		t.Fatalf("csv: %q", recs)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	if r := recs[1]; r[col["name"]] != "王小明" || r[col["body_c"]] != "36.60" || r[col["seq"]] != "1" || r[col["guard_reason"]] != "复测正常 retest ok" {
		t.Fatalf("row 1: %q", r)
	}
	if r := recs[2]; !strings.HasPrefix(r[col["guard_reason"]], "'=") {
		t.Fatalf("formula not defused: %q", r[col["guard_reason"]])
	}
	buf.Reset()
	if err := j.Export(&buf, "jsonl", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "复测正常") {
		t.Fatalf("jsonl: %s", buf.String())
	}
	if err := j.Export(&buf, "xlsx", time.Time{}, time.Time{}); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestCompactPreservesData(t *testing.T) {
	j := MustOpen(t, nil)
	for i := range 300 {
		mustAppend(t, j, sampleEntry(t0.Add(time.Duration(i)*time.Second)))
	}
	var ack []uint64
	for s := uint64(1); s <= 250; s++ {
		ack = append(ack, s)
	}
	j.Ack(j.Epoch(), ack...)
	j.Purge(t0.Add(100 * 24 * time.Hour))
	j.ReplaceRoster(2, []Person{{ID: "p1", Name: "王小明", CardID: "AB"}})
	j.PutKey("k", []byte("pub"))
	j.PutConfig(9, []byte("cfg"))
	dst := filepath.Join(t.TempDir(), "compact.db")
	if err := j.Compact(dst); err != nil {
		t.Fatal(err)
	}
	if err := j.Compact(dst); err == nil {
		t.Fatal("compact over an existing file")
	}
	before, _ := j.Meta()
	c := MustOpenAt(t, dst, nil)
	after, err := c.Meta()
	if err != nil || after != before {
		t.Fatalf("meta changed: %+v -> %+v (%v)", before, after, err)
	}
	p, _ := c.Pending(0, 1000)
	if len(p) != 50 || p[0].Seq != 251 {
		t.Fatalf("pending after compact: %d", len(p))
	}
	if pp, ok, _ := c.PersonByCard("ab"); !ok || pp.Name != "王小明" {
		t.Fatal("roster lost in compact")
	}
	if v, doc, _ := c.Config(); v != 9 || string(doc) != "cfg" {
		t.Fatal("config lost in compact")
	}
	if s := mustAppend(t, c, sampleEntry(t0)); s != 301 {
		t.Fatalf("seq after compact %d, want 301", s)
	}
}

func TestClosed(t *testing.T) {
	j := MustOpen(t, nil)
	j.Close()
	if err := j.Append(sampleEntry(t0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRevoked(t *testing.T) {
	j := MustOpen(t, nil)
	exp := t0.Add(24 * time.Hour)
	if j.Revoked("p1") {
		t.Fatal("empty list revokes")
	}
	if err := j.Revoke("p1", exp); err != nil {
		t.Fatal(err)
	}
	// A redelivered older revocation must not shorten it; a later one extends.
	j.Revoke("p1", exp.Add(-time.Hour))
	if r, _ := j.Revocations(); !r["p1"].Equal(exp) {
		t.Fatalf("older until won: %v", r["p1"])
	}
	j.Revoke("p1", exp.Add(time.Hour))
	if r, _ := j.Revocations(); !r["p1"].Equal(exp.Add(time.Hour)) {
		t.Fatalf("later until lost: %v", r["p1"])
	}
	// Zero means for ever and beats any time, as in gate/pass.Revocations.
	j.Revoke("p2", time.Time{})
	j.Revoke("p2", exp)
	if r, _ := j.Revocations(); !r["p2"].IsZero() {
		t.Fatalf("for-ever revocation shortened to %v", r["p2"])
	}
	if !j.Revoked("p1") || !j.Revoked("p2") || j.Revoked("p3") {
		t.Fatal("Revoked")
	}
	if _, err := j.Purge(exp.Add(100 * 24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if j.Revoked("p1") || !j.Revoked("p2") {
		t.Fatal("purge: dated revocation kept or for-ever one dropped")
	}
	j.Close()
	if !j.Revoked("p3") {
		t.Fatal("Revoked on a closed journal must fail closed")
	}
}

func TestEntryTime(t *testing.T) {
	j := MustOpen(t, nil)
	for _, at := range []time.Time{t0, t0.Add(123456789 * time.Nanosecond).UTC(), time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", -5*3600))} {
		e := sampleEntry(at)
		e.PersonID = `"time":"1999-01-01T00:00:00Z"` // a quote in a value is escaped, never a key
		e.Guard.Reason = `x","time":"1999-01-01T00:00:00Z`
		rec := stored(e, j.Epoch(), "north-1", t0)
		v, err := json.Marshal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := entryTime(v)
		if err != nil || !got.Equal(at) {
			t.Errorf("entryTime = %v %v, want %v", got, err, at)
		}
	}
	// Other field orders (an older or foreign writer) fall back to decoding.
	got, err := entryTime([]byte(`{"seq":1, "time" : "2025-09-01T07:30:00+08:00"}`))
	if err != nil || !got.Equal(t0) {
		t.Errorf("fallback: %v %v", got, err)
	}
	if _, err := entryTime([]byte(`{"time":`)); err == nil {
		t.Error("torn record accepted")
	}
}

func TestReadingsAlwaysList(t *testing.T) {
	j := MustOpen(t, nil)
	mustAppend(t, j, &Entry{Time: t0, Decision: "deny", Reason: "not_on_roster", Kind: "entry"})
	var buf bytes.Buffer
	if err := j.Export(&buf, "jsonl", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"readings":[]`) || !strings.Contains(buf.String(), `"guard":null`) {
		t.Fatalf("stored: %s", buf.String())
	}
}

// TestRosterLookupsFollowWrites reads the roster from other goroutines while
// deltas land: once a write has returned, no lookup may see the roster before it.
func TestRosterLookupsFollowWrites(t *testing.T) {
	j := MustOpen(t, nil)
	if err := j.ReplaceRoster(1, []Person{{ID: "p1", Name: "v1", Role: "pupil", CardID: "c1"}}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := j.PersonByCard("C1"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for v := uint64(2); v <= 60; v++ {
		name := fmt.Sprint("v", v)
		if err := j.ApplyRosterDelta(v-1, v, []Person{{ID: "p1", Name: name, Role: "pupil", CardID: "c1"}}, nil); err != nil {
			t.Fatal(err)
		}
		if p, ok, err := j.PersonByCard(" c1 "); err != nil || !ok || p.Name != name {
			t.Fatalf("after delta %d: %+v %v %v", v, p, ok, err)
		}
	}
	if err := j.ApplyRosterDelta(60, 61, nil, []string{"p1"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := j.Person("p1"); ok {
		t.Fatal("removed person still found")
	}
	close(stop)
	wg.Wait()
	j.Close()
	if _, _, err := j.Person("p1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("lookup on a closed journal: %v", err)
	}
}
