package wiretest

import (
	"testing"
	"time"

	"campusgate/sync/wire"
)

func TestDocumentCoversEveryKind(t *testing.T) {
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 9, 1, 7, 30, 0, 0, time.UTC)
	good := map[wire.Kind]any{
		wire.KindKeys:        wire.Keys{V: 1, Keys: []wire.Key{{KID: "k1", Public: make([]byte, 32)}}},
		wire.KindRevocations: wire.Revocations{V: 1, Passes: []wire.Revocation{{ID: "p1", Until: at}}},
		wire.KindConfig:      wire.Config{V: 1, Version: 2, TOML: "[temperature]\nthreshold_c = 37.5\n"},
		wire.KindCmd:         wire.Cmd{V: 1, Signed: []byte{0xd2, 0x84}},
		wire.KindStatus:      wire.Status{V: 1, State: "offline", At: at},
		Report: wire.DailyReport{V: 1, School: "hz-001", Day: "2026-09-01", Revision: 1, GeneratedAt: at,
			Expected: 2, Arrived: 2, Gates: 1, GatesOnline: 1, Zero: true},
	}
	for k, m := range good {
		if err := d.Validate(k, wire.Encode(m)); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	// The document is strict enough to catch a wrong message.
	for k, bad := range map[wire.Kind]string{
		wire.KindStatus: `{"v":1,"state":"asleep","at":"2026-09-01T07:30:00Z"}`,
		wire.KindAck:    `{"v":1,"epoch":"e","ranges":[[1]]}`,
		wire.KindEntry:  `{"v":2,"gate":"g","epoch":"e","entries":[]}`,
		// A daily report carries aggregates only: a field more is refused.
		Report: `{"v":1,"school":"s","day":"2026-09-01","revision":1,"generated_at":"2026-09-01T07:30:00Z","expected":0,"arrived":0,` +
			`"absent":0,"fevers":0,"isolated":0,"denied":0,"gates":0,"gates_online":0,"zero_report":true,"person_ids":["P1"]}`,
	} {
		if err := d.Validate(k, []byte(bad)); err == nil {
			t.Errorf("%s: %s passed", k, bad)
		}
	}
}
