package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"campusgate/gate/journal"
)

// Version is the "v" of every message. A receiver refuses a message whose v
// it does not know; fields it does not know are ignored, so adding a field
// does not need a new version.
const Version = 1

// MaxMessage is the largest payload a receiver decodes. An entry is ~600
// bytes, so a batch of MaxBatch entries stays well under it; a roster is sent
// in chunks below it.
const (
	MaxMessage = 256 << 10
	MaxBatch   = 200
)

// ErrMessage is wrapped by every decode error.
var ErrMessage = errors.New("wire: bad message")

// EntryBatch carries journal entries from one gate and one journal file
// (epoch), in seq order. Topic: .../{gate}/entry, QoS 1.
type EntryBatch struct {
	V     int    `json:"v"`
	Gate  string `json:"gate"`
	Epoch string `json:"epoch"`
	// Seqs are the entries' seqs as inclusive ranges, ahead of the entries, so
	// a receiver can tell what a batch holds without decoding it (PeekEntryBatch);
	// DecodeEntryBatch refuses a batch whose Seqs are not its entries'.
	Seqs    [][2]uint64     `json:"seqs"`
	Entries []journal.Entry `json:"entries"`
}

// NewEntryBatch is the batch of entries (all of gate and epoch), with its Seqs.
func NewEntryBatch(gate, epoch string, entries []journal.Entry) EntryBatch {
	seqs := make([]uint64, len(entries))
	for i, e := range entries {
		seqs[i] = e.Seq
	}
	return EntryBatch{V: Version, Gate: gate, Epoch: epoch, Seqs: Ranges(seqs), Entries: entries}
}

// Ack tells a gate which seqs of an epoch the server has committed. Topic:
// .../{gate}/ack, QoS 1. Ranges are inclusive [from, to] pairs.
type Ack struct {
	V      int         `json:"v"`
	Epoch  string      `json:"epoch"`
	Ranges [][2]uint64 `json:"ranges"`
}

// AlertKind says what an alert is about.
type AlertKind string

// Alert kinds.
const (
	AlertFever   AlertKind = "fever"   // a confirmed fever: the nurse and the isolation room
	AlertDevice  AlertKind = "device"  // a sensor, scanner or journal fault at the gate
	AlertCommand AlertKind = "command" // a command the gate refused (bad signature, replay, ...): Detail says why
)

// Alert is raised at once, ahead of the entry backlog. A fever alert names the
// entry (epoch, seq) that also arrives in an EntryBatch. Topic:
// .../{gate}/alert, QoS 1.
type Alert struct {
	V        int               `json:"v"`
	Kind     AlertKind         `json:"kind"`
	Gate     string            `json:"gate"`
	At       time.Time         `json:"at"`
	Epoch    string            `json:"epoch,omitempty"`
	Seq      uint64            `json:"seq,omitempty"`
	PersonID string            `json:"person_id,omitempty"`
	Name     string            `json:"name,omitempty"`
	Class    string            `json:"class,omitempty"`
	Role     string            `json:"role,omitempty"`
	BodyC    float64           `json:"body_c,omitempty"`
	Readings []journal.Reading `json:"readings,omitempty"`
	Device   string            `json:"device,omitempty"` // device alerts: which device
	Detail   string            `json:"detail,omitempty"` // device alerts: what is wrong
}

// Status is a gate's presence, retained; the broker publishes the offline
// one as the gate's Last Will. Topic: .../{gate}/status.
type Status struct {
	V       int       `json:"v"`
	State   string    `json:"state"` // online|offline
	At      time.Time `json:"at"`
	Version string    `json:"version,omitempty"` // gated build
	Epoch   string    `json:"epoch,omitempty"`
}

// Telemetry is a gate's periodic health report. Topic: .../{gate}/telemetry,
// QoS 0 (the next one replaces a lost one).
type Telemetry struct {
	V             int               `json:"v"`
	At            time.Time         `json:"at"`
	Backlog       int               `json:"backlog"`
	OldestPending *time.Time        `json:"oldest_pending,omitempty"`
	Devices       map[string]string `json:"devices"` // device → "ok" or what is wrong
	AmbientC      float64           `json:"ambient_c,omitempty"`
	Counters      Counters          `json:"counters"`
	RosterVersion uint64            `json:"roster_version"`
	ConfigVersion uint64            `json:"config_version"`
	ClockSynced   bool              `json:"clock_synced"`
	UptimeS       int64             `json:"uptime_s"`
	// Boot and MonoNS (the time since that boot) are sampled with At: a gate
	// whose clock is synchronised tells the server how its boot timeline maps
	// to real time, and entries stamped before the sync are corrected by it.
	Boot   string `json:"boot,omitempty"`
	MonoNS int64  `json:"mono_ns,omitempty"`
}

// Counters are a gate's decisions since it started.
type Counters struct {
	Admitted int `json:"admitted"`
	Denied   int `json:"denied"`
	Referred int `json:"referred"`
	Fevers   int `json:"fevers"`
}

// Roster carries the people a gate knows. A snapshot replaces the roster and
// may come in Chunks parts (Chunk 1..Chunks), applied once all have arrived;
// a delta moves version From to Version. Topic: .../{gate}/roster, QoS 1.
type Roster struct {
	V       int              `json:"v"`
	Kind    string           `json:"kind"` // snapshot|delta
	Version uint64           `json:"version"`
	From    uint64           `json:"from,omitempty"` // delta only
	Chunk   int              `json:"chunk,omitempty"`
	Chunks  int              `json:"chunks,omitempty"`
	People  []journal.Person `json:"people"`
	Remove  []string         `json:"remove,omitempty"` // delta only: person ids
}

// Keys is the full set of trusted pass-signing public keys. Retained.
type Keys struct {
	V    int   `json:"v"`
	Keys []Key `json:"keys"`
}

// Key is one Ed25519 public key (32 bytes, base64 in JSON) and its kid.
type Key struct {
	KID    string `json:"kid"`
	Public []byte `json:"public"`
}

// Revocations is the full list of revoked pass ids. Retained.
type Revocations struct {
	V      int          `json:"v"`
	Passes []Revocation `json:"passes"`
}

// Revocation is one revoked pass; Until zero means for ever.
type Revocation struct {
	ID    string    `json:"id"`
	Until time.Time `json:"until"`
}

// Config is the part of a gate's settings the school sets remotely, as a TOML
// document over the gate's own file, versioned. Retained.
type Config struct {
	V       int    `json:"v"`
	Version uint64 `json:"version"`
	TOML    string `json:"toml"`
}

// Cmd is a command to a gate, signed by the school server: Signed is a
// COSE_Sign1 (Ed25519) over the CBOR command claims, base64 in JSON. Topic:
// .../{gate}/cmd, QoS 1.
type Cmd struct {
	V      int    `json:"v"`
	Signed []byte `json:"signed"`
}

// RawBatch is the EntryBatch of entries already in their JSON form (as the
// journal stores them, in seq order), spliced in without decoding and encoding
// them again.
func RawBatch(gate, epoch string, entries []journal.RawEntry) []byte {
	return AppendRawBatch(nil, gate, epoch, entries)
}

// AppendRawBatch is RawBatch appended to dst.
func AppendRawBatch(dst []byte, gate, epoch string, entries []journal.RawEntry) []byte {
	n := 96 + len(gate) + len(epoch) + 24*len(entries)
	for _, e := range entries {
		n += len(e.JSON) + 1
	}
	b := slices.Grow(dst, n)
	b = append(b, `{"v":1,"gate":`...)
	b = append(b, Encode(gate)...)
	b = append(b, `,"epoch":`...)
	b = append(b, Encode(epoch)...)
	b = append(b, `,"seqs":[`...)
	// The entries come in seq order (from the journal), so their ranges are
	// folded as they come.
	for i := 0; i < len(entries); {
		j := i + 1
		for j < len(entries) && entries[j].Seq == entries[j-1].Seq+1 {
			j++
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendUint(b, entries[i].Seq, 10)
		b = append(b, ',')
		b = strconv.AppendUint(b, entries[j-1].Seq, 10)
		b = append(b, ']')
		i = j
	}
	b = append(b, `],"entries":[`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.JSON...)
	}
	return append(b, "]}"...)
}

// DeniedFever tells whether e is an entry that denied a fever.
func DeniedFever(e *journal.Entry) bool { return e.Reason == "fever" && e.Decision == "deny" }

// FeverAlert is the fever alert for e, an entry that denied a fever: the
// same alert (the store's AlertKey) whether the gate sends it or the server
// finds it in the entry.
func FeverAlert(e *journal.Entry) Alert {
	return Alert{V: Version, Kind: AlertFever, Gate: e.GateID, At: e.Time, Epoch: e.Epoch, Seq: e.Seq,
		PersonID: e.PersonID, Role: e.Role, BodyC: e.BodyC, Readings: e.Readings}
}

// Encode marshals a message. Messages always marshal.
func Encode(m any) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("wire: encode %T: %v", m, err))
	}
	return b
}

// decode unmarshals b into m after the checks every message shares: size,
// JSON, and the version.
func decode(b []byte, m versioned, what string) error {
	if len(b) > MaxMessage {
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrMessage, what, len(b), MaxMessage)
	}
	if err := json.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMessage, what, err)
	}
	switch v := m.version(); v {
	case Version:
		return nil
	case 0:
		return fmt.Errorf("%w: %s has no \"v\"", ErrMessage, what)
	default:
		return fmt.Errorf("%w: %s version %d, this build reads %d", ErrMessage, what, v, Version)
	}
}

// versioned is every message: one decode gives the fields and the version.
type versioned interface{ version() int }

func (m *EntryBatch) version() int  { return m.V }
func (m *Ack) version() int         { return m.V }
func (m *Alert) version() int       { return m.V }
func (m *Status) version() int      { return m.V }
func (m *Telemetry) version() int   { return m.V }
func (m *Roster) version() int      { return m.V }
func (m *Keys) version() int        { return m.V }
func (m *Revocations) version() int { return m.V }
func (m *Config) version() int      { return m.V }
func (m *Cmd) version() int         { return m.V }

func bad(what, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMessage, what, fmt.Sprintf(format, args...))
}

var decisions = map[string]bool{"admit": true, "deny": true, "refer": true}

// DecodeEntryBatch decodes and checks a batch from gate (the topic's gate):
// every entry must be that gate's, of the batch's epoch, with a seq, in
// increasing seq order, and a known decision.
func DecodeEntryBatch(b []byte, gate string) (EntryBatch, error) {
	var m EntryBatch
	if err := decode(b, &m, "entry batch"); err != nil {
		return m, err
	}
	switch {
	case m.Gate != gate:
		return m, bad("entry batch", "gate %q on topic of gate %q", m.Gate, gate)
	case m.Epoch == "" || len(m.Epoch) > 64:
		return m, bad("entry batch", "epoch %.70q", m.Epoch)
	case len(m.Entries) == 0 || len(m.Entries) > MaxBatch:
		return m, bad("entry batch", "%d entries, want 1 to %d", len(m.Entries), MaxBatch)
	}
	var prev uint64
	for i := range m.Entries {
		e := &m.Entries[i]
		switch {
		case e.GateID != gate:
			return m, bad("entry batch", "entry %d: gate %q, batch is %q's", i, e.GateID, gate)
		case e.Epoch != m.Epoch:
			return m, bad("entry batch", "entry %d: epoch %q, batch is %q", i, e.Epoch, m.Epoch)
		case e.Seq <= prev:
			return m, bad("entry batch", "entry %d: seq %d after %d", i, e.Seq, prev)
		case !decisions[e.Decision]:
			return m, bad("entry batch", "entry %d (seq %d): decision %q", i, e.Seq, e.Decision)
		case e.Time.IsZero():
			return m, bad("entry batch", "entry %d (seq %d): no time", i, e.Seq)
		}
		prev = e.Seq
	}
	seqs := make([]uint64, len(m.Entries))
	for i, e := range m.Entries {
		seqs[i] = e.Seq
	}
	if !slices.Equal(Ranges(seqs), m.Seqs) {
		return m, bad("entry batch", "seqs %v, entries hold %v", m.Seqs, Ranges(seqs))
	}
	return m, nil
}

// BatchHead is what an entry batch says of itself ahead of its entries.
type BatchHead struct {
	Gate, Epoch string
	Seqs        [][2]uint64
}

// PeekEntryBatch reads a batch's head without decoding (or checking) its
// entries: what an acker that is not the store needs, at the cost of the
// head's few bytes. The head must come before "entries", as RawBatch writes
// it; DecodeEntryBatch is the full check.
func PeekEntryBatch(b []byte, gate string) (BatchHead, error) {
	var h BatchHead
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return h, bad("entry batch", "not a JSON object")
	}
	v := 0
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return h, fmt.Errorf("%w: entry batch: %w", ErrMessage, err)
		}
		var dst any
		switch t {
		case "v":
			dst = &v
		case "gate":
			dst = &h.Gate
		case "epoch":
			dst = &h.Epoch
		case "seqs":
			dst = &h.Seqs
		case "entries":
			switch {
			case v != Version:
				return h, bad("entry batch", "version %d, this build reads %d", v, Version)
			case h.Gate != gate:
				return h, bad("entry batch", "gate %q on topic of gate %q", h.Gate, gate)
			case h.Epoch == "" || len(h.Seqs) == 0:
				return h, bad("entry batch", "no epoch or seqs ahead of the entries")
			}
			return h, nil
		default:
			dst = new(json.RawMessage)
		}
		if err := d.Decode(dst); err != nil {
			return h, fmt.Errorf("%w: entry batch: %v: %w", ErrMessage, t, err)
		}
	}
	return h, bad("entry batch", "no entries")
}

// DecodeAck decodes an ack.
func DecodeAck(b []byte) (Ack, error) {
	var m Ack
	if err := decode(b, &m, "ack"); err != nil {
		return m, err
	}
	if m.Epoch == "" {
		return m, bad("ack", "no epoch")
	}
	if len(m.Ranges) == 0 {
		return m, bad("ack", "no ranges")
	}
	n := uint64(0)
	for _, r := range m.Ranges {
		if r[0] == 0 || r[1] < r[0] {
			return m, bad("ack", "range [%d, %d]", r[0], r[1])
		}
		if n += r[1] - r[0] + 1; n > 100*MaxBatch {
			return m, bad("ack", "acknowledges more than %d seqs", 100*MaxBatch)
		}
	}
	return m, nil
}

// Seqs expands the ranges (of an ack DecodeAck took: it bounds them).
func (a Ack) Seqs() []uint64 {
	var n uint64
	for _, r := range a.Ranges {
		if r[1] >= r[0] {
			n += min(r[1]-r[0], 100*MaxBatch) + 1
		}
	}
	s := make([]uint64, 0, min(n, 100*MaxBatch)) // a drain expands 10,000: no growing a slice for each ack
	for _, r := range a.Ranges {
		for q := r[0]; q <= r[1]; q++ {
			s = append(s, q)
		}
	}
	return s
}

// Ranges folds seqs (any order, duplicates allowed) into inclusive ranges.
func Ranges(seqs []uint64) [][2]uint64 {
	if len(seqs) == 0 {
		return nil
	}
	s := slices.Clone(seqs)
	slices.Sort(s)
	out := [][2]uint64{{s[0], s[0]}}
	for _, q := range s[1:] {
		last := &out[len(out)-1]
		switch {
		case q <= last[1]:
		case q == last[1]+1:
			last[1] = q
		default:
			out = append(out, [2]uint64{q, q})
		}
	}
	return out
}

// DecodeAlert decodes an alert from gate.
func DecodeAlert(b []byte, gate string) (Alert, error) {
	var m Alert
	if err := decode(b, &m, "alert"); err != nil {
		return m, err
	}
	switch {
	case m.Gate != gate:
		return m, bad("alert", "gate %q on topic of gate %q", m.Gate, gate)
	case m.At.IsZero():
		return m, bad("alert", "no time")
	case m.Kind == AlertFever && (m.Epoch == "" || m.Seq == 0 || m.PersonID == ""):
		return m, bad("alert", "fever alert without epoch, seq and person")
	case m.Kind == AlertDevice && m.Device == "":
		return m, bad("alert", "device alert without a device")
	case m.Kind == AlertCommand && m.Detail == "":
		return m, bad("alert", "command alert without the reason")
	case m.Kind != AlertFever && m.Kind != AlertDevice && m.Kind != AlertCommand:
		return m, bad("alert", "kind %q", m.Kind)
	}
	return m, nil
}

// DecodeStatus decodes a status message.
func DecodeStatus(b []byte) (Status, error) {
	var m Status
	if err := decode(b, &m, "status"); err != nil {
		return m, err
	}
	if m.State != "online" && m.State != "offline" {
		return m, bad("status", "state %q", m.State)
	}
	return m, nil
}

// DecodeTelemetry decodes a telemetry message.
func DecodeTelemetry(b []byte) (Telemetry, error) {
	var m Telemetry
	if err := decode(b, &m, "telemetry"); err != nil {
		return m, err
	}
	if m.At.IsZero() {
		return m, bad("telemetry", "no time")
	}
	if m.Backlog < 0 {
		return m, bad("telemetry", "backlog %d", m.Backlog)
	}
	return m, nil
}

// DecodeRoster decodes a roster snapshot chunk or delta.
func DecodeRoster(b []byte) (Roster, error) {
	var m Roster
	if err := decode(b, &m, "roster"); err != nil {
		return m, err
	}
	switch m.Kind {
	case "snapshot":
		if m.Chunks < 1 || m.Chunk < 1 || m.Chunk > m.Chunks {
			return m, bad("roster", "snapshot chunk %d of %d", m.Chunk, m.Chunks)
		}
	case "delta":
		if m.Version <= m.From {
			return m, bad("roster", "delta %d -> %d does not move forward", m.From, m.Version)
		}
	default:
		return m, bad("roster", "kind %q", m.Kind)
	}
	if m.Version == 0 {
		return m, bad("roster", "version 0")
	}
	for i, p := range m.People {
		if p.ID == "" {
			return m, bad("roster", "person %d has no id", i)
		}
	}
	return m, nil
}

// DecodeKeys decodes the trusted key set.
func DecodeKeys(b []byte) (Keys, error) {
	var m Keys
	if err := decode(b, &m, "keys"); err != nil {
		return m, err
	}
	for _, k := range m.Keys {
		if k.KID == "" || len(k.Public) != 32 {
			return m, bad("keys", "key %q: %d bytes, want an Ed25519 public key (32)", k.KID, len(k.Public))
		}
	}
	return m, nil
}

// DecodeRevocations decodes the revocation list.
func DecodeRevocations(b []byte) (Revocations, error) {
	var m Revocations
	if err := decode(b, &m, "revocations"); err != nil {
		return m, err
	}
	for i, r := range m.Passes {
		if r.ID == "" {
			return m, bad("revocations", "pass %d has no id", i)
		}
	}
	return m, nil
}

// DecodeConfig decodes a config message (the TOML is checked by the gate).
func DecodeConfig(b []byte) (Config, error) {
	var m Config
	if err := decode(b, &m, "config"); err != nil {
		return m, err
	}
	if m.Version == 0 {
		return m, bad("config", "version 0")
	}
	return m, nil
}

// DecodeCmd decodes a command envelope (the signature is checked by Commands).
func DecodeCmd(b []byte) (Cmd, error) {
	var m Cmd
	if err := decode(b, &m, "cmd"); err != nil {
		return m, err
	}
	if len(m.Signed) == 0 {
		return m, bad("cmd", "nothing signed")
	}
	return m, nil
}
