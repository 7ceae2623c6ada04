package gatelink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"
	"campusgate/sync/wire/wiretest"

	"github.com/jonboulle/clockwork"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

var quiet = slog.New(slog.DiscardHandler)

// testBroker is an in-process MQTT broker that lets everyone in, with a fake
// school server on its inline client.
type testBroker struct {
	srv   *mqtt.Server
	addr  string
	close sync.Once
}

func (b *testBroker) stop() { b.close.Do(func() { _ = b.srv.Close() }) }

func startBroker(t testing.TB, addr string) *testBroker {
	t.Helper()
	b, err := newTestBroker(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	return b
}

// newTestBroker is a broker that is the caller's to stop: a benchmark starts
// one a round, and a Cleanup would hold on to each until its end.
func newTestBroker(addr string) (*testBroker, error) {
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: quiet})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := srv.AddListener(l); err != nil {
		return nil, err
	}
	go func() { _ = srv.Serve() }()
	return &testBroker{srv: srv, addr: l.Address()}, nil
}

// fakeServer stores what gates send and acks it, as campusd does.
type fakeServer struct {
	t       testing.TB
	b       *testBroker
	mu      sync.Mutex
	seen    map[uint64]int // seq → times received
	alerts  []wire.Alert
	order   []string // "entry" / "alert", in arrival order
	tele    []wire.Telemetry
	status  []wire.Status
	noAck   int // ignore this many batches before acking
	ackWith func(wire.EntryBatch) wire.Ack
}

func newFakeServer(t testing.TB, b *testBroker) *fakeServer {
	s := &fakeServer{t: t, b: b, seen: map[uint64]int{}}
	sub := func(kind wire.Kind, id int, fn func(tp wire.Topic, payload []byte)) {
		err := b.srv.Subscribe(wire.Root+"/+/+/"+string(kind), id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
			tp, err := wire.ParseTopic(pk.TopicName)
			if err != nil {
				t.Errorf("topic %q: %v", pk.TopicName, err)
				return
			}
			if _, bench := t.(*testing.B); !bench {
				wiretest.Check(t, tp.Kind, pk.Payload) // what the gate sends is what sync/asyncapi.yaml says
			}
			fn(tp, pk.Payload)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	acks := newBenchAcker(func(tp wire.Topic, ack []byte) {
		_ = b.srv.Publish(wire.GateTopic(tp.School, tp.Gate, wire.KindAck), ack, false, 0)
	})
	sub(wire.KindEntry, 1, func(tp wire.Topic, p []byte) {
		if _, bench := t.(*testing.B); bench { // see drainBroker
			h, err := wire.PeekEntryBatch(p, tp.Gate)
			if err != nil {
				t.Errorf("entry batch: %v", err)
				return
			}
			acks.add(tp, h)
			return
		}
		m, err := wire.DecodeEntryBatch(p, tp.Gate)
		if err != nil {
			t.Errorf("entry batch: %v", err)
			return
		}
		s.mu.Lock()
		s.order = append(s.order, "entry")
		for _, e := range m.Entries {
			s.seen[e.Seq]++
		}
		skip := s.noAck > 0
		if skip {
			s.noAck--
		}
		s.mu.Unlock()
		if skip {
			return
		}
		var seqs []uint64
		for _, e := range m.Entries {
			seqs = append(seqs, e.Seq)
		}
		ack := wire.Ack{V: 1, Epoch: m.Epoch, Ranges: wire.Ranges(seqs)}
		if _, bench := t.(*testing.B); !bench {
			wiretest.Check(t, wire.KindAck, wire.Encode(ack))
		}
		// Publishing from inside the inline handler would hold up the broker's delivery loop.
		go func() {
			_ = b.srv.Publish(wire.GateTopic(tp.School, tp.Gate, wire.KindAck), wire.Encode(ack), false, 0) // as campusd
		}()
	})
	sub(wire.KindAlert, 2, func(tp wire.Topic, p []byte) {
		a, err := wire.DecodeAlert(p, tp.Gate)
		if err != nil {
			t.Errorf("alert: %v", err)
			return
		}
		s.mu.Lock()
		s.alerts = append(s.alerts, a)
		s.order = append(s.order, "alert")
		s.mu.Unlock()
	})
	sub(wire.KindTelemetry, 3, func(_ wire.Topic, p []byte) {
		m, err := wire.DecodeTelemetry(p)
		if err != nil {
			t.Errorf("telemetry: %v", err)
			return
		}
		s.mu.Lock()
		s.tele = append(s.tele, m)
		s.mu.Unlock()
	})
	sub(wire.KindStatus, 4, func(_ wire.Topic, p []byte) {
		m, err := wire.DecodeStatus(p)
		if err != nil {
			t.Errorf("status: %v", err)
			return
		}
		s.mu.Lock()
		s.status = append(s.status, m)
		s.mu.Unlock()
	})
	return s
}

func (s *fakeServer) count() (distinct, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.seen {
		distinct++
		total += n
	}
	return
}

func openJournal(t *testing.T) *journal.Journal {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Opts{GateID: "north-1", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func appendN(t *testing.T, j *journal.Journal, n int) {
	t.Helper()
	for range n {
		if err := j.Append(&journal.Entry{Time: time.Now(), PersonID: "P1", Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}); err != nil {
			t.Fatal(err)
		}
	}
}

func startLink(t *testing.T, addr string, j *journal.Journal, mod func(*Opts)) (*Link, context.CancelFunc) {
	t.Helper()
	dial, err := PahoDialer(PahoOpts{Broker: "tcp://" + addr, ClientID: "north-1", KeepAlive: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o := Opts{School: "hz-001", Gate: "north-1", Dial: dial, Store: j, Logger: quiet,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, AckTimeout: 2 * time.Second}
	if mod != nil {
		mod(&o)
	}
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return l, runLink(t, l)
}

// runLink runs l until the test ends or the returned cancel is called.
func runLink(t *testing.T, l *Link) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

func eventually(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func backlog(j *journal.Journal) int {
	n, _ := j.Backlog()
	return n
}

func TestDrainUntilAcked(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	srv := newFakeServer(t, b)
	j := openJournal(t)
	appendN(t, j, 1234)
	var ackedMu sync.Mutex
	acked := map[uint64]bool{} // what AckedSeqs reported
	l, _ := startLink(t, b.addr, j, func(o *Opts) {
		o.AckedSeqs = func(seqs []uint64) {
			ackedMu.Lock()
			defer ackedMu.Unlock()
			for _, s := range seqs {
				acked[s] = true
			}
		}
	})
	eventually(t, "backlog drained", 20*time.Second, func() bool { return backlog(j) == 0 })
	if d, _ := srv.count(); d != 1234 {
		t.Fatalf("server saw %d distinct entries, want 1234", d)
	}
	// New entries go as they come.
	appendN(t, j, 3)
	l.Kick()
	eventually(t, "new entries acked", 5*time.Second, func() bool { return backlog(j) == 0 })
	if m, _ := j.Meta(); m.AckedThrough != 1237 {
		t.Fatalf("acked through %d", m.AckedThrough)
	}
	eventually(t, "acks counted", 5*time.Second, func() bool { return l.Stats().Acked == 1237 }) // counted just after the commit
	st := l.Stats()
	if !st.Connected || st.Acked != 1237 || st.Sent < 1237/50 {
		t.Fatalf("stats %+v", st)
	}
	ackedMu.Lock()
	if len(acked) != 1237 || !acked[1] || !acked[1237] {
		t.Errorf("AckedSeqs reported %d seqs, want 1..1237", len(acked))
	}
	ackedMu.Unlock()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.status) == 0 || srv.status[0].State != "online" || len(srv.tele) == 0 {
		t.Fatalf("status %v telemetry %d", srv.status, len(srv.tele))
	}
}

func TestResendWhenNotAcked(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	srv := newFakeServer(t, b)
	srv.noAck = 2 // the server "loses" the first two batches
	j := openJournal(t)
	appendN(t, j, 120)
	l, _ := startLink(t, b.addr, j, func(o *Opts) { o.AckTimeout = 300 * time.Millisecond })
	eventually(t, "backlog drained", 10*time.Second, func() bool { return backlog(j) == 0 })
	if l.Stats().Resent < 2 {
		t.Fatalf("stats %+v: nothing resent", l.Stats())
	}
	if d, total := srv.count(); d != 120 || total <= 120 {
		t.Fatalf("distinct %d total %d", d, total)
	}
}

// TestWindowBoundsUnacked: the window is MQTT's in-flight one (the broker's
// PUBACKs free it), but a server that acks nothing holds the gate to
// AckDepth × Window messages, resent after the ack timeout, not the whole
// backlog.
func TestWindowBoundsUnacked(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	srv := newFakeServer(t, b)
	srv.noAck = 1 << 30
	j := openJournal(t)
	appendN(t, j, 2000)
	l, _ := startLink(t, b.addr, j, func(o *Opts) { o.Window, o.Batch, o.AckTimeout = 2, 10, time.Hour })
	want := AckDepth * 2
	eventually(t, "the window filled", 10*time.Second, func() bool { return l.Stats().Sent == int64(want) })
	time.Sleep(200 * time.Millisecond)
	if st := l.Stats(); st.Sent != int64(want) || st.Acked != 0 {
		t.Fatalf("stats %+v: want %d messages sent and waiting for the server", st, want)
	}
	if d, _ := srv.count(); d != want*10 {
		t.Fatalf("server saw %d entries, want %d", d, want*10)
	}
}

func TestBrokerDownThenUp(t *testing.T) {
	// Reserve an address, start the gate against nothing, then bring the broker up there.
	first := startBroker(t, "127.0.0.1:0")
	addr := first.addr
	first.stop()
	j := openJournal(t)
	appendN(t, j, 300)
	l, _ := startLink(t, addr, j, nil)
	time.Sleep(300 * time.Millisecond) // a few failed attempts
	if l.Stats().Connected {
		t.Fatal("connected to nothing")
	}
	b := startBroker(t, addr)
	srv := newFakeServer(t, b)
	eventually(t, "backlog drained after the broker came back", 15*time.Second, func() bool { return backlog(j) == 0 })
	if d, _ := srv.count(); d != 300 {
		t.Fatalf("server saw %d", d)
	}
}

func TestFeverAlertAheadOfBacklog(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	srv := newFakeServer(t, b)
	j := openJournal(t)
	appendN(t, j, 3000)
	fever := journal.Entry{Time: time.Now(), PersonID: "P9", Role: "pupil", Decision: "deny", Reason: "fever", Kind: "entry", BodyC: 38.4}
	if err := j.Append(&fever); err != nil {
		t.Fatal(err)
	}
	l, _ := startLink(t, b.addr, j, func(o *Opts) { o.Window = 2 })
	l.Alert(fever)
	eventually(t, "alert", 10*time.Second, func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return len(srv.alerts) == 1 })
	srv.mu.Lock()
	entriesBefore := 0
	for _, o := range srv.order {
		if o == "alert" {
			break
		}
		entriesBefore++
	}
	a := srv.alerts[0]
	srv.mu.Unlock()
	if a.Seq != fever.Seq || a.PersonID != "P9" || a.BodyC != 38.4 {
		t.Fatalf("alert %+v", a)
	}
	// 3001 entries are 61 batches; the alert must not wait for them.
	if entriesBefore > 3 {
		t.Fatalf("the alert came after %d entry batches", entriesBefore)
	}
	eventually(t, "backlog drained", 20*time.Second, func() bool { return backlog(j) == 0 })
}

func TestRosterDownlink(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	srv := newFakeServer(t, b)
	j := openJournal(t)
	startLink(t, b.addr, j, nil)
	eventually(t, "online", 5*time.Second, func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return len(srv.status) > 0 })
	pub := func(m wire.Roster) {
		t.Helper()
		wiretest.Check(t, wire.KindRoster, wire.Encode(m))
		if err := b.srv.Publish(wire.GateTopic("hz-001", "north-1", wire.KindRoster), wire.Encode(m), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	pub(wire.Roster{V: 1, Kind: "snapshot", Version: 5, Chunk: 2, Chunks: 2, People: []journal.Person{{ID: "P2", Name: "李华", Role: "pupil"}}})
	time.Sleep(100 * time.Millisecond)
	if _, ok, _ := j.Person("P2"); ok {
		t.Fatal("half a snapshot was applied")
	}
	pub(wire.Roster{V: 1, Kind: "snapshot", Version: 5, Chunk: 1, Chunks: 2, People: []journal.Person{{ID: "P1", Name: "王小明", Role: "pupil"}}})
	eventually(t, "snapshot applied", 5*time.Second, func() bool { _, ok, _ := j.Person("P2"); return ok })
	pub(wire.Roster{V: 1, Kind: "delta", From: 5, Version: 6, Remove: []string{"P1"}})
	eventually(t, "delta applied", 5*time.Second, func() bool { _, ok, _ := j.Person("P1"); return !ok })
	// Out of step: the gate says which version it holds.
	pub(wire.Roster{V: 1, Kind: "delta", From: 9, Version: 10, Remove: []string{"P2"}})
	eventually(t, "telemetry with roster version 6", 5*time.Second, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.tele) > 0 && srv.tele[len(srv.tele)-1].RosterVersion == 6
	})
	if _, ok, _ := j.Person("P2"); !ok {
		t.Fatal("an out-of-step delta was applied")
	}
	// Held, not lost: once the deltas between arrive (out of order, as a
	// broker may resend them), it applies in turn.
	pub(wire.Roster{V: 1, Kind: "delta", From: 8, Version: 9, People: []journal.Person{{ID: "P9", Name: "赵六", Role: "pupil"}}})
	pub(wire.Roster{V: 1, Kind: "delta", From: 6, Version: 7})
	pub(wire.Roster{V: 1, Kind: "delta", From: 7, Version: 8})
	eventually(t, "the held deltas applied", 5*time.Second, func() bool { v, _ := j.RosterVersion(); return v == 10 })
	if _, ok, _ := j.Person("P2"); ok {
		t.Error("the 9→10 delta, held, did not remove P2")
	}
	if _, ok, _ := j.Person("P9"); !ok {
		t.Error("the 8→9 delta, held, did not add P9")
	}
}

// TestAckedSeqs: the hook names every entry once its ack is committed (a
// load test times each entry by it).
func TestAckedSeqs(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	newFakeServer(t, b)
	j := openJournal(t)
	appendN(t, j, 120)
	var mu sync.Mutex
	seen := map[uint64]bool{}
	startLink(t, b.addr, j, func(o *Opts) {
		o.AckedSeqs = func(seqs []uint64) {
			mu.Lock()
			defer mu.Unlock()
			if backlog(j) > 120-len(seqs) {
				t.Errorf("told of %d seqs before their commit", len(seqs))
			}
			for _, s := range seqs {
				seen[s] = true
			}
		}
	})
	eventually(t, "every seq told", 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 120 })
	for s := uint64(1); s <= 120; s++ {
		if !seen[s] {
			t.Fatalf("seq %d never told", s)
		}
	}
}

// TestDownlinkQueuedWhileOffline: what the school sends while the gate is
// away waits in its persistent session and is applied once it is back, though
// the broker sends it before the gate has subscribed again; and the newest
// settings and revocations are the last applied, though the broker refuses
// the first subscription again (mochi's 0x91) and resends the queued ones
// out of order.
func TestDownlinkQueuedWhileOffline(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	srv := newFakeServer(t, b)
	j := openJournal(t)
	_, stop := startLink(t, b.addr, j, nil)
	eventually(t, "online", 5*time.Second, func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return len(srv.status) > 0 })
	stop()
	eventually(t, "offline", 5*time.Second, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.status[len(srv.status)-1].State == "offline"
	})
	// A snapshot, then a chain of deltas each only applicable after the one
	// before: all must apply, in whatever order the broker resends them (the
	// embedded broker shuffles those queued within the same second).
	pub := func(m wire.Roster) {
		t.Helper()
		if err := b.srv.Publish(wire.GateTopic("hz-001", "north-1", wire.KindRoster), wire.Encode(m), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	pub(wire.Roster{V: 1, Kind: "snapshot", Version: 3, Chunk: 1, Chunks: 1, People: []journal.Person{{ID: "P7", Name: "张伟", Role: "pupil"}}})
	const deltas = 20
	for v := uint64(3); v < 3+deltas; v++ {
		pub(wire.Roster{V: 1, Kind: "delta", From: v, Version: v + 1, People: []journal.Person{{ID: fmt.Sprint("Q", v), Name: "学生", Role: "pupil"}}})
	}
	// Whole documents are sent retained, as campusd does: the broker's
	// retained one, the newest, comes after those it resends, when the gate
	// subscribes again.
	const docs = 5
	for v := uint64(1); v <= docs; v++ {
		if err := b.srv.Publish(wire.GateTopic("hz-001", "north-1", wire.KindConfig), wire.Encode(wire.Config{V: 1, Version: v, TOML: ""}), true, 1); err != nil {
			t.Fatal(err)
		}
		if err := b.srv.Publish(wire.GateTopic("hz-001", "north-1", wire.KindRevocations), wire.Encode(wire.Revocations{V: 1, Passes: []wire.Revocation{{ID: fmt.Sprint(v)}}}), true, 1); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var configs []uint64
	var revoked []string
	startLink(t, b.addr, j, func(o *Opts) {
		o.Handlers.Config = func(c wire.Config) error {
			mu.Lock()
			defer mu.Unlock()
			configs = append(configs, c.Version)
			return nil
		}
		o.Handlers.Revocations = func(r wire.Revocations) error {
			mu.Lock()
			defer mu.Unlock()
			revoked = append(revoked, r.Passes[0].ID)
			return nil
		}
	})
	eventually(t, "the roster sent while offline applied", 5*time.Second, func() bool { v, _ := j.RosterVersion(); return v == 3+deltas })
	eventually(t, "the documents sent while offline and the retained ones", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(configs) == docs+1 && len(revoked) == docs+1
	})
	if configs[docs] != docs || revoked[docs] != fmt.Sprint(docs) {
		t.Errorf("settings applied in the order %v and revocations %v: the newest must be last", configs, revoked)
	}
	for _, id := range []string{"P7", "Q3", fmt.Sprint("Q", 2+deltas)} {
		if _, ok, _ := j.Person(id); !ok {
			t.Errorf("%s missing after the snapshot and its deltas", id)
		}
	}
}

// TestAckCommitsGathered: the server's acks that arrive within
// AckCommitEvery of a commit share the next one (one fsync), and the ack
// that leaves nothing in flight is committed at once.
func TestAckCommitsGathered(t *testing.T) {
	j := openJournal(t)
	appendN(t, j, 10)
	clock := clockwork.NewFakeClock()
	commits := make(chan int, 10)
	l, err := New(Opts{School: "hz-001", Gate: "north-1", Store: j, Logger: quiet, Clock: clock, AckCommitEvery: 50 * time.Millisecond,
		Dial: func(context.Context, Will, func(string, []byte)) (Conn, error) {
			return nil, errors.New("not in this test")
		},
		Acked: func(n int) { commits <- n }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.commitAcks(ctx) }()
	defer func() { cancel(); <-done }()
	next := func(want int) {
		t.Helper()
		select {
		case n := <-commits:
			if n != want {
				t.Fatalf("a commit of %d acks, want %d", n, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no commit of %d acks", want)
		}
	}
	l.queueAck([]uint64{1}, false)
	next(1) // the first at once: nothing was committed within AckCommitEvery
	l.queueAck([]uint64{2, 3}, false)
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // the committer waits out AckCommitEvery
		t.Fatal(err)
	}
	for s := uint64(4); s <= 6; s++ {
		l.queueAck([]uint64{s}, false)
	}
	select {
	case n := <-commits:
		t.Fatalf("a commit of %d acks before AckCommitEvery", n)
	case <-time.After(50 * time.Millisecond):
	}
	clock.Advance(50 * time.Millisecond)
	next(5) // 2–6 in one commit
	l.queueAck([]uint64{7}, false)
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	l.queueAck([]uint64{8}, true) // nothing more in flight: at once, with 7
	next(2)
	if n := backlog(j); n != 2 {
		t.Fatalf("backlog %d, want 2", n)
	}
}
