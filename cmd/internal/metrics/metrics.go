// Package metrics is what gated and campusd share for their Prometheus
// metrics: a registry of the process's own (never the global default, so a
// library cannot add to what an operator scrapes) and the listener that
// serves it at /metrics.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry holding the Go runtime's and the process's
// collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Stat is one metric read from a component's counters at scrape time.
type Stat[S any] struct {
	Desc   *prometheus.Desc
	Type   prometheus.ValueType
	Labels []string // the Desc's variable labels' values
	Value  func(S) float64
}

// Stats is a collector of a component's counters (gatelink's, ingest's): it
// reads them once a scrape, so the component counts only once, as it already
// does, and every metric of a scrape comes from the same reading.
type Stats[S any] struct {
	Read  func() S
	Stats []Stat[S]
}

// Describe implements prometheus.Collector.
func (c Stats[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range c.Stats {
		ch <- s.Desc
	}
}

// Collect implements prometheus.Collector.
func (c Stats[S]) Collect(ch chan<- prometheus.Metric) {
	st := c.Read()
	for _, s := range c.Stats {
		ch <- prometheus.MustNewConstMetric(s.Desc, s.Type, s.Value(st), s.Labels...)
	}
}

// Serve serves reg at http://addr/metrics until ctx ends; addr "" serves
// nothing. The address is said on out once it listens. A listener that cannot
// be opened is logged, not fatal: the process goes on with its work unwatched
// rather than not at all.
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, name string, out io.Writer, log *slog.Logger) {
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("metrics not served", "addr", addr, "err", err)
		return
	}
	fmt.Fprintf(out, "%s: metrics on http://%s/metrics\n", name, ln.Addr())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg,
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics listener stopped", "err", err)
		}
	}()
}
