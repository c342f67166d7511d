// Package metrics exposes tend's daemon and per-worker state to Prometheus
// through the official client library.
//
// Per-worker gauges are read from a Source at scrape time by a custom
// collector: there is no background goroutine and no copy of the state that
// could drift from the fold the daemon keeps. Daemon-level counters and
// histograms (events appended, append and fsync latency) are fed by the
// daemon as things happen. Serve puts them on a listener, as plain HTTP or
// through a Prometheus exporter-toolkit web configuration (TLS, basic auth);
// the series name every worker and its state, so a listener other hosts can
// reach (BeyondLoopback) deserves one.
//
// It may not change anything: it reads the Source, never calls into the log
// or the supervisor, and registers only on its own prometheus.Registry (one
// per daemon), never on the global default registry, so two daemons in one
// test binary never share series.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor/limits"
)

// Source is what the daemon shows: the durable state of its configured
// workers, their latest resource samples, the log and the clients. Its
// methods are called during a scrape, concurrently with the daemon's work,
// so they must be safe for concurrent use and must not block for long.
type Source interface {
	// Workers returns the configured workers' durable state and the seq it
	// reflects.
	Workers() ([]fsm.Worker, events.Seq)
	// Sample returns the latest resource sample of a worker's live process
	// group, if one is watched.
	Sample(name string) (limits.Sample, bool)
	// LogSize is the event log's file size in bytes.
	LogSize() int64
	// Clients is the number of connected control-socket clients.
	Clients() int
}

// Metrics is one daemon's set of metrics and the registry that holds them.
type Metrics struct {
	reg      *prometheus.Registry
	appended *prometheus.CounterVec
	append   prometheus.Histogram
	fsync    prometheus.Histogram
}

// latencyBuckets span 50µs to about 3.3s: a group commit on a fast SSD is
// well under a millisecond, one on a loaded disk or network filesystem takes
// hundreds, and anything beyond seconds is an outage, not a latency.
func latencyBuckets() []float64 { return prometheus.ExponentialBuckets(50e-6, 2, 17) }

// New builds the metrics of a daemon whose state src shows, on a registry
// of their own. The Go runtime and process collectors are registered too,
// since a scrape of a daemon is expected to show them.
func New(src Source) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tend_events_appended_total",
			Help: "Events appended to the log, by event type.",
		}, []string{"type"}),
		append: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tend_append_duration_seconds",
			Help:    "Time from handing events to the log until they are committed and fsynced.",
			Buckets: latencyBuckets(),
		}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tend_fsync_duration_seconds",
			Help:    "Duration of the log's commit fsyncs.",
			Buckets: latencyBuckets(),
		}),
	}
	// Every known type starts at zero, so rate() over a type that has not
	// happened yet is 0, not an absent series.
	for _, t := range events.Types() {
		m.appended.WithLabelValues(t.String())
	}
	m.reg.MustRegister(m.appended, m.append, m.fsync, newCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition formats, for
// /metrics. A collector that fails does not hide the others.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:      m.reg,
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Registry is the daemon's registry, for a caller that registers more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveAppend records the latency of one append: from Append until its
// ticket resolved (committed and fsynced).
func (m *Metrics) ObserveAppend(d time.Duration) { m.append.Observe(d.Seconds()) }

// ObserveFsync records the duration of one commit's fsync.
func (m *Metrics) ObserveFsync(d time.Duration) { m.fsync.Observe(d.Seconds()) }

// EventAppended counts one durable event of type typ. An unknown type is
// counted under its numeric name rather than dropped, so the total stays
// right.
func (m *Metrics) EventAppended(typ events.Type) { m.appended.WithLabelValues(typ.String()).Inc() }

// collector reads the Source at scrape time. Its descriptions are built
// per collector so that nothing at package level is shared.
type collector struct {
	src            Source
	descState      *prometheus.Desc
	descRestarts   *prometheus.Desc
	descExitCode   *prometheus.Desc
	descExitSignal *prometheus.Desc
	descRSS        *prometheus.Desc
	descCPU        *prometheus.Desc
	descProcs      *prometheus.Desc
	descInc        *prometheus.Desc
	descLastSeq    *prometheus.Desc
	descLogSize    *prometheus.Desc
	descClients    *prometheus.Desc
}

func newCollector(src Source) *collector {
	return &collector{
		src: src,
		descState: prometheus.NewDesc("tend_worker_state",
			"1 for the worker's current state, 0 for the others.", []string{"worker", "state"}, nil),
		descRestarts: prometheus.NewDesc("tend_worker_restarts_total",
			"Automatic restarts plus restart commands of the worker, as folded from the whole log.", []string{"worker"}, nil),
		descExitCode: prometheus.NewDesc("tend_worker_last_exit_code",
			"Exit code of the worker's last incarnation; absent when it has not exited or was killed by a signal.", []string{"worker"}, nil),
		descExitSignal: prometheus.NewDesc("tend_worker_last_exit_signal",
			"Signal number that ended the worker's last incarnation; absent when it was not ended by a signal.", []string{"worker"}, nil),
		descRSS: prometheus.NewDesc("tend_worker_rss_bytes",
			"Resident set size of the worker's process group at the latest sample.", []string{"worker"}, nil),
		descCPU: prometheus.NewDesc("tend_worker_cpu_ratio",
			"CPU used by the worker's process group between the last two samples, in cores (1 = one core busy).", []string{"worker"}, nil),
		descProcs: prometheus.NewDesc("tend_worker_processes",
			"Live processes in the worker's group at the latest sample.", []string{"worker"}, nil),
		descInc: prometheus.NewDesc("tend_worker_incarnation",
			"Incarnation number of the worker (its count of starts).", []string{"worker"}, nil),
		descLastSeq: prometheus.NewDesc("tend_log_last_seq",
			"Seq of the last durable event the worker state reflects.", nil, nil),
		descLogSize: prometheus.NewDesc("tend_log_size_bytes",
			"Size of the event log file.", nil, nil),
		descClients: prometheus.NewDesc("tend_clients_connected",
			"Control-socket clients currently connected.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.descState, c.descRestarts, c.descExitCode, c.descExitSignal,
		c.descRSS, c.descCPU, c.descProcs, c.descInc, c.descLastSeq, c.descLogSize, c.descClients} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.src == nil {
		return
	}
	workers, seq := c.src.Workers()
	emit(ch, c.descLastSeq, prometheus.GaugeValue, float64(seq))
	emit(ch, c.descLogSize, prometheus.GaugeValue, float64(c.src.LogSize()))
	emit(ch, c.descClients, prometheus.GaugeValue, float64(c.src.Clients()))

	// A name seen twice would make the whole scrape fail as a duplicate
	// series; the first one wins so the rest still report.
	seen := make(map[string]bool, len(workers))
	for i := range workers {
		w := &workers[i]
		if w.Removed || seen[w.Name] {
			continue
		}
		seen[w.Name] = true
		for _, s := range events.States() {
			v := 0.0
			if w.State == s {
				v = 1
			}
			emit(ch, c.descState, prometheus.GaugeValue, v, w.Name, s.String())
		}
		emit(ch, c.descRestarts, prometheus.CounterValue, float64(w.Restarts), w.Name)
		emit(ch, c.descInc, prometheus.GaugeValue, float64(w.Incarnation), w.Name)
		if x := w.LastExit; x != nil {
			if x.Code != nil {
				emit(ch, c.descExitCode, prometheus.GaugeValue, float64(*x.Code), w.Name)
			}
			if x.Signal != 0 {
				emit(ch, c.descExitSignal, prometheus.GaugeValue, float64(x.Signal), w.Name)
			}
		}
		// A sample of a process that is gone would report memory that is
		// no longer used, so only live workers report one.
		if !w.Live() {
			continue
		}
		if s, ok := c.src.Sample(w.Name); ok {
			emit(ch, c.descRSS, prometheus.GaugeValue, float64(s.RSS), w.Name)
			emit(ch, c.descProcs, prometheus.GaugeValue, float64(s.Procs), w.Name)
			if s.CPUValid {
				emit(ch, c.descCPU, prometheus.GaugeValue, s.CPU/100, w.Name)
			}
		}
	}
}

// emit sends one constant metric. A label value the client library refuses
// (a worker name that is not valid UTF-8) becomes an invalid metric, which
// the handler reports for that series alone instead of failing the scrape
// or panicking.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, vt prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, vt, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}
