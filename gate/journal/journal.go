package journal

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/time/rate"
)

// SchemaVersion is the version of the file layout and of Entry (Entry.V).
const SchemaVersion = 1

// Sentinel errors; every returned error wraps one of these where a caller must
// branch, and names the file or the record that failed.
var (
	// ErrLocked: another Journal (another gated, or this process) holds the
	// file.
	ErrLocked = errors.New("journal file is locked: already open")
	// ErrFull: the file reached Opts.MaxSize or the disk is full. The flow
	// must fail safe (keep the gate shut) and say why.
	ErrFull = errors.New("journal full")
	// ErrEpoch: an acknowledgement names another journal file's epoch.
	ErrEpoch = errors.New("wrong journal epoch")
	// ErrUnknownSeq: an acknowledgement names a seq this journal never assigned.
	ErrUnknownSeq = errors.New("unknown sequence number")
	// ErrVersion: a roster delta does not start at the stored version, or a
	// roster/config snapshot is older than the stored one.
	ErrVersion = errors.New("version mismatch")
	// ErrClosed: the Journal was closed.
	ErrClosed = errors.New("journal closed")
	// ErrSchema: the file was written by a newer schema this code cannot read.
	ErrSchema = errors.New("unsupported journal schema")
	// ErrCorrupt: a record in the file is not what this code wrote (a zeroed
	// or cut-off page); `gatectl journal check` tells more.
	ErrCorrupt = errors.New("journal record corrupt")
	// ErrGateMismatch: the file belongs to another gate id.
	ErrGateMismatch = errors.New("journal belongs to another gate")
)

// Opts configures Open. The zero value of each field means its default.
type Opts struct {
	// GateID names the gate; required to create a file, optional to open one
	// (then the stored id is used). It must match the stored id if both are set.
	GateID string
	// Timeout bounds the wait for the file lock (bbolt Options.Timeout).
	// Default 1s.
	Timeout time.Duration
	// MaxSize caps the file (bbolt Options.MaxSize). Default 256 MiB, which
	// still maps comfortably in a 32-bit Raspberry Pi's address space.
	MaxSize int
	// Retention is how long acknowledged entries are kept. Default 28 days.
	Retention time.Duration
	// Clock stamps creation time and entries without a time. Default real clock.
	Clock clockwork.Clock
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// NoSync skips the fsync of every commit (bbolt NoSync). Only for
	// simulations and load tests that run hundreds of journals on one disk
	// (gatectl sim fleet): an entry is then not durable when Append returns,
	// which a real gate must never allow.
	NoSync bool
}

// DefaultOpts are the defaults applied to zero fields of Opts.
var DefaultOpts = Opts{
	Timeout:   time.Second,
	MaxSize:   256 << 20,
	Retention: 28 * 24 * time.Hour,
}

const (
	minMaxSize      = 128 << 10 // below this bbolt cannot even hold its first pages
	initialMmapSize = 16 << 20  // enough for weeks of entries without remapping
)

var (
	bEntries     = []byte("entries")
	bAcked       = []byte("acked")
	bOldOutbox   = []byte("outbox") // pre-release layout: seqs not yet acknowledged
	bRoster      = []byte("roster")
	bRevocations = []byte("revocations")
	bKeys        = []byte("keys")
	bConfig      = []byte("config")
	bMeta        = []byte("meta")
	bNonces      = []byte("cmd_nonces") // nonces of the school's commands run, until they expire
	allBuckets   = [][]byte{bEntries, bAcked, bRoster, bRevocations, bKeys, bConfig, bMeta, bNonces}

	mEpoch         = []byte("epoch")
	mGateID        = []byte("gate_id")
	mCreated       = []byte("created")
	mSchema        = []byte("schema")
	mRosterVersion = []byte("roster_version")
	mConfigVersion = []byte("config_version")
	mAckedThrough  = []byte("acked_through")
)

// Journal is the gate box's local journal. It is safe for concurrent use.
type Journal struct {
	db     *bolt.DB
	path   string // absolute
	opts   Opts
	log    *slog.Logger
	epoch  string
	gateID string

	mu     sync.Mutex // guards closed
	closed bool

	warn rate.Sometimes // the rate-limited warnings, a minute apart

	rosterGen atomic.Uint64 // bumped after every roster write
	roster    atomic.Pointer[rosterIdx]
}

// Meta describes the journal file.
type Meta struct {
	Epoch         string    `json:"epoch"` // 16 random bytes, hex; new with every file
	GateID        string    `json:"gate_id"`
	Created       time.Time `json:"created"`
	Schema        int       `json:"schema"`
	RosterVersion uint64    `json:"roster_version"`
	ConfigVersion uint64    `json:"config_version"`
	AckedThrough  uint64    `json:"acked_through"` // every seq <= this is acknowledged
	LastSeq       uint64    `json:"last_seq"`      // the last seq assigned (0: none)
}

// openFiles makes a second Open of the same file in this process fail at once
// instead of waiting Timeout for a flock this process itself holds.
var openFiles sync.Map // absolute path -> struct{}

func (o *Opts) withDefaults() (Opts, error) {
	var r Opts
	if o != nil {
		r = *o
	}
	switch {
	case r.Timeout < 0:
		return r, fmt.Errorf("journal: Opts.Timeout %v is negative", r.Timeout)
	case r.MaxSize < 0:
		return r, fmt.Errorf("journal: Opts.MaxSize %d is negative", r.MaxSize)
	case r.MaxSize > 0 && r.MaxSize < minMaxSize:
		return r, fmt.Errorf("journal: Opts.MaxSize %d is below the minimum %d", r.MaxSize, minMaxSize)
	case r.Retention < 0:
		return r, fmt.Errorf("journal: Opts.Retention %v is negative", r.Retention)
	}
	if err := validGateID(r.GateID); r.GateID != "" && err != nil {
		return r, err
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultOpts.Timeout
	}
	if r.MaxSize == 0 {
		r.MaxSize = DefaultOpts.MaxSize
	}
	if r.Retention == 0 {
		r.Retention = DefaultOpts.Retention
	}
	if r.Clock == nil {
		r.Clock = clockwork.NewRealClock()
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	return r, nil
}

// validGateID keeps gate ids usable as one MQTT topic level and in file names.
func validGateID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("journal: gate id %q: want 1..64 characters", id)
	}
	for _, c := range id {
		if c <= ' ' || c == 0x7f || strings.ContainsRune("/+#\\", c) {
			return fmt.Errorf("journal: gate id %q: character %q not allowed", id, c)
		}
	}
	return nil
}

// Open opens or creates the journal at path. Options are validated before any
// file is touched. A second Open of a file that is already open (in this or
// another process) fails with ErrLocked, at once in-process and after
// Opts.Timeout across processes.
func Open(path string, opts *Opts) (*Journal, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("journal: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", path, err)
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) && o.GateID == "" {
		return nil, fmt.Errorf("journal: %s does not exist and Opts.GateID is empty: cannot create it", abs)
	}
	if _, dup := openFiles.LoadOrStore(abs, struct{}{}); dup {
		return nil, fmt.Errorf("journal: open %s: held by another Journal in this process: %w", abs, ErrLocked)
	}
	db, err := bolt.Open(abs, 0o600, boltOptions(&o))
	if err != nil {
		openFiles.Delete(abs)
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("journal: open %s: no lock after %v: %w", abs, o.Timeout, ErrLocked)
		}
		return nil, fmt.Errorf("journal: open %s: %w", abs, err)
	}
	j := &Journal{db: db, path: abs, opts: o, log: o.Logger.With("journal", abs), warn: rate.Sometimes{Interval: time.Minute}}
	if err := j.init(); err != nil {
		db.Close()
		openFiles.Delete(abs)
		return nil, err
	}
	return j, nil
}

// boltOptions are the bbolt options for o (defaults applied). NoSync is
// false but for simulations: every commit is fdatasync'd, which is the point
// of the journal.
func boltOptions(o *Opts) *bolt.Options {
	return &bolt.Options{
		Timeout:         o.Timeout,
		MaxSize:         o.MaxSize,
		InitialMmapSize: min(o.MaxSize, initialMmapSize),
		NoSync:          o.NoSync,
	}
}

// warnLimited logs at most one warning a minute: a broken journal is asked
// on every scan and would otherwise flood the log.
func (j *Journal) warnLimited(msg string, args ...any) {
	j.warn.Do(func() { j.log.Warn(msg, args...) })
}

// init creates missing buckets and the meta record of a new file, and reads
// the epoch and gate id of an existing one.
func (j *Journal) init() error {
	err := j.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		m := tx.Bucket(bMeta)
		if err := migrateOutbox(tx); err != nil {
			return fmt.Errorf("migrate outbox: %w", err)
		}
		if ep := m.Get(mEpoch); ep != nil {
			if s := getU64(m, mSchema); s > SchemaVersion {
				return fmt.Errorf("schema %d > %d: %w", s, SchemaVersion, ErrSchema)
			}
			j.epoch = string(ep)
			j.gateID = string(m.Get(mGateID))
			if j.opts.GateID != "" && j.opts.GateID != j.gateID {
				return fmt.Errorf("file is gate %q's, not %q: %w", j.gateID, j.opts.GateID, ErrGateMismatch)
			}
			return nil
		}
		var raw [16]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return fmt.Errorf("epoch: crypto/rand: %w", err)
		}
		j.epoch = hex.EncodeToString(raw[:])
		if j.opts.GateID == "" {
			// An existing but empty file (e.g. a crash right after creation).
			return errors.New("new file and Opts.GateID is empty")
		}
		j.gateID = j.opts.GateID
		created, _ := j.opts.Clock.Now().UTC().MarshalText()
		for _, kv := range [][2][]byte{
			{mEpoch, []byte(j.epoch)},
			{mGateID, []byte(j.gateID)},
			{mCreated, created},
			{mSchema, u64(SchemaVersion)},
			{mRosterVersion, u64(0)},
			{mConfigVersion, u64(0)},
			{mAckedThrough, u64(0)},
		} {
			if err := m.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		j.log.Info("journal created", "epoch", j.epoch, "gate", j.gateID)
		return nil
	})
	if err != nil {
		return j.wrap("init", err)
	}
	return nil
}

// Path is the absolute path of the file.
func (j *Journal) Path() string { return j.path }

// Epoch is the random id of this journal file; (epoch, seq) names an entry
// uniquely across file replacements.
func (j *Journal) Epoch() string { return j.epoch }

// Close closes the file. It is safe to call more than once.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	err := j.db.Close()
	openFiles.Delete(j.path)
	if err != nil {
		return fmt.Errorf("journal: close %s: %w", j.path, err)
	}
	return nil
}

// Meta reads the meta record.
func (j *Journal) Meta() (Meta, error) {
	var m Meta
	err := j.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bMeta)
		m = Meta{
			Epoch:         string(b.Get(mEpoch)),
			GateID:        string(b.Get(mGateID)),
			Schema:        int(getU64(b, mSchema)),
			RosterVersion: getU64(b, mRosterVersion),
			ConfigVersion: getU64(b, mConfigVersion),
			AckedThrough:  getU64(b, mAckedThrough),
			LastSeq:       tx.Bucket(bEntries).Sequence(),
		}
		if err := m.Created.UnmarshalText(b.Get(mCreated)); err != nil {
			return fmt.Errorf("meta created: %w", err)
		}
		return nil
	})
	return m, j.wrap("meta", err)
}

func (j *Journal) isClosed() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.closed
}

func (j *Journal) view(fn func(tx *bolt.Tx) error) error {
	if j.isClosed() {
		return ErrClosed
	}
	return j.db.View(fn)
}

func (j *Journal) update(fn func(tx *bolt.Tx) error) error {
	if j.isClosed() {
		return ErrClosed
	}
	return j.db.Update(fn)
}

// wrap names the file and the operation, and marks space errors with ErrFull.
func (j *Journal) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if isFull(err) && !errors.Is(err, ErrFull) {
		return fmt.Errorf("journal: %s %s: %w: %w", op, j.path, ErrFull, err)
	}
	return fmt.Errorf("journal: %s %s: %w", op, j.path, err)
}

// isFull recognises bbolt's max-size error, a full disk, and a file at its
// size limit (EFBIG: RLIMIT_FSIZE, or the file system's largest file), which
// leaves the journal as unable to grow as a full disk does. bbolt formats some
// write errors with %s, so the message is checked too.
func isFull(err error) bool {
	return errors.Is(err, berrors.ErrMaxSizeReached) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG) ||
		strings.Contains(err.Error(), berrors.ErrMaxSizeReached.Error()) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error()) || strings.Contains(err.Error(), syscall.EFBIG.Error())
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func seqOf(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// migrateOutbox turns the pre-release layout, a bucket listing every seq not
// yet acknowledged, into the acknowledged cursor plus the acked bucket.
func migrateOutbox(tx *bolt.Tx) error {
	ob := tx.Bucket(bOldOutbox)
	if ob == nil {
		return nil
	}
	last := tx.Bucket(bEntries).Sequence()
	through := last
	if k, _ := ob.Cursor().First(); k != nil {
		through = seqOf(k) - 1
	}
	acked := tx.Bucket(bAcked)
	stamp := u64(0)
	// Every seq, not every entry: an acknowledged entry may have been purged.
	for seq := through + 1; seq <= last; seq++ {
		if k := u64(seq); ob.Get(k) == nil {
			if err := acked.Put(k, stamp); err != nil {
				return err
			}
		}
	}
	if err := tx.Bucket(bMeta).Put(mAckedThrough, u64(through)); err != nil {
		return err
	}
	return tx.DeleteBucket(bOldOutbox)
}
