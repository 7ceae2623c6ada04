package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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
	d := newDownlink(pub, slog.New(slog.DiscardHandler), "hz")
	v1 := []journal.Person{{ID: "P1", Name: "王小明", Role: "pupil"}, {ID: "P2", Name: "李华", Role: "pupil"}, {ID: "P3", Name: "张三", Role: "pupil"}}
	d.setRoster(100, v1)
	d.telemetry("hz", "north-1", wire.Telemetry{RosterVersion: 0})
	if r := pub.last(t); r.Kind != "snapshot" || r.Version != 100 || len(r.People) != 3 {
		t.Fatalf("first: %+v", r)
	}
	v2 := []journal.Person{{ID: "P1", Name: "王小明", Role: "pupil", Health: "green", HealthDate: "2026-09-01"}, {ID: "P2", Name: "李华", Role: "pupil"}, {ID: "P4", Name: "新生", Role: "pupil"}}
	d.telemetry("hz", "north-1", wire.Telemetry{RosterVersion: 100})
	d.setRoster(200, v2) // sent at once to the gates heard from
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

// topicPub records what is published, by topic kind and gate.
type topicPub struct {
	mu  sync.Mutex
	got map[string][][]byte // "gate/kind" → payloads
}

func (p *topicPub) Publish(_ context.Context, topic string, _ byte, _ bool, b []byte) error {
	tp, err := wire.ParseTopic(topic)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.got == nil {
		p.got = map[string][][]byte{}
	}
	k := tp.Gate + "/" + string(tp.Kind)
	p.got[k] = append(p.got[k], b)
	return nil
}

func (p *topicPub) wait(t *testing.T, key string, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		got := append([][]byte(nil), p.got[key]...)
		p.mu.Unlock()
		if len(got) >= n {
			time.Sleep(50 * time.Millisecond) // and no more than n
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(p.got[key]) != n {
				t.Fatalf("%s: %d messages, want %d", key, len(p.got[key]), n)
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d messages, want %d", key, len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDownlinkConfigAndRevocations: a gate with settings of its own gets
// them over the school's (merged once, sent when its telemetry shows another
// version), the others the school's alone; a change reaches the gates heard
// from at once; the revoked passes go to each gate once.
func TestDownlinkConfigAndRevocations(t *testing.T) {
	pub := &topicPub{}
	d := newDownlink(pub, slog.New(slog.DiscardHandler), "hz")
	d.setConfig(wire.Config{V: 1, Version: 10, TOML: "[temperature]\nthreshold_c = 37.5\n"})
	d.setGateConfig("north-1", wire.Config{V: 1, Version: 3, TOML: "[guard]\ntimeout = \"1m\"\n"})
	d.setRevocations(wire.Revocations{V: 1, Passes: []wire.Revocation{{ID: "pass-1", Until: time.Now().Add(time.Hour)}}})
	d.telemetry("hz", "north-1", wire.Telemetry{})
	d.telemetry("hz", "south-1", wire.Telemetry{})
	c, err := wire.DecodeConfig(pub.wait(t, "north-1/config", 1)[0])
	if err != nil || c.Version != 13 || !strings.Contains(c.TOML, "threshold_c") || !strings.Contains(c.TOML, "timeout") {
		t.Fatalf("north-1's settings: %+v %v, want its own over the school's (version 13)", c, err)
	}
	if c, _ := wire.DecodeConfig(pub.wait(t, "south-1/config", 1)[0]); c.Version != 10 || strings.Contains(c.TOML, "timeout") {
		t.Fatalf("south-1's settings: %+v, want the school's alone", c)
	}
	// The versions they now hold: nothing more to send, whatever the telemetry.
	d.telemetry("hz", "north-1", wire.Telemetry{ConfigVersion: 13})
	d.telemetry("hz", "south-1", wire.Telemetry{ConfigVersion: 10})
	pub.wait(t, "north-1/revocations", 1)
	pub.wait(t, "south-1/revocations", 1)
	// A change to the school's settings goes at once to both, north-1's merged again.
	d.setConfig(wire.Config{V: 1, Version: 11, TOML: "[temperature]\nthreshold_c = 37.6\n"})
	if c, _ := wire.DecodeConfig(pub.wait(t, "north-1/config", 2)[1]); c.Version != 14 || !strings.Contains(c.TOML, "37.6") || !strings.Contains(c.TOML, "timeout") {
		t.Fatalf("north-1 after the school's change: %+v", c)
	}
	pub.wait(t, "south-1/config", 2)
}

// heldPub holds every publish until released, and records what it was given.
type heldPub struct {
	release chan struct{}
	mu      sync.Mutex
	got     []heldMsg
}

type heldMsg struct {
	kind     wire.Kind
	retained bool
	payload  []byte
}

func (p *heldPub) Publish(_ context.Context, topic string, _ byte, retained bool, b []byte) error {
	<-p.release
	tp, err := wire.ParseTopic(topic)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.got = append(p.got, heldMsg{tp.Kind, retained, b})
	p.mu.Unlock()
	return nil
}

// TestDownlinkNewestLast: changes made while the last is still being sent
// end with the newest published, retained, so it is what the broker keeps
// for the gate and the last it delivers; those in between are not sent at
// all.
func TestDownlinkNewestLast(t *testing.T) {
	pub := &heldPub{release: make(chan struct{})}
	d := newDownlink(pub, slog.New(slog.DiscardHandler), "hz")
	d.telemetry("hz", "north-1", wire.Telemetry{}) // heard from
	for v := uint64(1); v <= 5; v++ {
		d.setConfig(wire.Config{V: 1, Version: v, TOML: fmt.Sprintf("[temperature]\nthreshold_c = 37.%d\n", v)})
		d.setRevocations(wire.Revocations{V: 1, Passes: []wire.Revocation{{ID: fmt.Sprint("pass-", v)}}})
	}
	close(pub.release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		pub.mu.Lock()
		var cfg, rev []heldMsg
		for _, m := range pub.got {
			switch m.kind {
			case wire.KindConfig:
				cfg = append(cfg, m)
			case wire.KindRevocations:
				rev = append(rev, m)
			}
		}
		pub.mu.Unlock()
		if len(cfg) > 0 && len(rev) > 0 {
			c, err := wire.DecodeConfig(cfg[len(cfg)-1].payload)
			r, rerr := wire.DecodeRevocations(rev[len(rev)-1].payload)
			if err == nil && rerr == nil && c.Version == 5 && r.Passes[0].ID == "pass-5" {
				if len(cfg) > 2 || len(rev) > 2 {
					t.Fatalf("%d settings and %d revocation documents sent, want the first and the newest", len(cfg), len(rev))
				}
				for _, m := range append(cfg, rev...) {
					if !m.retained {
						t.Errorf("%s sent not retained", m.kind)
					}
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the newest not sent last: %d settings, %d revocation documents", len(cfg), len(rev))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
