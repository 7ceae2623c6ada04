package journal

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// MustOpen opens a journal in a fresh t.TempDir. At cleanup it runs Check and
// closes it (unless the test already closed it).
func MustOpen(t testing.TB, opts *Opts) *Journal {
	t.Helper()
	if opts == nil {
		opts = &Opts{}
	}
	if opts.GateID == "" {
		opts.GateID = "north-1"
	}
	return MustOpenAt(t, filepath.Join(t.TempDir(), "journal.db"), opts)
}

// MustOpenAt opens (or creates) the journal at path, with the same cleanup.
// Without a Logger in opts it logs to the test's output (shown with -v), or
// nowhere in a benchmark, whose result lines a log line would split.
func MustOpenAt(t testing.TB, path string, opts *Opts) *Journal {
	t.Helper()
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		if _, bench := t.(*testing.B); bench {
			o.Logger = slog.New(slog.DiscardHandler)
		} else {
			o.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
		}
	}
	j, err := Open(path, &o)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() {
		if j.isClosed() {
			return
		}
		if err := j.Check(); err != nil {
			t.Errorf("check at cleanup: %v", err)
		}
		if err := j.Close(); err != nil {
			t.Errorf("close at cleanup: %v", err)
		}
	})
	return j
}

// Reopen closes j and opens its file again with the same options.
func Reopen(t testing.TB, j *Journal) *Journal {
	t.Helper()
	if err := j.Check(); err != nil {
		t.Fatalf("check before reopen: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	o := j.opts
	return MustOpenAt(t, j.path, &o)
}

// sampleEntry is a realistic admission: two readings, a guard note in Chinese.
func sampleEntry(at time.Time) *Entry {
	return &Entry{
		Time: at, ClockSynced: true, MonoNS: 123456789012,
		PersonID: "p1024", Role: "pupil", Credential: "pass", Assurance: "high", Health: "green",
		Readings: []Reading{
			{SurfaceC: 35.214, BodyC: 37.456, AmbientC: 24.004, Sensor: "mlx90614", At: at.Add(-900 * time.Millisecond)},
			{SurfaceC: 34.9, BodyC: 36.6, AmbientC: 24, Sensor: "mlx90614", At: at.Add(-300 * time.Millisecond)},
		},
		BodyC: 36.6, Decision: "admit", Reason: "ok", Kind: "entry",
		Guard: &GuardAction{ID: "g7", Reason: "复测正常 retest ok"},
	}
}

func mustAppend(t testing.TB, j *Journal, e *Entry) uint64 {
	t.Helper()
	if err := j.Append(e); err != nil {
		t.Fatalf("append: %v", err)
	}
	return e.Seq
}
