package ingest

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"
)

func entryMsg(gate string, seq uint64) []byte {
	e := journal.Entry{V: 1, GateID: gate, Epoch: "e1", Seq: seq, Time: time.Now(), Decision: "admit", Reason: "ok", Kind: "entry"}
	b, _ := json.Marshal(e)
	return wire.RawBatch(gate, "e1", []journal.RawEntry{{Seq: seq, JSON: b}})
}

// TestOverloadShedsInsteadOfHoarding: with the database stuck, entry messages
// beyond the queue and MaxWaiting return at once, shed and counted, instead
// of each holding a goroutine and its payload; a gate's status still waits
// its turn and is stored; nothing shed is stored or acked.
func TestOverloadShedsInsteadOfHoarding(t *testing.T) {
	store := stuckStore{newMemStore(), make(chan struct{})}
	acks := &countPub{}
	in, ctx := runIngest(t, Opts{Store: store, Publisher: acks, Logger: quiet, Queue: 4, MaxWaiting: 3, MaxMessages: 1}, nil)

	const n = 60
	var returned atomic.Int64
	var wg sync.WaitGroup
	topic := wire.GateTopic("hz", "north-1", wire.KindEntry)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); in.Handle(ctx, topic, entryMsg("north-1", uint64(i+1))); returned.Add(1) }()
	}
	// At most 1 in the database, 4 queued and 3 waiting: the rest are shed.
	eventually(t, "the excess shed", 5*time.Second, func() bool { return returned.Load() >= n-3 })
	time.Sleep(50 * time.Millisecond)
	st := in.Stats()
	if st.Shed < n-1-4-3 || st.Shed > n-4 {
		t.Fatalf("shed %d of %d (queued %d): want about %d", st.Shed, n, in.Queued(), n-1-4-3)
	}
	statusDone := make(chan struct{})
	go func() {
		defer close(statusDone)
		in.Handle(ctx, wire.GateTopic("hz", "north-1", wire.KindStatus), wire.Encode(wire.Status{V: 1, State: "online", At: time.Now()}))
	}()
	select {
	case <-statusDone:
		t.Fatal("a status message was shed (or queued past the full queue)")
	case <-time.After(100 * time.Millisecond):
	}
	close(store.release)
	wg.Wait()
	<-statusDone
	eventually(t, "what was not shed stored", 5*time.Second, func() bool { return int64(store.n()) == n-in.Stats().Shed })
	eventually(t, "the status stored", 5*time.Second, func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.status["north-1"].State == "online"
	})
	if got := acks.n.Load(); got != int64(store.n()) {
		t.Errorf("%d acks for %d stored (a shed message must not be acked)", got, store.n())
	}
}

// countPub counts what ingest publishes (its acks).
type countPub struct{ n atomic.Int64 }

func (p *countPub) Publish(context.Context, string, byte, bool, []byte) error {
	p.n.Add(1)
	return nil
}

// slowStore takes its time over every transaction of entries: a database far
// slower than its gates.
type slowStore struct {
	*memStore
	d time.Duration
}

func (s slowStore) InsertBatch(ctx context.Context, school string, es []journal.Entry) (int, int, []wire.Alert, error) {
	time.Sleep(s.d)
	return s.memStore.InsertBatch(ctx, school, es)
}

// TestOverloadedServerLosesNothing: gates send far more messages than a slow
// server stores, through a real broker; the server sheds what it cannot hold,
// the gates send it again, and every entry ends up stored once and acked.
func TestOverloadedServerLosesNothing(t *testing.T) {
	addr := startBroker(t)
	mem := newMemStore()
	pub := &LatePublisher{}
	in, ctx := runIngest(t, Opts{Store: slowStore{mem, 5 * time.Millisecond}, Publisher: pub, Logger: quiet, Queue: 2, MaxWaiting: 2, MaxMessages: 1}, nil)
	client, err := Dial(ctx, ClientOpts{Broker: "tcp://" + addr, ClientID: "campusd-test", Logger: quiet}, in.Handle)
	if err != nil {
		t.Fatal(err)
	}
	pub.Set(client)
	defer client.Close()

	const gates, each = 4, 50
	var js []*journal.Journal
	var appended atomic.Int64
	for g := range gates {
		j, l := startGate(t, addr, []string{"north-1", "north-2", "south-1", "south-2"}[g])
		js = append(js, j)
		go func() { // one entry a message: many small messages, as at a busy gate
			for range each {
				e := journal.Entry{Time: time.Now(), PersonID: "P1", Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
				if err := j.Append(&e); err != nil {
					t.Error(err)
					return
				}
				appended.Add(1)
				l.Kick()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	eventually(t, "every entry stored and acked", 60*time.Second, func() bool {
		if appended.Load() != gates*each {
			return false
		}
		for _, j := range js {
			if n, _ := j.Backlog(); n != 0 {
				return false
			}
		}
		return true
	})
	if n := mem.n(); n != gates*each {
		t.Fatalf("stored %d entries, want %d", n, gates*each)
	}
	st := in.Stats()
	if st.Shed == 0 {
		t.Fatalf("nothing shed (%+v): the test did not overload the server", st)
	}
	t.Logf("%+v", st)
}

// TestOverloadShedsByBytes: the waiting messages' payloads are bounded too.
func TestOverloadShedsByBytes(t *testing.T) {
	store := stuckStore{newMemStore(), make(chan struct{})}
	one := int64(len(entryMsg("north-1", 1)))
	in, ctx := runIngest(t, Opts{Store: store, Publisher: &countPub{}, Logger: quiet, Queue: 1, MaxMessages: 1, MaxWaitingBytes: 2*one + one/2},
		func() { close(store.release) })
	topic := wire.GateTopic("hz", "north-1", wire.KindEntry)
	for i := range 20 {
		go in.Handle(ctx, topic, entryMsg("north-1", uint64(i+1)))
	}
	// 1 in the database, 1 queued, 2 waiting (their bytes under the bound);
	// 17 shed if all 20 came before the worker took the first.
	eventually(t, "the excess shed", 5*time.Second, func() bool { return in.Stats().Shed >= 16 })
	time.Sleep(50 * time.Millisecond)
	if n := in.Stats().Shed; n > 17 {
		t.Fatalf("shed %d of 20, want 16 or 17", n)
	}
}

// runIngest runs an Ingest until the test ends; release, if not nil, lets a
// stuck store go first, so that Run can return.
func runIngest(t *testing.T, o Opts, release func()) (*Ingest, context.Context) {
	t.Helper()
	in, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = in.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if release != nil {
			release()
		}
		<-done
	})
	return in, ctx
}
