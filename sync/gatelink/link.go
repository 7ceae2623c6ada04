package gatelink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"

	"github.com/jonboulle/clockwork"
)

// Store is the journal as the link needs it.
type Store interface {
	Epoch() string
	ViewPending(after uint64, limit int, fn func([]journal.RawEntry) error) error
	Ack(epoch string, seqs ...uint64) (int, error)
	Backlog() (int, error)
	Meta() (journal.Meta, error)
	ReplaceRoster(version uint64, people []journal.Person) error
	ApplyRosterDelta(from, to uint64, upsert []journal.Person, remove []string) error
}

// Handlers apply what the school sends beyond the roster, and describe the
// gate for telemetry. Each may be nil. They run on the link's goroutine, one
// at a time, never on the MQTT client's.
type Handlers struct {
	Keys        func(wire.Keys) error
	Revocations func(wire.Revocations) error
	Config      func(wire.Config) error
	Command     func(wire.Cmd) error
	// Telemetry fills in devices, counters, ambient and clock state; the link
	// adds the time, the backlog and the versions.
	Telemetry func() wire.Telemetry
}

// Opts configures a Link. School, Gate, Dial and Store are required.
type Opts struct {
	School, Gate string
	Dial         Dialer
	Store        Store
	Handlers     Handlers
	Version      string // gated's build, in the status message

	Batch int // entries per message; default 50
	// Window is MQTT's in-flight window: messages the broker has not yet
	// PUBACKed; default 8. A message the broker holds still waits for the
	// server's ack (it stays in the outbox until then), and at most
	// AckDepth × Window messages wait so, which bounds a resend.
	Window         int
	AckTimeout     time.Duration // resend a message not acknowledged by then; default 20 s
	TelemetryEvery time.Duration // default 30 s
	// Silence is how long a publish may wait for the broker's PUBACK before
	// the connection is taken for dead and replaced; 0 leaves it to the MQTT
	// keepalive alone. gated sets 1.5 × keepalive: a connection that stops
	// carrying bytes without closing (a dead NAT entry) is replaced within
	// that even while the pings are stuck behind a full socket buffer.
	Silence time.Duration
	// AckCommitEvery spaces the journal commits of the server's acks while
	// more are on their way (each is an fsync: milliseconds on an SD card); the
	// last ack of a drain is committed at once. Default 50 ms.
	AckCommitEvery time.Duration
	MinBackoff     time.Duration // first reconnect delay; default 500 ms
	MaxBackoff     time.Duration // default 30 s

	// Acked, if set, is told how many entries each commit of the server's
	// acks took out of the outbox; it runs on the link's committing goroutine
	// and must not block.
	Acked func(n int)
	// AckedSeqs, if set, is given the seqs each commit of the server's acks
	// covered (some may have been acknowledged before: an ack is idempotent),
	// for gated's ack latency. It runs where Acked does, must not block, and
	// must not keep the slice.
	AckedSeqs func(seqs []uint64)

	Clock  clockwork.Clock
	Logger *slog.Logger
}

// Stats are the link's counters.
type Stats struct {
	Connected   bool
	Connects    int64 // successful connections
	Sent        int64 // entry messages published (first sends)
	Resent      int64 // entry messages published again after AckTimeout or a reconnect
	Acked       int64 // entries newly acknowledged by the server
	Alerts      int64 // alerts published
	BadDownlink int64 // downlink messages refused (malformed, out of step)
	Dropped     int64 // downlink messages dropped because the link was behind
}

// Link moves a gate's journal to the school server over MQTT and applies what
// the server sends down. See the package documentation.
type Link struct {
	o     Opts
	log   *slog.Logger
	clock clockwork.Clock

	kick   chan struct{}
	resync chan struct{}
	alerts chan wire.Alert
	down   chan downMsg
	// downlink is the gate's own downlink topics and their kinds: the
	// handler looks a topic up rather than parsing it, at every ack.
	downlink map[string]wire.Kind

	connected                                            atomic.Bool
	connects, sent, resent, acked, nalerts, bad, dropped atomic.Int64

	mu     sync.Mutex // guards roster assembly
	chunks map[uint64]*assembly
	// ahead holds roster deltas, by the version they start from, that came
	// before it: a broker may resend a session's queued messages out of
	// order (mochi v2.7.9 sorts them by the second they were queued in).
	ahead map[uint64]wire.Roster

	acks ackQueue
}

// batchBufs are entry messages' buffers, used again once the broker has acked
// the message they held.
var batchBufs = sync.Pool{New: func() any { return new([]byte) }}

// ackQueue holds the server's acks between the session, which frees its
// window as soon as an ack arrives, and the goroutine that commits them to the
// journal: while one commit (one fsync) runs, the acks that arrive meanwhile
// gather for the next, so the drain never waits on the disk. An ack not yet
// committed when the gate dies only makes it send those entries again, and the
// server drops them as duplicates.
type ackQueue struct {
	mu      sync.Mutex
	pending [][]uint64 // one slice per ack, so a bad one can be told from the rest
	urgent  bool       // nothing more is in flight: commit now
	// armed: the committer waits out AckCommitEvery and will take what is
	// pending then, so an ack that is not urgent need not wake it (a drain's
	// acks would each cost a wakeup).
	armed bool
	wake  chan struct{}
}

type downMsg struct {
	kind    wire.Kind
	payload []byte
}

type assembly struct {
	chunks int
	parts  map[int][]journal.Person
}

// New checks opts and returns a link; Run starts it.
func New(o Opts) (*Link, error) {
	if err := wire.ValidID(o.School); err != nil {
		return nil, fmt.Errorf("gatelink: school: %w", err)
	}
	if err := wire.ValidGateID(o.Gate); err != nil {
		return nil, fmt.Errorf("gatelink: gate: %w", err)
	}
	if o.Dial == nil || o.Store == nil {
		return nil, errors.New("gatelink: Dial and Store are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Batch <= 0 {
		o.Batch = 50
	}
	o.Batch = min(o.Batch, wire.MaxBatch)
	if o.Window <= 0 {
		o.Window = 8
	}
	def(&o.AckTimeout, 20*time.Second)
	def(&o.TelemetryEvery, 30*time.Second)
	def(&o.AckCommitEvery, 50*time.Millisecond)
	def(&o.MinBackoff, 500*time.Millisecond)
	def(&o.MaxBackoff, 30*time.Second)
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	downlink := map[string]wire.Kind{}
	for _, k := range wire.Downlink {
		downlink[wire.GateTopic(o.School, o.Gate, k)] = k
	}
	return &Link{
		o: o, log: o.Logger.With("gate", o.Gate), clock: o.Clock,
		downlink: downlink,
		kick:     make(chan struct{}, 1),
		resync:   make(chan struct{}, 1),
		alerts:   make(chan wire.Alert, 64),
		down:     make(chan downMsg, 1024),
		chunks:   map[uint64]*assembly{},
		ahead:    map[uint64]wire.Roster{},
		acks:     ackQueue{wake: make(chan struct{}, 1)},
	}, nil
}

// Kick tells the link that an entry was appended: it fills the window. It
// never blocks.
func (l *Link) Kick() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Alert raises a fever alert for e (gate.Alerter). It never blocks: the
// entry itself is durable and reaches the server in its batch, where the
// server raises the alert too if this one was lost.
func (l *Link) Alert(e journal.Entry) {
	l.raise(wire.FeverAlert(&e))
}

// Resync makes the link send every unacknowledged entry again now, and
// telemetry (the school asked, with a signed command). It never blocks.
func (l *Link) Resync() {
	select {
	case l.resync <- struct{}{}:
	default:
	}
}

// CommandRefused reports a refused command to the school.
func (l *Link) CommandRefused(reason, detail string) {
	l.raise(wire.Alert{V: wire.Version, Kind: wire.AlertCommand, Gate: l.o.Gate, At: l.clock.Now(), Device: "cmd", Detail: reason + ": " + detail})
}

// DeviceAlert raises an alert about a device fault.
func (l *Link) DeviceAlert(device, detail string) {
	l.raise(wire.Alert{V: wire.Version, Kind: wire.AlertDevice, Gate: l.o.Gate, At: l.clock.Now(), Device: device, Detail: detail})
}

func (l *Link) raise(a wire.Alert) {
	select {
	case l.alerts <- a:
	default:
		l.log.Warn("alert queue full: alert dropped (the server still sees the entry)", "kind", a.Kind, "seq", a.Seq)
	}
}

// Stats returns the counters.
func (l *Link) Stats() Stats {
	return Stats{Connected: l.connected.Load(), Connects: l.connects.Load(), Sent: l.sent.Load(), Resent: l.resent.Load(),
		Acked: l.acked.Load(), Alerts: l.nalerts.Load(), BadDownlink: l.bad.Load(), Dropped: l.dropped.Load()}
}

// Run connects, keeps the link up and drains the outbox until ctx ends.
func (l *Link) Run(ctx context.Context) error {
	committed := make(chan struct{})
	go func() { defer close(committed); l.commitAcks(ctx) }()
	defer func() { <-committed }() // the journal is the caller's to close once Run returns
	ahead := l.newReadAhead()
	defer ahead.stop()
	failures := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !ahead.running() {
			// A session sends everything unacknowledged, from the start of
			// the outbox; the first messages are read while connecting.
			ahead.start(ctx, 0)
		}
		offline := wire.Encode(wire.Status{V: wire.Version, State: "offline", At: l.clock.Now(), Version: l.o.Version})
		conn, err := l.o.Dial(ctx, Will{Topic: l.topic(wire.KindStatus), Payload: offline}, l.enqueue)
		if err == nil {
			failures = 0
			l.connects.Add(1)
			l.connected.Store(true)
			err = l.session(ctx, conn, ahead)
			l.connected.Store(false)
			conn.Close()
			ahead.stop()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failures++
		d := l.backoff(failures)
		l.log.Warn("link down, reconnecting", "err", err, "in", d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.clock.After(d):
		}
	}
}

// backoff is exponential with full jitter in its upper half, so a school's
// gates that lost the broker together do not all return in the same second.
func (l *Link) backoff(failures int) time.Duration {
	d := l.o.MinBackoff << min(failures-1, 16)
	d = min(d, l.o.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

func (l *Link) topic(k wire.Kind) string { return wire.GateTopic(l.o.School, l.o.Gate, k) }

// flight is an entry message awaiting the server's ack: its entries' seqs
// lie in [first, last], those not yet acked marked in left (bit seq-first).
type flight struct {
	first, last uint64
	left        []uint64
	n           int // bits set in left
	sentAt      time.Time
	atBroker    bool // the broker PUBACKed its last sending
}

// AckDepth × Window messages at most await the server's ack.
const AckDepth = 4

func newFlight(es []journal.RawEntry, at time.Time) *flight {
	f := &flight{first: es[0].Seq, last: es[len(es)-1].Seq, sentAt: at}
	f.left = make([]uint64, (f.last-f.first)/64+1)
	for _, e := range es {
		i := e.Seq - f.first
		f.left[i/64] |= 1 << (i % 64)
	}
	f.n = len(es)
	return f
}

func (f *flight) waiting(seq uint64) bool {
	if seq < f.first || seq > f.last {
		return false
	}
	i := seq - f.first
	return f.left[i/64]&(1<<(i%64)) != 0
}

// ack clears the seqs of r ([from, to]) that the flight holds.
func (f *flight) ack(r [2]uint64) {
	for q := max(r[0], f.first); q <= min(r[1], f.last); q++ {
		i := q - f.first
		if bit := uint64(1) << (i % 64); f.left[i/64]&bit != 0 {
			f.left[i/64] &^= bit
			f.n--
		}
	}
}

// session runs one connection: it returns when the connection is lost or
// ctx ends.
func (l *Link) session(ctx context.Context, conn Conn, ahead *readAhead) error {
	topics := map[string]byte{}
	for t := range l.downlink {
		topics[t] = 1
	}
	subscribed := conn.Subscribe(topics)
	// out is every publish the broker has not yet taken, in the order made,
	// which is the order a broker acks them in: the loop waits on the oldest
	// token itself, so a PUBACK wakes the goroutine that sends the next
	// message and no other (under a drain every hop between the two shows).
	var out []outgoing
	publishAs := func(k wire.Kind, qos byte, retained bool, payload []byte, f *flight, bp *[]byte) {
		out = append(out, outgoing{tok: conn.Publish(l.topic(k), qos, retained, payload), kind: k, at: l.clock.Now(), f: f, bp: bp, msg: payload})
	}
	publish := func(k wire.Kind, qos byte, retained bool, payload []byte) {
		publishAs(k, qos, retained, payload, nil, nil)
	}
	// settle takes the publishes the broker has from the front of out.
	settle := func() error {
		for len(out) > 0 && isDone(out[0].tok) {
			o := out[0]
			out[0] = outgoing{}
			out = out[1:]
			if err := o.tok.Error(); err != nil {
				return fmt.Errorf("publish %s: %w", o.kind, err)
			}
			if o.f != nil {
				o.f.atBroker = true
				if cap(o.msg) <= 2*wire.MaxMessage {
					*o.bp = o.msg
					batchBufs.Put(o.bp)
				}
			}
		}
		return nil
	}
	publish(wire.KindStatus, 1, true, wire.Encode(wire.Status{V: wire.Version, State: "online", At: l.clock.Now(), Version: l.o.Version, Epoch: l.o.Store.Epoch()}))
	l.sendTelemetry(publish)
	l.log.Info("link up")

	var inflight []*flight // in seq order
	epoch := l.o.Store.Epoch()

	publishBatch := func(f *flight, bp *[]byte, msg []byte, resend bool) {
		f.atBroker = false
		publishAs(wire.KindEntry, 1, false, msg, f, bp)
		if resend {
			l.resent.Add(1)
		} else {
			l.sent.Add(1)
		}
	}
	send := func(f *flight, entries []journal.RawEntry, resend bool) {
		bp, msg := l.buildBatch(epoch, entries)
		publishBatch(f, bp, msg, resend)
	}
	room := func() bool {
		if len(inflight) >= AckDepth*l.o.Window {
			return false
		}
		toBroker := 0
		for _, f := range inflight {
			if !f.atBroker {
				toBroker++
			}
		}
		return toBroker < l.o.Window
	}
	ahead.more() // for what was appended while connecting
	take := func(b built) {
		b.f.sentAt = l.clock.Now()
		inflight = append(inflight, b.f)
		publishBatch(b.f, b.bp, b.msg, false)
	}
	onAck := func(ranges [][2]uint64) {
		for _, r := range ranges {
			for _, f := range inflight {
				if r[1] >= f.first && r[0] <= f.last {
					f.ack(r)
				}
			}
		}
		inflight = slices.DeleteFunc(inflight, func(f *flight) bool { return f.n == 0 })
	}
	resend := func() error {
		now := l.clock.Now()
		for _, f := range inflight {
			if now.Sub(f.sentAt) < l.o.AckTimeout {
				continue
			}
			var again []journal.RawEntry
			err := l.o.Store.ViewPending(f.first-1, int(f.last-f.first+1), func(es []journal.RawEntry) error {
				for _, e := range es {
					if f.waiting(e.Seq) {
						again = append(again, e)
					}
				}
				if len(again) > 0 {
					f.sentAt = now
					send(f, again, true)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			if len(again) == 0 { // acknowledged in another way (a re-sync)
				f.n = 0
			}
		}
		inflight = slices.DeleteFunc(inflight, func(f *flight) bool { return f.n == 0 })
		return nil
	}

	tele := l.clock.NewTicker(l.o.TelemetryEvery)
	defer tele.Stop()
	every := l.o.AckTimeout
	if l.o.Silence > 0 {
		every = min(every, l.o.Silence)
	}
	check := l.clock.NewTicker(max(every/4, 50*time.Millisecond))
	defer check.Stop()
	for {
		var ready <-chan built
		if room() {
			ready = ahead.ready
		}
		var taken <-chan struct{}
		if len(out) > 0 {
			taken = out[0].tok.Done()
		}
		select {
		case <-taken:
			if err := settle(); err != nil {
				return err
			}
		case b := <-ready:
			take(b)
		case err := <-ahead.err:
			return fmt.Errorf("outbox: %w", err)
		case <-ctx.Done():
			// A clean goodbye: the Will is not sent on DISCONNECT, so say it.
			tok := conn.Publish(l.topic(wire.KindStatus), 1, true,
				wire.Encode(wire.Status{V: wire.Version, State: "offline", At: l.clock.Now(), Version: l.o.Version}))
			select {
			case <-tok.Done():
			case <-conn.Lost():
			case <-time.After(time.Second):
			}
			return ctx.Err()
		case <-conn.Lost():
			return errors.New("connection lost")
		case err := <-subscribed:
			if err != nil {
				return fmt.Errorf("subscribe: %w", err)
			}
			subscribed = nil
			continue
		case a := <-l.alerts:
			publish(wire.KindAlert, 1, false, wire.Encode(a))
			l.nalerts.Add(1)
		case <-l.kick:
			ahead.more()
		case <-l.resync:
			inflight = inflight[:0]
			ahead.stop()
			ahead.start(ctx, 0)
			l.sendTelemetry(publish)
		case <-tele.Chan():
			l.sendTelemetry(publish)
			continue
		case <-check.Chan():
			// A publish behind the oldest may have failed while the oldest
			// still waits (paho refuses a publish once it has lost the
			// connection, and may never finish one it had sent).
			for _, o := range out {
				if isDone(o.tok) && o.tok.Error() != nil {
					return fmt.Errorf("publish %s: %w", o.kind, o.tok.Error())
				}
			}
			if len(out) > 0 && l.o.Silence > 0 && l.clock.Since(out[0].at) > l.o.Silence {
				return fmt.Errorf("the broker has not answered for %v: connection presumed dead", l.clock.Since(out[0].at).Round(time.Millisecond))
			}
			if err := resend(); err != nil {
				return err
			}
		case m := <-l.down:
			// Acks that arrived together are applied in one journal commit
			// (one fsync): under a backlog they come in bursts.
			var acks []wire.Ack
			for more := true; more; {
				if m.kind == wire.KindAck {
					if a, err := wire.DecodeAck(m.payload); err != nil {
						l.log.Warn("bad ack", "err", err)
						l.bad.Add(1)
					} else {
						acks = append(acks, a)
					}
				} else if l.apply(m) {
					l.sendTelemetry(publish) // tells the server the versions now held
				}
				select {
				case m = <-l.down:
				default:
					more = false
				}
			}
			for _, a := range acks {
				if a.Epoch != epoch {
					l.log.Warn("ack for another journal file ignored", "epoch", a.Epoch, "ours", epoch)
					l.bad.Add(1)
					continue
				}
				onAck(a.Ranges)
				l.queueAck(a.Seqs(), len(inflight) == 0)
			}
		}
		// Alerts first: anything queued while the outbox filled goes now.
		for drained := false; !drained; {
			select {
			case a := <-l.alerts:
				publish(wire.KindAlert, 1, false, wire.Encode(a))
				l.nalerts.Add(1)
			default:
				drained = true
			}
		}
	}
}

func isDone(tok Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}

// outgoing is a publish awaiting the broker; an entry message's has its
// flight and pooled buffer, used again once the broker has the message (after
// a lost connection the client may still hold it).
type outgoing struct {
	tok  Token
	kind wire.Kind
	at   time.Time
	f    *flight
	bp   *[]byte
	msg  []byte
}

// built is an entry message read ahead of the window, with its flight.
type built struct {
	f   *flight
	bp  *[]byte // msg's pooled buffer
	msg []byte
}

// buildBatch copies entries, which are the journal's memory, once into a
// message whose buffer is used again once the broker has it (a drain would
// otherwise make the garbage collector its busiest part).
func (l *Link) buildBatch(epoch string, entries []journal.RawEntry) (*[]byte, []byte) {
	bp := batchBufs.Get().(*[]byte)
	return bp, wire.AppendRawBatch((*bp)[:0], l.o.Gate, epoch, entries)
}

// readAhead reads the outbox ahead of the window on a goroutine of its own,
// Window messages at most: the read (cold pages of the file, on an SD card)
// overlaps the connecting and the broker's work instead of standing between a
// PUBACK and the next publish.
type readAhead struct {
	l      *Link
	ready  chan built
	err    chan error
	wake   chan struct{}
	cancel context.CancelFunc // nil: stopped
	done   chan struct{}
}

func (l *Link) newReadAhead() *readAhead {
	return &readAhead{l: l, ready: make(chan built, l.o.Window), err: make(chan error, 1), wake: make(chan struct{}, 1)}
}

// start reads from seq after on until stop; at the outbox's end it waits for
// more.
func (r *readAhead) start(ctx context.Context, after uint64) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	epoch := r.l.o.Store.Epoch()
	go func() {
		defer close(r.done)
		for {
			var b built
			err := r.l.o.Store.ViewPending(after, r.l.o.Batch, func(es []journal.RawEntry) error {
				if len(es) > 0 {
					b.f = newFlight(es, time.Time{})
					b.bp, b.msg = r.l.buildBatch(epoch, es)
					after = b.f.last
				}
				return nil
			})
			if err != nil {
				r.err <- err
				return
			}
			if b.f == nil {
				select {
				case <-r.wake:
					continue
				case <-ctx.Done():
					return
				}
			}
			select {
			case r.ready <- b:
			case <-ctx.Done():
				b.drop()
				return
			}
		}
	}()
}

func (r *readAhead) running() bool { return r.cancel != nil }

// more tells the reader entries were appended. It never blocks.
func (r *readAhead) more() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// stop ends the reader and waits for it (its read transaction ends with
// it), dropping what it read ahead.
func (r *readAhead) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
	for {
		select {
		case b := <-r.ready:
			b.drop()
		case <-r.err:
		default:
			return
		}
	}
}

func (b built) drop() {
	*b.bp = b.msg
	batchBufs.Put(b.bp)
}

// enqueue is the MQTT message handler: it only queues, never blocking, so the
// client is never held up by the journal.
func (l *Link) enqueue(topic string, payload []byte) {
	kind, ok := l.downlink[topic]
	if !ok {
		l.log.Warn("message on an unexpected topic ignored", "topic", topic)
		l.bad.Add(1)
		return
	}
	select {
	case l.down <- downMsg{kind: kind, payload: payload}:
	default:
		l.dropped.Add(1)
		l.log.Warn("downlink queue full: message dropped", "kind", kind)
	}
}

func (l *Link) sendTelemetry(publish func(wire.Kind, byte, bool, []byte)) {
	var t wire.Telemetry
	if l.o.Handlers.Telemetry != nil {
		t = l.o.Handlers.Telemetry()
	}
	t.V, t.At = wire.Version, l.clock.Now()
	if n, err := l.o.Store.Backlog(); err == nil {
		t.Backlog = n
	}
	if m, err := l.o.Store.Meta(); err == nil {
		t.RosterVersion, t.ConfigVersion = m.RosterVersion, m.ConfigVersion
	}
	if t.Devices == nil {
		t.Devices = map[string]string{}
	}
	publish(wire.KindTelemetry, 0, false, wire.Encode(t))
}

func (l *Link) queueAck(seqs []uint64, urgent bool) {
	q := &l.acks
	q.mu.Lock()
	q.pending = append(q.pending, seqs)
	q.urgent = q.urgent || urgent
	asleep := q.armed && !urgent
	q.mu.Unlock()
	if asleep {
		return
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// commitAcks writes the queued acks to the journal until ctx ends, then
// commits what is left. While a drain goes on, the acks that arrive within
// AckCommitEvery of the last commit share the next one; once nothing is in
// flight they are committed at once.
func (l *Link) commitAcks(ctx context.Context) {
	q := &l.acks
	var last time.Time
	var timer <-chan time.Time
	for {
		select {
		case <-q.wake:
		case <-timer:
			timer = nil
		case <-ctx.Done():
			l.commitQueued()
			return
		}
		q.mu.Lock()
		urgent, any := q.urgent, len(q.pending) > 0
		wait := l.o.AckCommitEvery - l.clock.Since(last)
		armed := any && !urgent && wait > 0
		q.armed = armed
		q.mu.Unlock()
		if !any {
			continue
		}
		if armed {
			if timer == nil {
				timer = l.clock.After(wait)
			}
			continue
		}
		l.commitQueued()
		last = l.clock.Now()
	}
}

func first(seqs []uint64) uint64 {
	if len(seqs) == 0 {
		return 0
	}
	return seqs[0]
}

func (l *Link) commitQueued() {
	q := &l.acks
	q.mu.Lock()
	batch := q.pending
	q.pending, q.urgent = nil, false
	q.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	epoch := l.o.Store.Epoch()
	// Each ack's seqs are in order, but acks arrive in any order (the server
	// handles messages concurrently): ordering the acks by their first seq
	// hands the journal one sorted run, which it then need not sort (10,000
	// seqs of a drain, most of a commit's time otherwise).
	slices.SortFunc(batch, func(a, b []uint64) int { return cmp.Compare(first(a), first(b)) })
	all := slices.Concat(batch...)
	n, err := l.o.Store.Ack(epoch, all...)
	if errors.Is(err, journal.ErrUnknownSeq) && len(batch) > 1 {
		// One ack names a seq this journal never assigned: the others still count.
		n, err, all = 0, nil, all[:0]
		for _, seqs := range batch {
			k, e := l.o.Store.Ack(epoch, seqs...)
			n += k
			if e != nil {
				l.log.Warn("ack refused", "err", e)
				l.bad.Add(1)
				continue
			}
			all = append(all, seqs...)
		}
	}
	switch {
	case errors.Is(err, journal.ErrUnknownSeq), errors.Is(err, journal.ErrEpoch):
		l.log.Warn("ack refused", "err", err)
		l.bad.Add(1)
	case err != nil:
		// The journal could not be written (full, failing): keep the acks for
		// the next commit rather than send the entries again.
		l.log.Warn("acks not committed, kept for the next try", "err", err)
		q.mu.Lock()
		q.pending = append(batch, q.pending...)
		q.mu.Unlock()
	}
	l.acked.Add(int64(n))
	if n > 0 && l.o.Acked != nil {
		l.o.Acked(n)
	}
	if err == nil && len(all) > 0 && l.o.AckedSeqs != nil {
		l.o.AckedSeqs(all)
	}
}
