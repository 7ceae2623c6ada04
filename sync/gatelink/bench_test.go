package gatelink

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/broker/mosquittotest"
	"campusgate/sync/wire"

	paho "github.com/eclipse/paho.mqtt.golang"
)

const benchSchool = "hz" // deploy/mosquitto's ACL is made for one school

// drainBroker is a broker with a server on it that acks every entry batch
// from what the batch says it holds (wire.PeekEntryBatch): as cheap a server
// as the broker's own PUBACK, so the drain is measured and not the decoding
// (sync/store's BenchmarkIngest measures the server's side).
type drainBroker struct {
	addr       string
	user, pass string // the gate's account
	stop       func()
	// brokerCPU is the broker's CPU time so far when it is a process of its
	// own (nil for the embedded broker, whose CPU is in cpu-ms/op).
	brokerCPU func() time.Duration
}

// BenchmarkDrain: 10,000 entries queued in the journal, drained end to end
// from offline (connect, publish, the server's ack, pruned from the outbox) —
// /ours — next to /baseline: plain paho connecting and publishing the same
// bytes (the same 50 batch messages, as the journal's entries spliced by
// wire.RawBatch) at QoS 1, pipelined with the same window, waiting only for
// the broker's PUBACKs. Both go through the same broker with the same server
// subscribed: the embedded mochi, and a real mosquitto with deploy/mosquitto's
// configuration where it is installed.
func BenchmarkDrain(b *testing.B) {
	const n, batch, window = 10_000, 200, 8
	dir := b.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "campusgate-bench-"); err == nil {
			dir = d
			b.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	// One journal of n queued entries, copied for each round: appending them
	// (n fsyncs) would take longer than the drain.
	template := filepath.Join(dir, "template.db")
	var payloads [][]byte
	{
		j, err := journal.Open(template, &journal.Opts{GateID: "north-1", Logger: quiet})
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
		for after := uint64(0); ; {
			es, _ := j.PendingRaw(after, batch)
			if len(es) == 0 {
				break
			}
			payloads = append(payloads, wire.RawBatch("north-1", j.Epoch(), es))
			after = es[len(es)-1].Seq
		}
		j.Close()
	}
	round := 0
	for _, env := range []struct {
		name  string
		start func(b *testing.B) drainBroker
	}{
		{"embedded", embeddedDrainBroker},
		{"mosquitto", mosquittoDrainBroker},
	} {
		b.Run(env.name+"/ours", func(b *testing.B) {
			var cpu, bcpu time.Duration
			for range b.N {
				b.StopTimer()
				br := env.start(b)
				round++
				path := filepath.Join(dir, fmt.Sprintf("drain-%d.db", round))
				if err := copyFile(template, path); err != nil {
					b.Fatal(err)
				}
				j, err := journal.Open(path, &journal.Opts{GateID: "north-1", Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				dial, _ := PahoDialer(PahoOpts{Broker: "tcp://" + br.addr, ClientID: "north-1", Username: br.user, Password: br.pass})
				var acked int
				drained := make(chan struct{})
				l, _ := New(Opts{School: benchSchool, Gate: "north-1", Dial: dial, Store: j, Logger: quiet, Batch: batch, Window: window,
					Acked: func(k int) {
						if acked += k; acked == n {
							close(drained)
						}
					}})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				b.StartTimer()
				c0 := cpuTime()
				m0 := br.cpuNow()
				go func() { defer close(done); _ = l.Run(ctx) }()
				select {
				case <-drained: // every entry's ack committed
				case <-time.After(time.Minute):
					b.Fatalf("drain stuck: %+v", l.Stats())
				}
				b.StopTimer()
				cpu += cpuTime() - c0
				bcpu += br.cpuNow() - m0
				if left, err := j.Backlog(); left != 0 || err != nil { // and the journal says so
					b.Fatalf("acked %d but backlog %d, %v", l.Stats().Acked, left, err)
				}
				cancel()
				<-done
				j.Close()
				os.Remove(path)
				br.stop()
			}
			reportDrain(b, n, cpu, bcpu)
		})
		b.Run(env.name+"/baseline", func(b *testing.B) {
			var cpu, bcpu time.Duration
			for range b.N {
				b.StopTimer()
				br := env.start(b)
				topic := wire.GateTopic(benchSchool, "north-1", wire.KindEntry)
				b.StartTimer()
				c0 := cpuTime()
				m0 := br.cpuNow()
				// From offline, as ours: connect, then publish.
				c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + br.addr).SetClientID("north-1").
					SetUsername(br.user).SetPassword(br.pass).SetCleanSession(false).SetProtocolVersion(4))
				if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
					b.Fatal(tok.Error())
				}
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
				cpu += cpuTime() - c0
				bcpu += br.cpuNow() - m0
				c.Disconnect(0)
				br.stop()
			}
			reportDrain(b, n, cpu, bcpu)
		})
	}
}

func embeddedDrainBroker(b *testing.B) drainBroker {
	br := startBroker(b, "127.0.0.1:0")
	newFakeServer(b, br) // in a benchmark it acks from the batch's head
	return drainBroker{addr: br.addr, stop: br.stop}
}

// mosquittoDrainBroker is a real mosquitto (skipped where it is not
// installed) with the acking server as its own MQTT client, as campusd is.
func mosquittoDrainBroker(b *testing.B) drainBroker {
	const gatePW, serverPW = "north-gate-password-0123", "campusd-server-password-01"
	mq := mosquittotest.Start(b, mosquittotest.Opts{School: benchSchool,
		Users: map[string]string{"north-1": gatePW, "campusd@" + benchSchool: serverPW}})
	srv := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + mq.Addr).SetClientID("campusd@" + benchSchool).
		SetUsername("campusd@" + benchSchool).SetPassword(serverPW).SetProtocolVersion(4).SetOrderMatters(false))
	if tok := srv.Connect(); tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	tok := srv.Subscribe(wire.Root+"/"+benchSchool+"/+/"+string(wire.KindEntry), 1, func(c paho.Client, m paho.Message) {
		tp, err := wire.ParseTopic(m.Topic())
		if err != nil {
			b.Errorf("topic %q: %v", m.Topic(), err)
			return
		}
		h, err := wire.PeekEntryBatch(m.Payload(), tp.Gate)
		if err != nil {
			b.Errorf("entry batch: %v", err)
			return
		}
		c.Publish(wire.GateTopic(tp.School, tp.Gate, wire.KindAck), 0, false, wire.Encode(wire.Ack{V: 1, Epoch: h.Epoch, Ranges: h.Seqs}))
	})
	if tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	return drainBroker{addr: mq.Addr, user: "north-1", pass: gatePW, stop: func() { srv.Disconnect(0); mq.Stop() }, brokerCPU: mq.CPU}
}

// reportDrain reports a drain benchmark's rate and its CPU, the broker's
// where it is a process of its own.
func reportDrain(b *testing.B, n int, cpu, bcpu time.Duration) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/op")
	if bcpu > 0 {
		b.ReportMetric(float64(bcpu)/float64(b.N)/1e6, "broker-cpu-ms/op")
	}
}

func (d drainBroker) cpuNow() time.Duration {
	if d.brokerCPU == nil {
		return 0
	}
	return d.brokerCPU()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// cpuTime is the CPU time this process has used (all its threads: the gate's
// and the broker's and server's when they are in-process).
func cpuTime() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
