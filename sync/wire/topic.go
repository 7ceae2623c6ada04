package wire

import (
	"errors"
	"fmt"
	"strings"
)

// Root is the first two levels of every topic; the version changes only with
// an incompatible wire format.
const Root = "campusgate/v1"

// Kind is the last level of a gate's topic: what the message is.
type Kind string

// Gate → server.
const (
	KindEntry     Kind = "entry"     // batches of journal entries, QoS 1
	KindAlert     Kind = "alert"     // fever and device alerts, QoS 1, ahead of any backlog
	KindStatus    Kind = "status"    // online/offline, retained; offline is the Last Will
	KindTelemetry Kind = "telemetry" // backlog, sensor health, ambient, counters, every N s, QoS 0
)

// Server → gate.
const (
	KindAck         Kind = "ack"         // seqs the server has committed, QoS 1
	KindRoster      Kind = "roster"      // roster snapshots (chunked) and deltas, QoS 1
	KindKeys        Kind = "keys"        // trusted pass-signing keys, retained, QoS 1
	KindRevocations Kind = "revocations" // revoked pass ids, retained, QoS 1
	KindConfig      Kind = "config"      // the gate's settings from the school, retained, QoS 1
	KindCmd         Kind = "cmd"         // signed commands (remote open, re-sync), QoS 1
)

// Uplink are the kinds a gate publishes; Downlink the kinds it subscribes to.
var (
	Uplink   = []Kind{KindEntry, KindAlert, KindStatus, KindTelemetry}
	Downlink = []Kind{KindAck, KindRoster, KindKeys, KindRevocations, KindConfig, KindCmd}
)

// IsUplink reports whether a gate publishes k.
func (k Kind) IsUplink() bool { return contains(Uplink, k) }

// IsDownlink reports whether a gate receives k.
func (k Kind) IsDownlink() bool { return contains(Downlink, k) }

func contains(ks []Kind, k Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// ReportLevel is the third-from-last level of the district topic
// campusgate/v1/{school}/report/daily; "report" is therefore not a valid gate id.
const ReportLevel = "report"

// GateTopic is campusgate/v1/{school}/{gate}/{kind}.
func GateTopic(school, gate string, kind Kind) string {
	return Root + "/" + school + "/" + gate + "/" + string(kind)
}

// ReportTopic is the retained daily report of a school for the district:
// campusgate/v1/{school}/report/daily. It carries aggregates only.
func ReportTopic(school string) string { return Root + "/" + school + "/" + ReportLevel + "/daily" }

// SharedFilter is the subscription several campusd instances share (MQTT 5 and
// mosquitto/EMQX/mochi shared subscriptions) to receive one kind of uplink
// from every gate of every school: $share/{group}/campusgate/v1/+/+/{kind}.
func SharedFilter(group string, kind Kind) string {
	return "$share/" + group + "/" + Root + "/+/+/" + string(kind)
}

// Topic is a parsed gate topic.
type Topic struct {
	School, Gate string
	Kind         Kind
}

func (t Topic) String() string { return GateTopic(t.School, t.Gate, t.Kind) }

// ErrTopic is wrapped by every topic parse error.
var ErrTopic = errors.New("wire: not a campusgate gate topic")

// ParseTopic splits campusgate/v1/{school}/{gate}/{kind} and checks each part.
func ParseTopic(topic string) (Topic, error) {
	rest, ok := strings.CutPrefix(topic, Root+"/")
	if !ok {
		return Topic{}, fmt.Errorf("%w: %q does not start with %s/", ErrTopic, topic, Root)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return Topic{}, fmt.Errorf("%w: %q has %d levels after %s, want school/gate/kind", ErrTopic, topic, len(parts), Root)
	}
	t := Topic{School: parts[0], Gate: parts[1], Kind: Kind(parts[2])}
	if err := ValidID(t.School); err != nil {
		return Topic{}, fmt.Errorf("%w: school: %w", ErrTopic, err)
	}
	if err := ValidGateID(t.Gate); err != nil {
		return Topic{}, fmt.Errorf("%w: gate: %w", ErrTopic, err)
	}
	if !t.Kind.IsUplink() && !t.Kind.IsDownlink() {
		return Topic{}, fmt.Errorf("%w: unknown kind %q", ErrTopic, t.Kind)
	}
	return t, nil
}

// ValidID checks a school or gate id: 1 to 64 of A-Z a-z 0-9 . _ -, so that
// it is one topic level, safe in a file name and a URL path, and never an
// MQTT wildcard.
func ValidID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("id %.70q must be 1 to 64 characters", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("id %q: character %q is not one of A-Z a-z 0-9 . _ -", id, c)
		}
	}
	if id == "." || id == ".." {
		return fmt.Errorf("id %q is not allowed", id)
	}
	return nil
}

// ValidGateID is ValidID, and not the reserved level "report".
func ValidGateID(id string) error {
	if err := ValidID(id); err != nil {
		return err
	}
	if id == ReportLevel {
		return fmt.Errorf("gate id %q is reserved for the district report topic", id)
	}
	return nil
}
