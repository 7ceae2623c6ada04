package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"campusgate/gate/journal"
	"campusgate/sync/wire"
)

type recPub struct {
	mu  sync.Mutex
	got []wire.Roster
}

func (p *recPub) Publish(_ context.Context, _ string, _ byte, _ bool, b []byte) error {
	r, err := wire.DecodeRoster(b)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.got = append(p.got, r)
	p.mu.Unlock()
	return nil
}

func (p *recPub) last(t *testing.T) wire.Roster {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		n := len(p.got)
		var r wire.Roster
		if n > 0 {
			r = p.got[n-1]
			p.got = nil
		}
		p.mu.Unlock()
		if n > 0 {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing sent")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRosterSnapshotThenDelta(t *testing.T) {
	pub := &recPub{}
	d := &downlink{pub: pub, log: slog.New(slog.DiscardHandler), school: "hz"}
	v1 := []journal.Person{{ID: "P1", Name: "王小明", Role: "pupil"}, {ID: "P2", Name: "李华", Role: "pupil"}, {ID: "P3", Name: "张三", Role: "pupil"}}
	d.setRoster(100, v1)
	d.telemetry("hz", "north-1", wire.Telemetry{RosterVersion: 0})
	if r := pub.last(t); r.Kind != "snapshot" || r.Version != 100 || len(r.People) != 3 {
		t.Fatalf("first: %+v", r)
	}
	v2 := []journal.Person{{ID: "P1", Name: "王小明", Role: "pupil", Health: "green", HealthDate: "2026-09-01"}, {ID: "P2", Name: "李华", Role: "pupil"}, {ID: "P4", Name: "新生", Role: "pupil"}}
	d.setRoster(200, v2)
	d.telemetry("hz", "north-1", wire.Telemetry{RosterVersion: 100})
	r := pub.last(t)
	if r.Kind != "delta" || r.From != 100 || r.Version != 200 || len(r.People) != 2 || len(r.Remove) != 1 || r.Remove[0] != "P3" {
		t.Fatalf("delta: %+v", r)
	}
	// A gate further behind gets the whole roster.
	d.telemetry("hz", "south-1", wire.Telemetry{RosterVersion: 7})
	if r := pub.last(t); r.Kind != "snapshot" || r.Version != 200 {
		t.Fatalf("behind: %+v", r)
	}
}
