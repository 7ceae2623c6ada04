package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"campusgate/cmd/internal/bintest"
)

// TestSoak is make soak: the whole system (gatectl sim up: campusd and two
// simulated gates) under load for CAMPUSGATE_SOAK (a duration; the test is
// skipped without it), people presented at both gates through their emulated
// scanners and one gatectl sim fleet after another against campusd. It
// compares each process's goroutines, Go heap and RSS (its /metrics) at the
// start, after a warm-up fleet run, with the end, both taken between two
// fleet runs, and fails on growth beyond soakLimits.
func TestSoak(t *testing.T) {
	spec := os.Getenv("CAMPUSGATE_SOAK")
	if spec == "" {
		t.Skip("set CAMPUSGATE_SOAK=2m (make soak) to run the soak")
	}
	dur, err := time.ParseDuration(spec)
	if err != nil || dur <= 0 {
		t.Fatalf("CAMPUSGATE_SOAK=%q: want a duration such as 2m", spec)
	}
	sys := startSim(t, 2, "-metrics-addr", "127.0.0.1:0")
	procs := soakTargets(t, sys.logs.String(), "campusd", "north-1", "south-1")

	// About a person a second at each gate: four codes in turn, so each comes
	// again after the gates' 2 s duplicate window.
	ctx, stop := context.WithCancel(context.Background())
	var presented, failed atomic.Int64
	var wg sync.WaitGroup
	for _, g := range []string{"north-1", "south-1"} {
		addr, err := os.ReadFile(filepath.Join(sys.state, "gates", g, "console.addr"))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes := []string{"C0101", "C0102", "C0215", "C9042"}
			tick := time.NewTicker(550 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				body := fmt.Sprintf(`{"code": %q, "temperature_c": %v}`, codes[i%len(codes)], 36.4+float64(i%5)/10)
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+strings.TrimSpace(string(addr))+"/api/sim/present", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err == nil && resp.StatusCode == http.StatusOK {
					presented.Add(1)
				} else if ctx.Err() == nil {
					failed.Add(1)
				}
				if err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()

	fleets, fleetEntries := 0, 0
	fleet := func() {
		t.Helper()
		out := runFleet(t, sys, "-gates", "50", "-rate", "2", "-duration", "20s", "-fever-rate", "0.01")
		var n int
		fmt.Sscan(fleetFigure(t, out, `entries acked\s+(\d+)`)[0], &n)
		fleets, fleetEntries = fleets+1, fleetEntries+n
	}
	fleet() // warm-up: every pool, cache and connection made once
	start := sampleAll(t, procs)
	fleets, fleetEntries = 0, 0
	presented.Store(0)
	failed.Store(0)
	began := time.Now()
	for time.Since(began) < dur {
		fleet()
	}
	end := sampleAll(t, procs)
	took := time.Since(began).Round(time.Second)

	t.Logf("soak: %s after the warm-up; %d fleet runs of 50 gates (%d entries stored and acked), %d people presented at the two gates (%d failed)",
		took, fleets, fleetEntries, presented.Load(), failed.Load())
	t.Logf("%-8s %22s %24s %24s", "", "goroutines", "Go heap (min of 5) MiB", "RSS MiB")
	for _, p := range procs {
		s, e := start[p.name], end[p.name]
		t.Logf("%-8s %10.0f → %-10.0f %11.1f → %-11.1f %11.1f → %-11.1f", p.name, s.goroutines, e.goroutines,
			s.heap/(1<<20), e.heap/(1<<20), s.rss/(1<<20), e.rss/(1<<20))
		for _, bad := range soakLimits(s, e) {
			t.Errorf("%s: %s", p.name, bad)
		}
	}
	if failed.Load() > presented.Load()/100 {
		t.Errorf("%d of %d presentations failed", failed.Load(), presented.Load()+failed.Load())
	}
}

type soakTarget struct{ name, metrics string }

// soakTargets finds each process's metrics address in sim up's log.
func soakTargets(t *testing.T, logs string, names ...string) []soakTarget {
	t.Helper()
	var out []soakTarget
	for _, n := range names {
		m := regexp.MustCompile(`\[` + regexp.QuoteMeta(n) + `\] .*metrics on http://(\S+)/metrics`).FindStringSubmatch(logs)
		if m == nil {
			t.Fatalf("no metrics address for %s in sim up's log:\n%s", n, logs)
		}
		out = append(out, soakTarget{n, m[1]})
	}
	return out
}

type soakSample struct{ goroutines, heap, rss float64 }

// sampleAll reads each process's figures: goroutines and RSS as they are, the
// heap as the least of five readings a second apart. Without a forced GC
// (none can be asked for from outside) go_memstats_heap_alloc_bytes holds the
// garbage since the last collection too, up to GOGC's doubling; the least of
// several readings is the nearest to the live heap.
func sampleAll(t *testing.T, procs []soakTarget) map[string]soakSample {
	t.Helper()
	out := map[string]soakSample{}
	for i := range 5 {
		if i > 0 {
			time.Sleep(time.Second)
		}
		for _, p := range procs {
			m := bintest.Metrics(t, p.metrics)
			s, seen := out[p.name]
			if !seen || m["go_memstats_heap_alloc_bytes"] < s.heap {
				s.heap = m["go_memstats_heap_alloc_bytes"]
			}
			s.goroutines, s.rss = m["go_goroutines"], m["process_resident_memory_bytes"]
			out[p.name] = s
		}
	}
	return out
}

// soakLimits says what grew too much from start to end. A leak grows with
// time and load; these allow what a process under the same load does anyway.
// Goroutines: +20%, and 5 more (a reconnecting client, a console stream in
// the middle of its keepalive). Heap: +50% and 8 MiB, on the least of five
// readings. RSS: +50% and 32 MiB: the Go runtime returns freed pages to the
// system lazily, so RSS lags a heap that shrank, and SQLite's page cache fills
// up to its limit.
func soakLimits(s, e soakSample) []string {
	var bad []string
	if e.goroutines > s.goroutines*1.2+5 {
		bad = append(bad, fmt.Sprintf("goroutines %0.f → %0.f (more than +20%% and 5)", s.goroutines, e.goroutines))
	}
	if e.heap > s.heap*1.5+8<<20 {
		bad = append(bad, fmt.Sprintf("Go heap %.1f → %.1f MiB (more than +50%% and 8 MiB)", s.heap/(1<<20), e.heap/(1<<20)))
	}
	if e.rss > s.rss*1.5+32<<20 {
		bad = append(bad, fmt.Sprintf("RSS %.1f → %.1f MiB (more than +50%% and 32 MiB)", s.rss/(1<<20), e.rss/(1<<20)))
	}
	return bad
}
