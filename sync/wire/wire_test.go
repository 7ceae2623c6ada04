package wire

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"campusgate/gate/journal"
)

func TestTopics(t *testing.T) {
	if got := GateTopic("hz-001", "north-1", KindEntry); got != "campusgate/v1/hz-001/north-1/entry" {
		t.Fatal(got)
	}
	if got := ReportTopic("hz-001"); got != "campusgate/v1/hz-001/report/daily" {
		t.Fatal(got)
	}
	if got := SharedFilter("campusd", KindAlert); got != "$share/campusd/campusgate/v1/+/+/alert" {
		t.Fatal(got)
	}
	tp, err := ParseTopic("campusgate/v1/hz-001/north-1/ack")
	if err != nil || tp != (Topic{"hz-001", "north-1", KindAck}) || !tp.Kind.IsDownlink() || tp.Kind.IsUplink() {
		t.Fatalf("%+v %v", tp, err)
	}
	for _, bad := range []string{
		"campusgate/v2/hz/north-1/entry", "campusgate/v1/hz/north-1", "campusgate/v1/hz/north-1/entry/x",
		"campusgate/v1/hz/+/entry", "campusgate/v1/hz/#/entry", "campusgate/v1/hz/north-1/bogus",
		"campusgate/v1/hz/report/entry", "campusgate/v1//north-1/entry", "campusgate/v1/hz/../entry",
		"campusgate/v1/" + strings.Repeat("x", 65) + "/g/entry", "campusgate/v1/学校/g/entry",
	} {
		if _, err := ParseTopic(bad); !errors.Is(err, ErrTopic) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}

func entry(seq uint64) journal.Entry {
	return journal.Entry{V: 1, GateID: "north-1", Epoch: "e1", Seq: seq, Time: time.Date(2026, 9, 1, 7, 31, 0, 0, time.UTC),
		PersonID: "P1", Role: "pupil", Decision: "admit", Reason: "ok", Kind: "entry",
		Readings: []journal.Reading{{SurfaceC: 34.9, BodyC: 36.6, AmbientC: 24, Sensor: "mlx90614"}}}
}

func TestEntryBatch(t *testing.T) {
	m := NewEntryBatch("north-1", "e1", []journal.Entry{entry(3), entry(4)})
	got, err := DecodeEntryBatch(Encode(m), "north-1")
	if err != nil || len(got.Entries) != 2 || got.Entries[1].Seq != 4 || got.Entries[0].Readings[0].BodyC != 36.6 {
		t.Fatalf("%+v %v", got, err)
	}
	mut := func(f func(*EntryBatch)) []byte {
		c := m
		c.Entries = []journal.Entry{entry(3), entry(4)}
		f(&c)
		return Encode(c)
	}
	for name, b := range map[string][]byte{
		"other gate":     mut(func(c *EntryBatch) { c.Gate = "south-2" }),
		"entry of other": mut(func(c *EntryBatch) { c.Entries[1].GateID = "south-2" }),
		"other epoch":    mut(func(c *EntryBatch) { c.Entries[0].Epoch = "e0" }),
		"seq order":      mut(func(c *EntryBatch) { c.Entries[1].Seq = 3 }),
		"seq zero":       mut(func(c *EntryBatch) { c.Entries[0].Seq = 0 }),
		"seqs not its":   mut(func(c *EntryBatch) { c.Seqs = [][2]uint64{{3, 5}} }),
		"no seqs":        mut(func(c *EntryBatch) { c.Seqs = nil }),
		"decision":       mut(func(c *EntryBatch) { c.Entries[0].Decision = "maybe" }),
		"no time":        mut(func(c *EntryBatch) { c.Entries[0].Time = time.Time{} }),
		"empty":          mut(func(c *EntryBatch) { c.Entries = nil }),
		"version":        mut(func(c *EntryBatch) { c.V = 2 }),
		"no version":     []byte(`{"gate":"north-1","epoch":"e1","entries":[]}`),
		"not json":       []byte("\x00\x01garbage"),
		"two values":     append(Encode(m), []byte(` {}`)...),
		"too big":        []byte(`{"v":1,"gate":"` + strings.Repeat("x", MaxMessage) + `"}`),
	} {
		if _, err := DecodeEntryBatch(b, "north-1"); !errors.Is(err, ErrMessage) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}

func TestPeekEntryBatch(t *testing.T) {
	raw := func(seqs ...uint64) []journal.RawEntry {
		var out []journal.RawEntry
		for _, q := range seqs {
			out = append(out, journal.RawEntry{Seq: q, JSON: Encode(entry(q))})
		}
		return out
	}
	b := RawBatch("north-1", "e1", raw(3, 4, 5, 9))
	h, err := PeekEntryBatch(b, "north-1")
	want := [][2]uint64{{3, 5}, {9, 9}}
	if err != nil || h.Epoch != "e1" || h.Gate != "north-1" || !slices.Equal(h.Seqs, want) {
		t.Fatalf("%+v %v", h, err)
	}
	m, err := DecodeEntryBatch(b, "north-1") // what RawBatch splices is a batch the full decoder takes
	if err != nil || len(m.Entries) != 4 || !slices.Equal(m.Seqs, want) {
		t.Fatalf("%+v %v", m, err)
	}
	if p, err := PeekEntryBatch(Encode(m), "north-1"); err != nil || !slices.Equal(p.Seqs, want) {
		t.Fatalf("peek of an encoded batch: %+v %v", p, err)
	}
	for name, b := range map[string]string{
		"other gate":  `{"v":1,"gate":"south-2","epoch":"e1","seqs":[[1,1]],"entries":[]}`,
		"version":     `{"v":2,"gate":"north-1","epoch":"e1","seqs":[[1,1]],"entries":[]}`,
		"seqs after":  `{"v":1,"gate":"north-1","epoch":"e1","entries":[],"seqs":[[1,1]]}`,
		"no entries":  `{"v":1,"gate":"north-1","epoch":"e1","seqs":[[1,1]]}`,
		"not json":    "\x00garbage",
		"array":       `[1,2]`,
		"bad seqs":    `{"v":1,"gate":"north-1","epoch":"e1","seqs":"x","entries":[]}`,
		"cut in half": `{"v":1,"gate":"north-1","ep`,
	} {
		if _, err := PeekEntryBatch([]byte(b), "north-1"); !errors.Is(err, ErrMessage) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}

func TestAckRanges(t *testing.T) {
	r := Ranges([]uint64{7, 3, 4, 5, 5, 9, 8, 12})
	want := [][2]uint64{{3, 5}, {7, 9}, {12, 12}}
	if len(r) != len(want) {
		t.Fatalf("%v", r)
	}
	for i := range r {
		if r[i] != want[i] {
			t.Fatalf("%v, want %v", r, want)
		}
	}
	a, err := DecodeAck(Encode(Ack{V: 1, Epoch: "e1", Ranges: r}))
	if err != nil || fmt.Sprint(a.Seqs()) != "[3 4 5 7 8 9 12]" {
		t.Fatalf("%+v %v: %v", a, err, a.Seqs())
	}
	for _, b := range []string{`{"v":1,"epoch":"e1","ranges":[[5,3]]}`, `{"v":1,"epoch":"e1","ranges":[[0,3]]}`,
		`{"v":1,"epoch":"","ranges":[[1,3]]}`, `{"v":1,"epoch":"e1","ranges":[]}`, `{"v":1,"epoch":"e1","ranges":[[1,99999999]]}`} {
		if _, err := DecodeAck([]byte(b)); !errors.Is(err, ErrMessage) {
			t.Errorf("%s accepted", b)
		}
	}
}

func TestOtherMessages(t *testing.T) {
	at := time.Date(2026, 9, 1, 7, 31, 0, 0, time.UTC)
	if _, err := DecodeAlert(Encode(Alert{V: 1, Kind: AlertFever, Gate: "north-1", At: at, Epoch: "e1", Seq: 3, PersonID: "P1", BodyC: 38.2}), "north-1"); err != nil {
		t.Error(err)
	}
	if _, err := DecodeAlert(Encode(Alert{V: 1, Kind: AlertFever, Gate: "north-1", At: at}), "north-1"); err == nil {
		t.Error("fever alert without its entry accepted")
	}
	if _, err := DecodeAlert(Encode(Alert{V: 1, Kind: AlertDevice, Gate: "south-2", At: at, Device: "sensor"}), "north-1"); err == nil {
		t.Error("alert of another gate accepted")
	}
	if _, err := DecodeStatus(Encode(Status{V: 1, State: "online", At: at})); err != nil {
		t.Error(err)
	}
	if _, err := DecodeStatus(Encode(Status{V: 1, State: "sleepy", At: at})); err == nil {
		t.Error("bad state accepted")
	}
	if _, err := DecodeTelemetry(Encode(Telemetry{V: 1, At: at, Backlog: 3})); err != nil {
		t.Error(err)
	}
	if _, err := DecodeRoster(Encode(Roster{V: 1, Kind: "snapshot", Version: 4, Chunk: 1, Chunks: 2, People: []journal.Person{{ID: "P1"}}})); err != nil {
		t.Error(err)
	}
	for _, r := range []Roster{
		{V: 1, Kind: "snapshot", Version: 4, Chunk: 3, Chunks: 2},
		{V: 1, Kind: "delta", Version: 4, From: 4},
		{V: 1, Kind: "delta", Version: 5, From: 4, People: []journal.Person{{Name: "无名"}}},
		{V: 1, Kind: "bulk", Version: 5},
	} {
		if _, err := DecodeRoster(Encode(r)); err == nil {
			t.Errorf("roster %+v accepted", r)
		}
	}
	if _, err := DecodeKeys(Encode(Keys{V: 1, Keys: []Key{{KID: "k1", Public: make([]byte, 32)}}})); err != nil {
		t.Error(err)
	}
	if _, err := DecodeKeys(Encode(Keys{V: 1, Keys: []Key{{KID: "k1", Public: make([]byte, 31)}}})); err == nil {
		t.Error("short key accepted")
	}
	if _, err := DecodeRevocations(Encode(Revocations{V: 1, Passes: []Revocation{{ID: ""}}})); err == nil {
		t.Error("revocation without id accepted")
	}
	if _, err := DecodeConfig(Encode(Config{V: 1, Version: 0})); err == nil {
		t.Error("config version 0 accepted")
	}
	if _, err := DecodeCmd(Encode(Cmd{V: 1})); err == nil {
		t.Error("empty cmd accepted")
	}
}

// FuzzDecoders feeds the same bytes to every decoder, the gate's and the
// server's: none may panic, every refusal wraps ErrMessage, and a message one
// accepts must survive a round trip (its encoding decodes, and encodes to the
// same bytes again).
func FuzzDecoders(f *testing.F) {
	f.Add(Encode(NewEntryBatch("north-1", "e1", []journal.Entry{entry(1)})))
	f.Add(Encode(Ack{V: 1, Epoch: "e1", Ranges: [][2]uint64{{1, 4}}}))
	f.Add(Encode(Roster{V: 1, Kind: "delta", Version: 2, From: 1, Remove: []string{"P1"}}))
	f.Add([]byte(`{"v":1,"state":"online"}`))
	f.Add([]byte(`{"v":1,"kind":"fever","gate":"north-1","at":"2026-09-01T07:31:00Z","epoch":"e","seq":1,"person_id":"P"}`))
	f.Add([]byte(`{"v":1,"kind":"snapshot","version":3,"chunk":1,"chunks":2,"people":[{"id":"P1","name":"王小明"}]}`))
	f.Add([]byte(`{"v":1,"keys":[{"kid":"k1","public":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}`))
	f.Add([]byte(`{"v":1,"version":4,"toml":"[temperature]\nthreshold_c = 37.5\n"}`))
	f.Add([]byte(`{"v":1,"signed":"0oRDoQEnoFkBAA=="}`))
	f.Add([]byte(`{"v":1,"at":"2026-09-01T07:31:00Z","backlog":3}`))
	f.Add([]byte(`{"v":1,"passes":[{"id":"x"}]}`))
	f.Add([]byte(`{"v":1,"gate":"north-1","epoch":"e","seqs":[[1,1]],"entries":[{}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip := func(what string, dec func([]byte) (any, error)) {
			m, err := dec(b)
			if err != nil {
				if !errors.Is(err, ErrMessage) {
					t.Fatalf("%s: refusal without ErrMessage: %v", what, err)
				}
				return
			}
			enc := Encode(m)
			again, err := dec(enc)
			if err != nil {
				t.Fatalf("%s does not round-trip: %v\n%s", what, err, enc)
			}
			if enc2 := Encode(again); !bytes.Equal(enc, enc2) {
				t.Fatalf("%s changes through a round trip:\n%s\n%s", what, enc, enc2)
			}
		}
		roundTrip("entry batch", func(b []byte) (any, error) { return DecodeEntryBatch(b, "north-1") })
		roundTrip("ack", func(b []byte) (any, error) { return DecodeAck(b) })
		roundTrip("alert", func(b []byte) (any, error) { return DecodeAlert(b, "north-1") })
		roundTrip("status", func(b []byte) (any, error) { return DecodeStatus(b) })
		roundTrip("telemetry", func(b []byte) (any, error) { return DecodeTelemetry(b) })
		roundTrip("roster", func(b []byte) (any, error) { return DecodeRoster(b) })
		roundTrip("keys", func(b []byte) (any, error) { return DecodeKeys(b) })
		roundTrip("revocations", func(b []byte) (any, error) { return DecodeRevocations(b) })
		roundTrip("config", func(b []byte) (any, error) { return DecodeConfig(b) })
		roundTrip("cmd", func(b []byte) (any, error) { return DecodeCmd(b) })
		if m, err := DecodeEntryBatch(b, "north-1"); err == nil {
			if h, err := PeekEntryBatch(Encode(m), "north-1"); err != nil || !slices.Equal(h.Seqs, m.Seqs) {
				t.Fatalf("peek disagrees with the decoder: %+v %v", h, err)
			}
		}
		if h, err := PeekEntryBatch(b, "north-1"); err == nil && (h.Gate != "north-1" || h.Epoch == "" || len(h.Seqs) == 0) {
			t.Fatalf("peek accepted a head without gate, epoch or seqs: %+v", h)
		}
	})
}

// FuzzParseTopic: a topic parses to one whose parts are valid ids and that
// prints back as the same topic, or is refused with ErrTopic.
func FuzzParseTopic(f *testing.F) {
	for _, k := range append(slices.Clone(Uplink), Downlink...) {
		f.Add(GateTopic("hz-001", "north-1", k))
	}
	f.Add("campusgate/v1/hz-001/report/entry")
	f.Add("campusgate/v1/+/#/entry")
	f.Add("campusgate/v1/../north-1/ack")
	f.Add("campusgate/v1/hz-001/north-1/entry/x")
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTopic(s)
		if err != nil {
			if !errors.Is(err, ErrTopic) {
				t.Fatalf("refusal without ErrTopic: %v", err)
			}
			return
		}
		if tp.String() != s || ValidID(tp.School) != nil || ValidGateID(tp.Gate) != nil || tp.Kind.IsUplink() == tp.Kind.IsDownlink() {
			t.Fatalf("%q parsed to %+v", s, tp)
		}
	})
}
