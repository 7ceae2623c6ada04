package gatelink

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// BenchmarkDrain: 10,000 entries queued in the journal, drained end to end
// (published, stored by a fake server, acknowledged, pruned from the outbox)
// through an in-process broker; the baseline publishes the same bytes (the
// same 200 batch messages) with plain paho at QoS 1, pipelined with the same
// window, and waits only for the broker's PUBACKs.
func BenchmarkDrain(b *testing.B) {
	const n, batch, window = 10_000, 50, 8
	dir := b.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "campusgate-bench-"); err == nil {
			dir = d
			b.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	var payloads [][]byte
	b.Run("ours", func(b *testing.B) {
		for i := range b.N {
			b.StopTimer()
			br := startBroker(b, "127.0.0.1:0")
			newFakeServer(b, br)
			j, err := journal.Open(filepath.Join(dir, fmt.Sprintf("drain-%d-%d.db", time.Now().UnixNano(), i)),
				&journal.Opts{GateID: "north-1", Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			for range n {
				e := journal.Entry{Time: time.Now(), PersonID: "P20260101", Role: "pupil", Credential: "pass", Assurance: "high", Health: "green",
					Readings: []journal.Reading{{SurfaceC: 34.9, BodyC: 36.6, AmbientC: 24, Sensor: "mlx90614", At: time.Now()}},
					BodyC:    36.6, Decision: "admit", Reason: "ok", Kind: "entry"}
				if err := j.Append(&e); err != nil {
					b.Fatal(err)
				}
			}
			if payloads == nil {
				for after := uint64(0); ; {
					es, _ := j.Pending(after, batch)
					if len(es) == 0 {
						break
					}
					payloads = append(payloads, wire.Encode(wire.EntryBatch{V: 1, Gate: "north-1", Epoch: j.Epoch(), Entries: es}))
					after = es[len(es)-1].Seq
				}
			}
			dial, _ := PahoDialer(PahoOpts{Broker: "tcp://" + br.addr, ClientID: "north-1"})
			l, _ := New(Opts{School: "hz-001", Gate: "north-1", Dial: dial, Store: j, Logger: quiet, Batch: batch, Window: window})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			b.StartTimer()
			go func() { defer close(done); _ = l.Run(ctx) }()
			for {
				if n, _ := j.Backlog(); n == 0 {
					break
				}
				time.Sleep(200 * time.Microsecond)
			}
			b.StopTimer()
			cancel()
			<-done
			j.Close()
			br.stop()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("baseline", func(b *testing.B) {
		if payloads == nil {
			b.Skip("needs ours first")
		}
		for range b.N {
			b.StopTimer()
			br := startBroker(b, "127.0.0.1:0")
			c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + br.addr).SetClientID("north-1").SetCleanSession(false))
			if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
				b.Fatal(tok.Error())
			}
			topic := wire.GateTopic("hz-001", "north-1", wire.KindEntry)
			b.StartTimer()
			inflight := make(chan paho.Token, window)
			for _, p := range payloads {
				if len(inflight) == window {
					if tok := <-inflight; tok.Wait() && tok.Error() != nil {
						b.Fatal(tok.Error())
					}
				}
				inflight <- c.Publish(topic, 1, false, p)
			}
			for len(inflight) > 0 {
				if tok := <-inflight; tok.Wait() && tok.Error() != nil {
					b.Fatal(tok.Error())
				}
			}
			b.StopTimer()
			c.Disconnect(0)
			br.stop()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
}
