package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestMochiPacketErrors: mochi's "error processing packet" never carries the
// packet's payload (an entry batch's people) into the server's log, and one
// whose client had just closed its connection is not a warning.
func TestMochiPacketErrors(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(quietMochi{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})})
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "campusgate/v1/hz/north-1/entry",
		Payload: []byte(`{"person_id":"P20260101","name":"王小明"}`)}

	closed := fmt.Errorf("write tcp 127.0.0.1:1883->127.0.0.1:5000: %w", net.ErrClosed)
	log.Warn("error processing packet", "error", closed, "client", "north-1", "pk", pk)
	if buf.Len() != 0 {
		t.Errorf("a closed connection's packet error logged at info: %s", buf.String())
	}

	log.Warn("error processing packet", "error", errors.New("malformed"), "client", "north-1", "pk", pk)
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "topic=campusgate/v1/hz/north-1/entry") || !strings.Contains(out, "malformed") {
		t.Errorf("the warning lost what it needs: %s", out)
	}
	for _, secret := range []string{"P20260101", "王小明", "Payload"} {
		if strings.Contains(out, secret) {
			t.Errorf("the warning carries the packet's payload (%q): %s", secret, out)
		}
	}

	// With debug on, the closed connection's line is there, as debug.
	buf.Reset()
	debug := slog.New(quietMochi{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})})
	r := slog.NewRecord(time.Now(), slog.LevelWarn, "error processing packet", 0)
	r.AddAttrs(slog.Any("error", closed), slog.Any("pk", pk))
	if err := debug.Handler().Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "level=DEBUG") || strings.Contains(buf.String(), "P20260101") {
		t.Errorf("with -v: %s", buf.String())
	}
}
