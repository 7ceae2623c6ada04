package main

import (
	"context"
	"log/slog"
	"time"

	"campusgate/cmd/internal/metrics"
	"campusgate/sync/ingest"
	"campusgate/sync/store"

	"github.com/prometheus/client_golang/prometheus"
)

// serverMetrics are campusd's metrics, on the process's registry.
type serverMetrics struct {
	reg    *prometheus.Registry
	commit prometheus.Histogram
}

func newServerMetrics() *serverMetrics {
	m := &serverMetrics{
		reg: metrics.NewRegistry(),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "campusd_commit_seconds",
			Help: "Time to commit one transaction of entries (several gates' messages share one).",
			// An fsync'd SQLite commit: a millisecond on an SSD, far more on a busy disk.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
	}
	m.reg.MustRegister(m.commit)
	return m
}

// committed is ingest.Opts.OnCommit.
func (m *serverMetrics) committed(_ int, took time.Duration) { m.commit.Observe(took.Seconds()) }

// watchIngest adds ingest's counters, read at scrape time, and its queue.
func (m *serverMetrics) watchIngest(in *ingest.Ingest) {
	type st = metrics.Stat[ingest.Stats]
	counter := func(name, help string, v func(ingest.Stats) int64) st {
		return st{Desc: prometheus.NewDesc(name, help, nil, nil), Type: prometheus.CounterValue,
			Value: func(s ingest.Stats) float64 { return float64(v(s)) }}
	}
	entries := prometheus.NewDesc("campusd_ingest_entries_total",
		"Entries committed, by result: inserted (new) or duplicate (sent again, dropped); rate() of the sum is the ingest rate.",
		[]string{"result"}, nil)
	m.reg.MustRegister(metrics.Stats[ingest.Stats]{Read: in.Stats, Stats: []st{
		{Desc: entries, Type: prometheus.CounterValue, Labels: []string{"inserted"}, Value: func(s ingest.Stats) float64 { return float64(s.Inserted) }},
		{Desc: entries, Type: prometheus.CounterValue, Labels: []string{"duplicate"}, Value: func(s ingest.Stats) float64 { return float64(s.Duplicates) }},
		counter("campusd_ingest_messages_total", "MQTT messages received from the gates.", func(s ingest.Stats) int64 { return s.Messages }),
		counter("campusd_ingest_malformed_total", "Messages dropped as malformed (bad topic, payload or version).", func(s ingest.Stats) int64 { return s.Malformed }),
		counter("campusd_ingest_store_errors_total", "Writes to the database that failed (the gate resends what was not acked).", func(s ingest.Stats) int64 { return s.StoreErrors }),
		counter("campusd_ingest_acks_total", "Acks sent to gates after a commit (one for the entry messages of a gate a commit stored).", func(s ingest.Stats) int64 { return s.Acks }),
		counter("campusd_ingest_shed_total", "Entry and telemetry messages shed while the queue was full (the gate sends them again).", func(s ingest.Stats) int64 { return s.Shed }),
		counter("campusd_alerts_total", "New alerts raised (fever, device, refused command).", func(s ingest.Stats) int64 { return s.Alerts }),
	}}, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "campusd_ingest_queue",
		Help: "Messages received and waiting to be stored."}, func() float64 { return float64(in.Queued()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "campusd_store_refusing_writes",
			Help: "1 while the database refuses every write of the gates' messages (a full disk: the gates keep their entries), else 0."},
			func() float64 {
				if since, _ := in.StoreFailing(); !since.IsZero() {
					return 1
				}
				return 0
			}))
}

// watchBroker adds the state of campusd's own broker connection.
func (m *serverMetrics) watchBroker(connected func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "campusd_broker_connected",
		Help: "1 while campusd's connection to the MQTT broker is up, else 0."}, func() float64 {
		if connected() {
			return 1
		}
		return 0
	}))
}

// gatesCollector reads the gate registry at scrape time: a school has tens
// of gates, and the query is cheaper than keeping a copy in step.
type gatesCollector struct {
	db                     *store.DB
	log                    *slog.Logger
	online, known, backlog *prometheus.Desc
}

func (m *serverMetrics) watchGates(db *store.DB, log *slog.Logger) {
	m.reg.MustRegister(gatesCollector{db: db, log: log,
		online:  prometheus.NewDesc("campusd_gates_online", "Gates whose last status is online.", nil, nil),
		known:   prometheus.NewDesc("campusd_gates", "Gates in the registry.", nil, nil),
		backlog: prometheus.NewDesc("campusd_gate_backlog", "Entries a gate last reported as not yet acknowledged.", []string{"school", "gate"}, nil),
	})
}

func (c gatesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.online
	ch <- c.known
	ch <- c.backlog
}

func (c gatesCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	gates, err := c.db.Gates(ctx)
	if err != nil {
		// Left out rather than reported as 0 (no gate online is an alarm),
		// and the rest of the scrape still served.
		c.log.Warn("metrics: gate registry not read", "err", err)
		return
	}
	online := 0
	for _, g := range gates {
		if g.Online {
			online++
		}
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(g.Backlog), g.School, g.ID)
	}
	ch <- prometheus.MustNewConstMetric(c.online, prometheus.GaugeValue, float64(online))
	ch <- prometheus.MustNewConstMetric(c.known, prometheus.GaugeValue, float64(len(gates)))
}
