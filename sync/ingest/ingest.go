// Package ingest is the school server's side of the sync: it takes what gates
// publish (entry batches, alerts, status, telemetry) from the broker, stores
// it, and acknowledges entries to their gate only after the commit.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"

	"golang.org/x/time/rate"
)

// Store is the database as ingest needs it. Every method is idempotent: the
// same entry, alert or status may arrive more than once.
type Store interface {
	// InsertBatch stores entries (of any gates) in one transaction; an
	// entry already stored by (gate, epoch, seq) is counted as a duplicate.
	// The fever alert of an entry that denied a fever is stored in the same
	// transaction, once (as InsertAlert); fevers are those that are new.
	InsertBatch(ctx context.Context, school string, entries []journal.Entry) (inserted, duplicates int, fevers []wire.Alert, err error)
	// InsertAlert stores an alert once by (gate, epoch, seq, kind) and
	// reports whether it is new.
	InsertAlert(ctx context.Context, school string, a wire.Alert) (bool, error)
	GateStatus(ctx context.Context, school, gate string, s wire.Status) error
	GateTelemetry(ctx context.Context, school, gate string, t wire.Telemetry) error
}

// Publisher sends a message to the broker (the acks).
type Publisher interface {
	Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error
}

// Opts configures an Ingest. Store and Publisher are required.
type Opts struct {
	Store     Store
	Publisher Publisher
	// OnAlert is called once for each new alert (a fever raised by the gate's
	// alert or found in an entry batch, or a device alert); it must not block.
	// stored is false when the store refused it (a full disk): it is raised
	// all the same, and again once the gate's resent entry is stored.
	OnAlert func(school string, a wire.Alert, stored bool)
	// OnRefusedFever is called for each fever in an entry batch the store
	// refused, at every refusal (the gate sends the batch again until it is
	// stored); it must not block. The database may have the alert already
	// (from the gate's alert message): campusd holds it for the nurse unless
	// it does, so that a fever whose alert message was lost, or was held by
	// a campusd since restarted, is on the nurse's screen while the disk is
	// full all the same.
	OnRefusedFever func(school string, a wire.Alert)
	// OnTelemetry is called after each telemetry message is stored (campusd
	// uses it to send a gate the roster it lacks); it must not block.
	OnTelemetry func(school, gate string, t wire.Telemetry)
	// OnStoreFailing is told when StoreFailing starts and stops reporting a
	// run of refused writes (campusd's banner); it must not block.
	OnStoreFailing func(failing bool)
	// OnCommit is told how long each transaction of entries took to commit
	// (campusd's commit latency); it must not block.
	OnCommit func(entries int, took time.Duration)
	// MaxMessages and MaxDelay bound how many entry messages share one
	// transaction and how long the first waits for company. Defaults 64, 5 ms.
	MaxMessages int
	MaxDelay    time.Duration
	Queue       int // messages waiting for the worker; default 4096
	// MaxWaiting and MaxWaitingBytes bound the entry and telemetry messages
	// that wait for room in a full queue, and their payloads (defaults
	// 65,536 and 256 MiB: a ceiling on campusd's memory, not a throttle: a
	// shed message waits its gate's ack timeout, 20 s, so shedding early
	// would make an overload's tail longer, not shorter); past them,
	// messages are shed (see Handle).
	MaxWaiting      int
	MaxWaitingBytes int64
	Logger          *slog.Logger
}

// Stats are ingest's counters.
type Stats struct {
	Messages, Entries, Inserted, Duplicates, Malformed, Alerts, Acks, StoreErrors int64
	// Shed counts entry and telemetry messages refused while the queue was
	// full (see Handle).
	Shed int64
}

// Ingest stores what gates send.
type Ingest struct {
	o   Opts
	log *slog.Logger
	q   chan msg
	// aq holds the gates' alerts apart, with their own worker: under a
	// backlog (a district's morning, a school's gates back online) a fever
	// must not wait behind thousands of queued entries.
	aq chan msg

	messages, entries, inserted, duplicates, malformed, alerts, acks, storeErrors atomic.Int64
	shed, waiting, waitingBytes                                                   atomic.Int64
	// The warnings of a flood (bad or shed messages, a full disk's refusals)
	// are a line an interval rather than a line a message.
	dropWarn, shedWarn, storeWarn rate.Sometimes
	// failing is the run of writes the store is refusing (nil: it takes
	// them), for the console's banner.
	failing atomic.Pointer[storeFailure]
}

// storeFailure is a run of refused writes: since the first refused after the
// last one taken, and the latest refusal.
type storeFailure struct {
	since time.Time
	err   error
	n     int64 // writes refused in the run
}

type msg struct {
	topic   wire.Topic
	payload []byte
}

// New returns an Ingest; Run processes what Handle queues.
func New(o Opts) (*Ingest, error) {
	if o.Store == nil || o.Publisher == nil {
		return nil, errors.New("ingest: Store and Publisher are required")
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = 64
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 5 * time.Millisecond
	}
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	if o.MaxWaiting <= 0 {
		o.MaxWaiting = 65536
	}
	if o.MaxWaitingBytes <= 0 {
		o.MaxWaitingBytes = 256 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Ingest{o: o, log: o.Logger, q: make(chan msg, o.Queue), aq: make(chan msg, 1024),
		dropWarn: rate.Sometimes{Interval: time.Second}, shedWarn: rate.Sometimes{Interval: 10 * time.Second},
		storeWarn: rate.Sometimes{Interval: time.Minute}}, nil
}

// Stats returns the counters.
func (in *Ingest) Stats() Stats {
	return Stats{Messages: in.messages.Load(), Entries: in.entries.Load(), Inserted: in.inserted.Load(),
		Duplicates: in.duplicates.Load(), Malformed: in.malformed.Load(), Alerts: in.alerts.Load(),
		Acks: in.acks.Load(), StoreErrors: in.storeErrors.Load(), Shed: in.shed.Load()}
}

// Queued is how many messages wait for the workers.
func (in *Ingest) Queued() int { return len(in.q) + len(in.aq) }

// Handle queues one MQTT message. It blocks only when the queue is full,
// which holds the broker back (QoS 1 messages are acknowledged to the broker
// when the handler returns).
//
// Holding back is not enough under a sustained overload: a broker that does
// not bound what it has in flight to campusd (paho runs every handler on a
// goroutine of its own) has thousands of messages waiting here, in memory
// (campusd ~400 MiB at 8 entries a second from each of 1,000 gates on a
// 2-core machine, nothing shed), and nothing bounds how many. So past
// MaxWaiting waiting (or MaxWaitingBytes of them), an entry message is shed: counted,
// logged, neither stored nor acked to its gate, which keeps the entries in
// its journal and sends them again after its ack timeout, and meanwhile
// stops sending more once its window of unacknowledged messages is full.
// The backlog stays in the gates' journals, which are made for it. Telemetry
// is shed too (the next one follows within the interval); alerts, which
// have their own queue, and status messages (one a connection) never are.
func (in *Ingest) Handle(ctx context.Context, topic string, payload []byte) {
	in.messages.Add(1)
	t, err := wire.ParseTopic(topic)
	if err != nil || !t.Kind.IsUplink() {
		in.drop(topic, fmt.Errorf("topic: %w", err))
		return
	}
	q := in.q
	if t.Kind == wire.KindAlert {
		q = in.aq
	}
	m := msg{topic: t, payload: payload}
	select {
	case q <- m:
		return
	default:
	}
	if t.Kind == wire.KindEntry || t.Kind == wire.KindTelemetry {
		size := int64(len(payload))
		n, b := in.waiting.Add(1), in.waitingBytes.Add(size)
		defer func() { in.waiting.Add(-1); in.waitingBytes.Add(-size) }()
		if n > int64(in.o.MaxWaiting) || b > in.o.MaxWaitingBytes {
			in.shedOne(t)
			return
		}
	}
	select {
	case q <- m:
	case <-ctx.Done():
	}
}

// shedOne counts and logs (at most every 10 s) a message shed by Handle.
func (in *Ingest) shedOne(t wire.Topic) {
	n := in.shed.Add(1)
	in.shedWarn.Do(func() {
		in.log.Warn("ingest overloaded: message shed, its gate sends it again", "topic", t.String(),
			"queued", in.Queued(), "waiting", in.waiting.Load(), "shed_total", n)
	})
}

// drop counts and logs (at most once a second) a message that is refused.
func (in *Ingest) drop(topic string, err error) {
	in.malformed.Add(1)
	in.dropWarn.Do(func() {
		in.log.Warn("malformed message dropped", "topic", topic, "err", err, "dropped_total", in.malformed.Load())
	})
}

// Run stores queued messages until ctx ends.
func (in *Ingest) Run(ctx context.Context) error {
	alerts := make(chan struct{})
	go func() {
		defer close(alerts)
		for {
			select {
			case m := <-in.aq:
				in.other(ctx, m)
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { <-alerts }()
	var pending []wire.EntryBatch
	var schools []string
	var timer <-chan time.Time
	flush := func() {
		if len(pending) > 0 {
			in.storeBatches(ctx, schools, pending)
			pending, schools, timer = pending[:0], schools[:0], nil
		}
	}
	for {
		select {
		case <-ctx.Done():
			flush()
			return ctx.Err()
		case <-timer:
			flush()
		case m := <-in.q:
			if m.topic.Kind != wire.KindEntry {
				in.other(ctx, m)
				continue
			}
			b, err := wire.DecodeEntryBatch(m.payload, m.topic.Gate)
			if err != nil {
				in.drop(m.topic.String(), err)
				continue
			}
			pending, schools = append(pending, b), append(schools, m.topic.School)
			if len(pending) >= in.o.MaxMessages {
				flush()
			} else if timer == nil {
				timer = time.After(in.o.MaxDelay)
			}
		}
	}
}

// storeBatches commits the entries of several messages, per school in one
// transaction each, then acks each message to its gate.
func (in *Ingest) storeBatches(ctx context.Context, schools []string, batches []wire.EntryBatch) {
	bySchool := map[string][]int{}
	for i, s := range schools {
		bySchool[s] = append(bySchool[s], i)
	}
	for school, idx := range bySchool {
		in.storeSchool(ctx, school, batches, idx)
	}
}

// storeSchool commits the batches idx of one school together; if that fails
// it tries them one by one, so one batch the store refuses cannot hold up the
// other gates' entries.
func (in *Ingest) storeSchool(ctx context.Context, school string, batches []wire.EntryBatch, idx []int) {
	var all []journal.Entry
	for _, i := range idx {
		all = append(all, batches[i].Entries...)
	}
	start := time.Now()
	ins, dup, fevers, err := in.o.Store.InsertBatch(ctx, school, all)
	if err == nil && in.o.OnCommit != nil {
		in.o.OnCommit(len(all), time.Since(start))
	}
	if err != nil && len(idx) > 1 && ctx.Err() == nil {
		for _, i := range idx {
			in.storeSchool(ctx, school, batches, []int{i})
		}
		return
	}
	if err != nil {
		// Nothing is acknowledged: the gate sends again after its ack timeout.
		in.storeFailed("storing entries failed; the gate will resend", err, false, "school", school, "gate", batches[idx[0]].Gate, "entries", len(all))
		if in.o.OnRefusedFever != nil && ctx.Err() == nil {
			for i := range all {
				if wire.DeniedFever(&all[i]) {
					in.o.OnRefusedFever(school, wire.FeverAlert(&all[i]))
				}
			}
		}
		return
	}
	if ins > 0 || len(fevers) > 0 {
		in.storeTook()
	}
	// A fever in an entry raises the alert even if the gate's own alert was
	// lost; it is raised before the acks go, as the gate's own is.
	for _, a := range fevers {
		in.raised(school, a, true)
	}
	in.entries.Add(int64(len(all)))
	in.inserted.Add(int64(ins))
	in.duplicates.Add(int64(dup))
	// One ack for a gate's batches stored together: a gate draining its
	// backlog has several in one transaction, and the broker routes, and the
	// gate takes in, one message for them instead of one each.
	type source struct{ gate, epoch string }
	var order []source
	seqs := map[source][]uint64{}
	for _, i := range idx {
		b := batches[i]
		k := source{b.Gate, b.Epoch}
		if _, ok := seqs[k]; !ok {
			order = append(order, k)
		}
		for _, e := range b.Entries {
			seqs[k] = append(seqs[k], e.Seq)
		}
	}
	for _, k := range order {
		for s := seqs[k]; len(s) > 0; {
			n := min(len(s), maxAcked)
			ack := wire.Encode(wire.Ack{V: wire.Version, Epoch: k.epoch, Ranges: wire.Ranges(s[:n])})
			s = s[n:]
			// QoS 0: an ack lost with its connection costs nothing, as the
			// gate sends everything unacknowledged again on reconnecting (and
			// after its ack timeout), and the duplicates are dropped here;
			// QoS 1 would add a PUBACK and the broker's bookkeeping to every
			// ack of a drain.
			if err := in.o.Publisher.Publish(ctx, wire.GateTopic(school, k.gate, wire.KindAck), 0, false, ack); err != nil {
				in.log.Warn("ack not sent; the gate will resend and be acked then", "gate", k.gate, "err", err)
				continue
			}
			in.acks.Add(1)
		}
	}
}

// maxAcked bounds the entries one ack covers, well inside what a gate takes
// (wire.DecodeAck: 100 × MaxBatch).
const maxAcked = 10 * wire.MaxBatch

// StoreFailing tells since when the store has refused writes, and the latest
// refusal; a zero time: it takes them. A run of refusals begins with the
// first and ends only with a write of new rows (entries, an alert): on a full
// disk an update in place (status, telemetry, an all-duplicate batch) can
// still succeed. A single refusal (a connection a restart ended) is no run.
func (in *Ingest) StoreFailing() (since time.Time, err error) {
	if f := in.failing.Load(); f != nil && f.n > 1 {
		return f.since, f.err
	}
	return time.Time{}, nil
}

// storeFailed counts a refused write and logs it: the first of a run at
// once, then a line a minute, but an alert's every time (they are few, and
// each is a person). A full disk refuses every gate's every resend, and a
// line each would fill what is left of it.
func (in *Ingest) storeFailed(msg string, err error, always bool, args ...any) {
	in.storeErrors.Add(1)
	now := time.Now()
	for {
		old := in.failing.Load()
		f := &storeFailure{since: now, err: err, n: 1}
		if old != nil {
			f.since, f.n = old.since, old.n+1
		}
		if in.failing.CompareAndSwap(old, f) {
			due := false // a minute since the last line (the run's first also starts the minute)
			in.storeWarn.Do(func() { due = true })
			if due || old == nil || always {
				in.log.Error(msg, append(args, "err", err, "refused", f.n, "since", f.since.Format(time.TimeOnly))...)
			}
			if f.n == 2 && in.o.OnStoreFailing != nil { // a run from now on
				in.o.OnStoreFailing(true)
			}
			return
		}
	}
}

// storeTook ends a run of refused writes: new rows were written.
func (in *Ingest) storeTook() {
	if in.failing.Load() == nil {
		return
	}
	if f := in.failing.Swap(nil); f != nil {
		in.log.Info("the store takes writes again", "refused", f.n, "for", time.Since(f.since).Round(time.Millisecond))
		if f.n > 1 && in.o.OnStoreFailing != nil {
			in.o.OnStoreFailing(false)
		}
	}
}

func (in *Ingest) alert(ctx context.Context, school string, a wire.Alert) {
	isNew, err := in.o.Store.InsertAlert(ctx, school, a)
	stored := err == nil
	if err != nil {
		in.storeFailed("storing alert failed (raised all the same)", err, true, "gate", a.Gate, "seq", a.Seq)
		isNew = true // better told twice than not at all
	} else if isNew {
		in.storeTook()
	}
	if isNew {
		in.raised(school, a, stored)
	}
}

// raised tells of a new alert.
func (in *Ingest) raised(school string, a wire.Alert, stored bool) {
	in.alerts.Add(1)
	if in.o.OnAlert != nil {
		in.o.OnAlert(school, a, stored)
	}
}

func (in *Ingest) other(ctx context.Context, m msg) {
	t := m.topic
	switch t.Kind {
	case wire.KindAlert:
		a, err := wire.DecodeAlert(m.payload, t.Gate)
		if err != nil {
			in.drop(t.String(), err)
			return
		}
		in.alert(ctx, t.School, a)
	case wire.KindStatus:
		if len(m.payload) == 0 { // a cleared retained message
			return
		}
		s, err := wire.DecodeStatus(m.payload)
		if err != nil {
			in.drop(t.String(), err)
			return
		}
		// A status lost as campusd stops (the gates' offline wills at
		// shutdown) is no store error: the next status or telemetry says it.
		if err := in.o.Store.GateStatus(ctx, t.School, t.Gate, s); err != nil && ctx.Err() == nil {
			in.storeFailed("storing gate status failed", err, false, "gate", t.Gate)
		}
	case wire.KindTelemetry:
		tm, err := wire.DecodeTelemetry(m.payload)
		if err != nil {
			in.drop(t.String(), err)
			return
		}
		if err := in.o.Store.GateTelemetry(ctx, t.School, t.Gate, tm); err != nil && ctx.Err() == nil {
			in.storeFailed("storing telemetry failed", err, false, "gate", t.Gate)
		}
		if in.o.OnTelemetry != nil {
			in.o.OnTelemetry(t.School, t.Gate, tm)
		}
	}
}
