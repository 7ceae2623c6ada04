package scanner

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Code is one scanned code.
type Code struct {
	Text string
	At   time.Time // when its terminator arrived
	Port string    // device path it came from
}

// conn is one open instance of the device; it is reopened by path when it goes away.
type conn interface {
	// read blocks until data, an error, or deadline (zero: none). A timeout is (0, nil).
	read(p []byte, deadline time.Time) (int, error)
	close() error
}

type result struct {
	code Code
	err  error
}

// engine is the reader goroutine shared by the serial and HID drivers: it owns the
// Framer and the conn, reopens the conn when it fails, and queues results for Next.
type engine struct {
	path      string
	open      func() (conn, error)
	log       *slog.Logger
	fr        *Framer
	reopenMin time.Duration
	reopenMax time.Duration

	results chan result
	done    chan struct{}
	wg      sync.WaitGroup

	mu        sync.Mutex
	cur       conn
	closed    bool
	connected atomic.Bool

	lostLog limiter
	backLog limiter
}

func newEngine(path string, c conn, open func() (conn, error), fr *Framer, log *slog.Logger, lo, hi time.Duration) *engine {
	if log == nil {
		log = slog.Default()
	}
	e := &engine{
		path: path, open: open, log: log, fr: fr, reopenMin: lo, reopenMax: hi,
		results: make(chan result, 32),
		done:    make(chan struct{}),
		cur:     c,
		lostLog: limiter{every: 10 * time.Second},
		backLog: limiter{every: 10 * time.Second},
	}
	e.connected.Store(true)
	e.wg.Add(1)
	go e.run(c)
	return e
}

func (e *engine) next(ctx context.Context) (Code, error) {
	select {
	case <-e.done:
		return Code{}, ErrClosed
	default:
	}
	select {
	case r := <-e.results:
		return r.code, r.err
	case <-ctx.Done():
		return Code{}, fmt.Errorf("scanner: %s: wait for code: %w", e.path, ctx.Err())
	case <-e.done:
		return Code{}, ErrClosed
	}
}

func (e *engine) shutdown() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	c := e.cur
	e.cur = nil
	e.mu.Unlock()
	close(e.done)
	var err error
	if c != nil {
		err = c.close()
	}
	e.wg.Wait()
	e.connected.Store(false)
	if err != nil {
		return fmt.Errorf("scanner: close %s: %w", e.path, err)
	}
	return nil
}

func (e *engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// deliver queues frames for Next; false once closed.
func (e *engine) deliver(frames []Frame) bool {
	for _, f := range frames {
		r := result{code: Code{Text: f.Text, At: f.At, Port: e.path}}
		if f.Err != nil {
			f.Err.Port = e.path
			r = result{err: f.Err}
		}
		select {
		case e.results <- r:
		case <-e.done:
			return false
		}
	}
	return true
}

func (e *engine) run(c conn) {
	defer e.wg.Done()
	buf := make([]byte, 4096)
	out := make([]Frame, 0, 8)
	for {
		dl, _ := e.fr.Deadline()
		n, err := c.read(buf, dl)
		now := time.Now()
		if n > 0 {
			out = e.fr.Feed(buf[:n], now, out[:0])
		} else {
			out = e.fr.Expire(now, out[:0])
		}
		if !e.deliver(out) {
			return
		}
		if err == nil {
			continue
		}
		if e.isClosed() {
			return
		}
		e.connected.Store(false)
		e.mu.Lock()
		if e.cur == c {
			e.cur = nil
		}
		e.mu.Unlock()
		_ = c.close()
		if ok, sup := e.lostLog.allow(now); ok {
			e.log.Warn("scanner: port lost, reopening", "port", e.path, "err", err, "suppressed", sup)
		}
		// What was buffered of the frame in flight is gone with the port.
		if !e.deliver(e.fr.Reset(now, out[:0])) {
			return
		}
		if c = e.reopen(); c == nil {
			return
		}
	}
}

// reopen retries opening the path with jittered exponential backoff until it works
// or the engine is closed (nil).
func (e *engine) reopen() conn {
	delay := e.reopenMin
	var lastErr error
	for tries := 1; ; tries++ {
		// ±25% jitter so several gates on one hub do not retry in lockstep.
		d := delay - delay/4 + time.Duration(rand.Int64N(int64(delay/2)+1))
		t := time.NewTimer(d)
		select {
		case <-e.done:
			t.Stop()
			return nil
		case <-t.C:
		}
		c, err := e.open()
		if err == nil {
			e.mu.Lock()
			if e.closed {
				e.mu.Unlock()
				_ = c.close()
				return nil
			}
			e.cur = c
			e.mu.Unlock()
			e.connected.Store(true)
			if ok, sup := e.backLog.allow(time.Now()); ok {
				e.log.Info("scanner: port reopened", "port", e.path, "tries", tries, "suppressed", sup)
			}
			return c
		}
		if lastErr == nil || err.Error() != lastErr.Error() {
			e.log.Debug("scanner: reopen failed", "port", e.path, "err", err)
		}
		lastErr = err
		delay = min(delay*2, e.reopenMax)
	}
}

// limiter lets one log line through per period and counts the rest.
type limiter struct {
	mu         sync.Mutex
	every      time.Duration
	last       time.Time
	suppressed int
}

func (l *limiter) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.suppressed = 0
	l.last = now
	return true, n
}
