package gatelink

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/broker/mosquittotest"
	"campusgate/sync/wire"

	paho "github.com/eclipse/paho.mqtt.golang"
)

const benchSchool = "hz" // deploy/mosquitto's ACL is made for one school

// drainBroker is a broker with a server on it that acks entry batches from
// what each says it holds (wire.PeekEntryBatch), a gate's batches that came
// together in one ack as campusd does (benchAcker): a server as cheap as the
// broker's own PUBACK, so the drain is measured and not the decoding
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
	// Each round starts its own broker and server, untimed, and drains from
	// a fresh copy of the journal (ours) or the same bytes in memory (the
	// loop).
	round := 0
	ours := func(b *testing.B, br drainBroker) drainRun {
		round++
		path := filepath.Join(dir, fmt.Sprintf("drain-%d.db", round))
		if err := copyFile(template, path); err != nil {
			b.Fatal(err)
		}
		defer os.Remove(path)
		return drainOurs(b, br, path, n, batch, window)
	}
	loop := func(b *testing.B, br drainBroker) drainRun { return drainLoop(b, br, payloads, window) }
	for _, env := range []struct {
		name  string
		start func(b *testing.B) drainBroker
	}{
		{"embedded", embeddedDrainBroker},
		{"mosquitto", mosquittoDrainBroker},
	} {
		for _, way := range []struct {
			name  string
			drain func(*testing.B, drainBroker) drainRun
		}{{"ours", ours}, {"baseline", loop}} {
			b.Run(env.name+"/"+way.name, func(b *testing.B) {
				var sum drainRun
				b.StopTimer()
				for range b.N {
					br := env.start(b)
					sum.add(way.drain(b, br))
					br.stop()
				}
				sum.report(b, n)
			})
		}
		// /paired is the figure to compare: each round is one drain of ours
		// and one of the loop, one after the other in alternating order, so
		// that the VM's drift (tens of percent from one minute to the next
		// here) falls on both alike. ratio is the loop's total time over ours.
		b.Run(env.name+"/paired", func(b *testing.B) {
			var o, l drainRun
			b.StopTimer()
			for i := range b.N {
				for k := range 2 {
					br := env.start(b)
					if (i+k)%2 == 0 {
						o.add(ours(b, br))
					} else {
						l.add(loop(b, br))
					}
					br.stop()
				}
			}
			b.ReportMetric(float64(o.wall)/float64(b.N)/1e6, "ours-ms/op")
			b.ReportMetric(float64(l.wall)/float64(b.N)/1e6, "baseline-ms/op")
			b.ReportMetric(float64(l.wall)/float64(o.wall), "ratio")
		})
	}
}

// drainRun is what one or more drains took: wall time, this process's CPU,
// and the broker's where it is a process of its own.
type drainRun struct{ wall, cpu, bcpu time.Duration }

func (r *drainRun) add(d drainRun) { r.wall += d.wall; r.cpu += d.cpu; r.bcpu += d.bcpu }

// report reports a drain benchmark's rate and its CPU.
func (r drainRun) report(b *testing.B, n int) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(r.cpu)/float64(b.N)/1e6, "cpu-ms/op")
	if r.bcpu > 0 {
		b.ReportMetric(float64(r.bcpu)/float64(b.N)/1e6, "broker-cpu-ms/op")
	}
}

// measure runs drain timed, with b's timer too (which is stopped between
// drains).
func (d drainBroker) measure(b *testing.B, drain func()) drainRun {
	b.StartTimer()
	t0, c0, m0 := time.Now(), cpuTime(), d.cpuNow()
	drain()
	r := drainRun{wall: time.Since(t0), cpu: cpuTime() - c0, bcpu: d.cpuNow() - m0}
	b.StopTimer()
	return r
}

// drainOurs drains the journal at path (n entries queued) through the link,
// timed from Run until the last entry's ack is committed.
func drainOurs(b *testing.B, br drainBroker, path string, n, batch, window int) drainRun {
	j, err := journal.Open(path, &journal.Opts{GateID: "north-1", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
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
	r := br.measure(b, func() {
		go func() { defer close(done); _ = l.Run(ctx) }()
		select {
		case <-drained: // every entry's ack committed
		case <-time.After(time.Minute):
			b.Fatalf("drain stuck: %+v", l.Stats())
		}
	})
	if left, err := j.Backlog(); left != 0 || err != nil { // and the journal says so
		b.Fatalf("acked %d but backlog %d, %v", l.Stats().Acked, left, err)
	}
	cancel()
	<-done
	return r
}

// drainLoop is the baseline: plain paho connecting and publishing payloads
// at QoS 1, pipelined with the window, waiting only for the broker's PUBACKs.
func drainLoop(b *testing.B, br drainBroker, payloads [][]byte, window int) drainRun {
	topic := wire.GateTopic(benchSchool, "north-1", wire.KindEntry)
	var c paho.Client
	r := br.measure(b, func() {
		// From offline, as ours: connect, then publish.
		c = paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + br.addr).SetClientID("north-1").
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
	})
	c.Disconnect(0)
	return r
}

func embeddedDrainBroker(b *testing.B) drainBroker {
	br, err := newTestBroker("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
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
	acks := newBenchAcker(func(tp wire.Topic, ack []byte) {
		srv.Publish(wire.GateTopic(tp.School, tp.Gate, wire.KindAck), 0, false, ack)
	})
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
		acks.add(tp, h)
	})
	if tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	return drainBroker{addr: mq.Addr, user: "north-1", pass: gatePW, stop: func() { srv.Disconnect(0); mq.Stop() }, brokerCPU: mq.CPU}
}

// benchAcker is the benchmark servers' ack, as campusd's: one for a gate's
// batches taken in together (campusd's are those of one transaction; here
// those that came while the ack before was going out), sent off the
// broker's delivery goroutine.
type benchAcker struct {
	mu      sync.Mutex
	pending map[benchSource][][2]uint64
	order   []benchSource
	sending bool
	send    func(wire.Topic, []byte)
}

type benchSource struct {
	tp    wire.Topic
	epoch string
}

func newBenchAcker(send func(wire.Topic, []byte)) *benchAcker {
	return &benchAcker{pending: map[benchSource][][2]uint64{}, send: send}
}

func (a *benchAcker) add(tp wire.Topic, h wire.BatchHead) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := benchSource{tp, h.Epoch}
	if _, ok := a.pending[k]; !ok {
		a.order = append(a.order, k)
	}
	a.pending[k] = append(a.pending[k], h.Seqs...)
	if !a.sending {
		a.sending = true
		go a.run()
	}
}

func (a *benchAcker) run() {
	for {
		a.mu.Lock()
		if len(a.order) == 0 {
			a.sending = false
			a.mu.Unlock()
			return
		}
		k := a.order[0]
		a.order = a.order[1:]
		r := a.pending[k]
		delete(a.pending, k)
		a.mu.Unlock()
		a.send(k.tp, wire.Encode(wire.Ack{V: 1, Epoch: k.epoch, Ranges: r}))
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
