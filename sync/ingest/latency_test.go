package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/gatelink"
	"campusgate/sync/wire"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// BenchmarkAlertLatency: 200 gates, each admitting one person a second
// through its real link, and now and then a fever: the time from the gate's
// decision (its Alert call) to the server's alert handler. The baseline is one
// plain QoS 1 publish to a subscriber through the same broker, under the same
// background load.
func BenchmarkAlertLatency(b *testing.B) {
	const gates = 200
	dir := b.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "campusgate-lat-"); err == nil {
			dir = d
			b.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	addr := startBroker(b)
	store := newMemStore()
	var mu sync.Mutex
	waiting := map[string]chan time.Time{} // gate/seq → when the server saw it
	srv := startServerOpts(b, addr, store, func(_ string, a wire.Alert) {
		mu.Lock()
		c := waiting[fmt.Sprint(a.Gate, "/", a.Seq)]
		mu.Unlock()
		if c != nil {
			select {
			case c <- time.Now():
			default:
			}
		}
	})
	_ = srv
	type gate struct {
		j *journal.Journal
		l *gatelink.Link
	}
	gs := make([]gate, gates)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i := range gs {
		id := fmt.Sprintf("g%03d", i)
		j, err := journal.Open(filepath.Join(dir, id+".db"), &journal.Opts{GateID: id, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { j.Close() })
		dial, _ := gatelink.PahoDialer(gatelink.PahoOpts{Broker: "tcp://" + addr, ClientID: id})
		l, _ := gatelink.New(gatelink.Opts{School: "hz-001", Gate: id, Dial: dial, Store: j, Logger: quiet})
		gs[i] = gate{j, l}
		wg.Add(2)
		go func() { defer wg.Done(); _ = l.Run(ctx) }()
		go func() { // one person a second, staggered
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Second / gates)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				e := journal.Entry{Time: time.Now(), PersonID: "P1", Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry", BodyC: 36.5}
				if j.Append(&e) == nil {
					l.Kick()
				}
			}
		}()
	}
	for _, g := range gs {
		for !g.l.Stats().Connected {
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(1500 * time.Millisecond) // every gate admitting its person a second before the clock starts
	b.Run("ours", func(b *testing.B) {
		var lat []time.Duration
		i := 0
		for b.Loop() {
			g := gs[i%gates]
			i++
			e := journal.Entry{Time: time.Now(), PersonID: "P9", Role: "pupil", Decision: "deny", Reason: "fever", Kind: "entry", BodyC: 38.5}
			if err := g.j.Append(&e); err != nil {
				b.Fatal(err)
			}
			c := make(chan time.Time, 1)
			mu.Lock()
			waiting[fmt.Sprint(e.GateID, "/", e.Seq)] = c
			mu.Unlock()
			start := time.Now()
			g.l.Alert(e) // the flow calls this right after the journal append
			g.l.Kick()
			select {
			case at := <-c:
				lat = append(lat, at.Sub(start))
			case <-time.After(10 * time.Second):
				b.Fatal("alert never arrived")
			}
		}
		report(b, lat)
	})
	b.Run("baseline", func(b *testing.B) {
		got := make(chan time.Time, 1)
		sub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("lat-sub"))
		if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		defer sub.Disconnect(0)
		if tok := sub.Subscribe("bench/latency", 1, func(paho.Client, paho.Message) { got <- time.Now() }); tok.Wait() && tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("lat-pub"))
		if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		defer pub.Disconnect(0)
		payload := wire.Encode(wire.Alert{V: 1, Kind: wire.AlertFever, Gate: "g000", At: time.Now(), Epoch: "e", Seq: 1, PersonID: "P9", BodyC: 38.5})
		var lat []time.Duration
		for b.Loop() {
			start := time.Now()
			pub.Publish("bench/latency", 1, false, payload)
			lat = append(lat, (<-got).Sub(start))
		}
		report(b, lat)
	})
}

func report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
