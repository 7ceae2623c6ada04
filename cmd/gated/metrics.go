package main

import (
	"sync"
	"time"

	"campusgate/cmd/internal/metrics"
	"campusgate/gate"
	"campusgate/gate/journal"
	"campusgate/sync/gatelink"

	"github.com/prometheus/client_golang/prometheus"
)

// gateMetrics are gated's own metrics, on the process's registry.
type gateMetrics struct {
	reg          *prometheus.Registry
	decisions    *prometheus.CounterVec
	fevers       prometheus.Counter
	opens        prometheus.Counter
	deviceErrors *prometheus.CounterVec
	ackLatency   prometheus.Histogram

	mu       sync.Mutex
	appended map[uint64]time.Time // seq → when it was appended, until the server's ack is committed; nil without [sync]
}

// maxTimed bounds the appends kept for the ack latency: a gate offline for
// weeks still admits, and the entries past this go unmeasured, not unsent.
const maxTimed = 50_000

// Label values outside these sets are counted as "other", so a label's
// cardinality never depends on what the flow or a future version writes.
var (
	knownReasons   = reasonSet()
	knownDecisions = map[string]bool{"admit": true, "deny": true, "refer": true}
)

func reasonSet() map[string]bool {
	m := map[string]bool{}
	for _, r := range gate.Reasons() {
		m[string(r)] = true
	}
	return m
}

func newGateMetrics(j *journal.Journal) *gateMetrics {
	m := &gateMetrics{
		reg: metrics.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gated_decisions_total",
			Help: "Decisions recorded in the journal, by decision (admit, deny, refer) and reason code."}, []string{"decision", "reason"}),
		fevers: prometheus.NewCounter(prometheus.CounterOpts{Name: "gated_fevers_total",
			Help: "People refused for a fever."}),
		opens: prometheus.NewCounter(prometheus.CounterOpts{Name: "gated_gate_opens_total",
			Help: "Times the relay opened the turnstile (an admission, a remote or an emergency opening)."}),
		deviceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gated_device_errors_total",
			Help: "Failed operations of a device (sensor: a failed reading; gate: the relay; journal: an append; display: a screen not shown)."}, []string{"device"}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gated_ack_latency_seconds",
			Help: "Time from an entry's append to the journal commit of the server's ack (entries appended since gated started).",
			// From a healthy network's tens of milliseconds to a morning offline.
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600}}),
	}
	for _, d := range []string{"sensor", "gate", "journal"} {
		m.deviceErrors.WithLabelValues(d) // present at 0, so rate() works from the first error
	}
	m.reg.MustRegister(m.decisions, m.fevers, m.opens, m.deviceErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gated_journal_backlog",
			Help: "Entries in the journal not yet acknowledged by the server."}, func() float64 {
			n, err := j.Backlog()
			if err != nil {
				return -1 // the journal does not answer: gated_device_errors_total and the console say why
			}
			return float64(n)
		}))
	return m
}

// appendedEntry counts a decision the journal holds and times it for the ack.
func (m *gateMetrics) appendedEntry(e *journal.Entry) {
	decision, reason := e.Decision, e.Reason
	if !knownDecisions[decision] {
		decision = "other"
	}
	if !knownReasons[reason] {
		reason = "other"
	}
	m.decisions.WithLabelValues(decision, reason).Inc()
	if e.Decision == "deny" && e.Reason == string(gate.ReasonFever) {
		m.fevers.Inc()
	}
	m.mu.Lock()
	if m.appended != nil && len(m.appended) < maxTimed {
		m.appended[e.Seq] = time.Now()
	}
	m.mu.Unlock()
}

// acked observes the latency of the entries among seqs appended by this run
// (gatelink.Opts.AckedSeqs); a seq acknowledged again is not seen twice.
func (m *gateMetrics) acked(seqs []uint64) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.appended) == 0 {
		return // a drain of entries from before this run: nothing to look up
	}
	for _, s := range seqs {
		if at, ok := m.appended[s]; ok {
			m.ackLatency.Observe(now.Sub(at).Seconds())
			delete(m.appended, s)
		}
	}
}

func (m *gateMetrics) deviceError(device string) { m.deviceErrors.WithLabelValues(device).Inc() }

func (m *gateMetrics) sensorFailed() { m.deviceError("sensor") }

// watchLink adds the link's counters, read at scrape time, and the ack
// latency, which only a gate with a link has.
func (m *gateMetrics) watchLink(l *gatelink.Link) {
	m.mu.Lock()
	m.appended = map[uint64]time.Time{}
	m.mu.Unlock()
	m.reg.MustRegister(m.ackLatency)
	type st = metrics.Stat[gatelink.Stats]
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	counter := func(name, help string, v func(gatelink.Stats) int64) st {
		return st{Desc: desc(name, help), Type: prometheus.CounterValue, Value: func(s gatelink.Stats) float64 { return float64(v(s)) }}
	}
	m.reg.MustRegister(metrics.Stats[gatelink.Stats]{Read: l.Stats, Stats: []st{
		{Desc: desc("gated_mqtt_connected", "1 while the link to the school's broker is up, else 0."), Type: prometheus.GaugeValue,
			Value: func(s gatelink.Stats) float64 { return b2f(s.Connected) }},
		counter("gated_mqtt_connects_total", "Successful connections to the broker.", func(s gatelink.Stats) int64 { return s.Connects }),
		counter("gated_entry_messages_sent_total", "Entry messages published for the first time.", func(s gatelink.Stats) int64 { return s.Sent }),
		counter("gated_entry_messages_resent_total", "Entry messages published again (no ack in time, or a reconnect).", func(s gatelink.Stats) int64 { return s.Resent }),
		counter("gated_entries_acked_total", "Entries newly acknowledged by the server.", func(s gatelink.Stats) int64 { return s.Acked }),
		counter("gated_alerts_sent_total", "Alerts (fever, device, refused command) published.", func(s gatelink.Stats) int64 { return s.Alerts }),
		counter("gated_downlink_refused_total", "Messages from the server refused (malformed, out of step).", func(s gatelink.Stats) int64 { return s.BadDownlink }),
		counter("gated_downlink_dropped_total", "Messages from the server dropped because the link was behind.", func(s gatelink.Stats) int64 { return s.Dropped }),
	}})
}

// watchDisplay counts the small display's failures from 0, on a box that has one.
func (m *gateMetrics) watchDisplay() { m.deviceErrors.WithLabelValues("display") }

// watchScanner adds the scanner's connection state, for scanners that have one.
func (m *gateMetrics) watchScanner(connected func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gated_scanner_connected",
		Help: "1 while the code scanner is connected, else 0."}, func() float64 { return b2f(connected()) }))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// meteredGate is the turnstile's relay with its openings and failures counted.
type meteredGate struct {
	gate.Actuator
	m *gateMetrics
}

func (g meteredGate) Open(d time.Duration) error { return g.opened(g.count(g.Actuator.Open(d))) }
func (g meteredGate) Hold() error                { return g.opened(g.count(g.Actuator.Hold())) }
func (g meteredGate) Release() error             { return g.count(g.Actuator.Release()) }

func (g meteredGate) count(err error) error {
	if err != nil {
		g.m.deviceError("gate")
	}
	return err
}

func (g meteredGate) opened(err error) error {
	if err == nil {
		g.m.opens.Inc()
	}
	return err
}
