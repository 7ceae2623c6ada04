package ingest

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"
)

// recPub records what ingest publishes (the acks).
type recPub struct {
	mu   sync.Mutex
	msgs map[string][][]byte
}

func (p *recPub) Publish(_ context.Context, topic string, _ byte, _ bool, b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs[topic] = append(p.msgs[topic], b)
	return nil
}

// FuzzHandle is the server's own path for what gates send (Handle, then the
// workers), with a memory store: any topic and payload is stored or counted
// malformed, never a panic, and ingest takes exactly what the wire decoders
// accept for the topic's gate, stores it under that gate, and acks each
// stored batch's seqs to that gate.
func FuzzHandle(f *testing.F) {
	at := time.Date(2026, 9, 1, 7, 31, 0, 0, time.UTC)
	topic := func(k wire.Kind) string { return wire.GateTopic("hz-001", "north-1", k) }
	fever := journal.Entry{GateID: "north-1", Epoch: "e1", Seq: 7, Time: at, PersonID: "P1", Decision: "deny", Reason: "fever", BodyC: 38.4}
	f.Add(topic(wire.KindEntry), wire.Encode(wire.NewEntryBatch("north-1", "e1", []journal.Entry{
		{GateID: "north-1", Epoch: "e1", Seq: 5, Time: at, PersonID: "P2", Decision: "admit"}, fever})))
	f.Add(topic(wire.KindEntry), []byte(`{"v":1,"gate":"south-2","epoch":"e","entries":[]}`))
	f.Add(topic(wire.KindAlert), wire.Encode(wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "north-1", At: at, Epoch: "e1", Seq: 7, PersonID: "P1"}))
	f.Add(topic(wire.KindAlert), []byte(`{"v":1,"kind":"device","gate":"north-1","at":"2026-09-01T07:31:00Z","device":"scanner"}`))
	f.Add(topic(wire.KindStatus), []byte(`{"v":1,"state":"online"}`))
	f.Add(topic(wire.KindStatus), []byte{})
	f.Add(topic(wire.KindTelemetry), []byte(`{"v":1,"at":"2026-09-01T07:31:00Z","backlog":3}`))
	f.Add(topic(wire.KindAck), []byte(`{"v":1,"epoch":"e1","ranges":[[1,2]]}`))
	f.Add("campusgate/v1/hz-001/+/entry", []byte("{}"))
	f.Add(topic(wire.KindEntry), []byte("\x00garbage"))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		store, pub := newMemStore(), &recPub{msgs: map[string][][]byte{}}
		in, err := New(Opts{Store: store, Publisher: pub, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- in.Run(ctx) }()
		in.Handle(ctx, topic, payload)
		for in.Queued() > 0 {
			runtime.Gosched()
		}
		cancel()
		<-done

		st := in.Stats()
		tp, err := wire.ParseTopic(topic)
		var ok bool // what the wire decoders say of the message
		switch {
		case err != nil || !tp.Kind.IsUplink():
		case tp.Kind == wire.KindEntry:
			var b wire.EntryBatch
			if b, err = wire.DecodeEntryBatch(payload, tp.Gate); err == nil {
				ok = true
				if len(store.entries) != len(b.Entries) || st.Inserted != int64(len(b.Entries)) {
					t.Fatalf("stored %d of %d entries", len(store.entries), len(b.Entries))
				}
				for _, e := range store.entries {
					if e.GateID != tp.Gate {
						t.Fatalf("entry of gate %q stored from %q's topic", e.GateID, tp.Gate)
					}
				}
				acks := pub.msgs[wire.GateTopic(tp.School, tp.Gate, wire.KindAck)]
				if len(acks) != 1 || len(pub.msgs) != 1 {
					t.Fatalf("acks %q", pub.msgs)
				}
				a, err := wire.DecodeAck(acks[0])
				if err != nil || a.Epoch != b.Epoch || !slices.Equal(a.Ranges, b.Seqs) {
					t.Fatalf("ack %s for seqs %v: %v", acks[0], b.Seqs, err)
				}
			}
		case tp.Kind == wire.KindAlert:
			if _, err = wire.DecodeAlert(payload, tp.Gate); err == nil {
				ok = true
				if len(store.alerts) != 1 {
					t.Fatalf("%d alerts stored", len(store.alerts))
				}
				for _, a := range store.alerts {
					if a.Gate != tp.Gate {
						t.Fatalf("alert of gate %q stored from %q's topic", a.Gate, tp.Gate)
					}
				}
			}
		case tp.Kind == wire.KindStatus:
			if _, err = wire.DecodeStatus(payload); err == nil {
				ok = true
				if _, stored := store.status[tp.Gate]; !stored {
					t.Fatal("status not stored")
				}
			}
			ok = ok || len(payload) == 0 // a cleared retained status is not malformed
		case tp.Kind == wire.KindTelemetry:
			if _, err = wire.DecodeTelemetry(payload); err == nil {
				ok = true
				if _, stored := store.tele[tp.Gate]; !stored {
					t.Fatal("telemetry not stored")
				}
			}
		}
		if st.Messages != 1 || (st.Malformed == 0) != ok {
			t.Fatalf("decoders say ok=%v (%v), ingest counted %+v", ok, err, st)
		}
		if !ok && (len(store.entries) > 0 || len(store.status) > 0 || len(store.tele) > 0 || len(store.alerts) > 0 || len(pub.msgs) > 0) {
			t.Fatalf("a refused message left something behind: %+v %q", store, pub.msgs)
		}
	})
}
