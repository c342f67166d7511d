package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor/limits"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeSource struct {
	mu      sync.Mutex
	workers []fsm.Worker
	seq     events.Seq
	samples map[string]limits.Sample
	size    int64
	clients int
	calls   int
}

func (f *fakeSource) Workers() ([]fsm.Worker, events.Seq) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return append([]fsm.Worker(nil), f.workers...), f.seq
}

func (f *fakeSource) Sample(name string) (limits.Sample, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.samples[name]
	return s, ok
}

func (f *fakeSource) LogSize() int64 { f.mu.Lock(); defer f.mu.Unlock(); return f.size }
func (f *fakeSource) Clients() int   { f.mu.Lock(); defer f.mu.Unlock(); return f.clients }

func newFake() *fakeSource {
	return &fakeSource{
		workers: []fsm.Worker{
			{Name: "api", State: events.Running, Incarnation: 7, Restarts: 6,
				LastExit: &fsm.Exit{Incarnation: 6, Code: events.IntPtr(3)}},
			{Name: "cron", State: events.Killed, Incarnation: 2, Restarts: 1,
				LastExit: &fsm.Exit{Incarnation: 2, Signal: 9}},
			{Name: "idle", State: events.Stopped},
		},
		seq: 1234,
		samples: map[string]limits.Sample{
			"api":  {RSS: 50 << 20, CPU: 150, CPUValid: true, Procs: 3},
			"cron": {RSS: 1 << 20, CPU: 10, CPUValid: true, Procs: 1}, // stale: cron is not live
		},
		size:    1 << 30,
		clients: 2,
	}
}

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequest("GET", srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Ask for the text format so the text parser is what reads it.
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	return fams
}

// value returns the value of the series of family name whose labels are
// exactly labels, and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		for _, l := range m.Label {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestScrapeMatchesSource(t *testing.T) {
	src := newFake()
	m := New(src)
	fams := scrape(t, m.Handler())

	w := func(n string) map[string]string { return map[string]string{"worker": n} }
	want := []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{"tend_log_last_seq", nil, 1234},
		{"tend_log_size_bytes", nil, 1 << 30},
		{"tend_clients_connected", nil, 2},
		{"tend_worker_restarts_total", w("api"), 6},
		{"tend_worker_restarts_total", w("cron"), 1},
		{"tend_worker_restarts_total", w("idle"), 0},
		{"tend_worker_incarnation", w("api"), 7},
		{"tend_worker_incarnation", w("cron"), 2},
		{"tend_worker_last_exit_code", w("api"), 3},
		{"tend_worker_last_exit_signal", w("cron"), 9},
		{"tend_worker_rss_bytes", w("api"), 50 << 20},
		{"tend_worker_cpu_ratio", w("api"), 1.5},
		{"tend_worker_processes", w("api"), 3},
	}
	for _, c := range want {
		got, ok := value(fams, c.name, c.labels)
		if !ok || got != c.v {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.v)
		}
	}
	absent := []struct {
		name   string
		labels map[string]string
	}{
		{"tend_worker_last_exit_code", w("cron")}, // signalled: no code
		{"tend_worker_last_exit_code", w("idle")}, // never exited
		{"tend_worker_last_exit_signal", w("api")},
		{"tend_worker_rss_bytes", w("cron")}, // not live: its sample is stale
		{"tend_worker_rss_bytes", w("idle")},
	}
	for _, c := range absent {
		if v, ok := value(fams, c.name, c.labels); ok {
			t.Errorf("%s%v = %v, want absent", c.name, c.labels, v)
		}
	}

	// The state enum: exactly one 1 per worker, on its state.
	states := map[string]events.State{"api": events.Running, "cron": events.Killed, "idle": events.Stopped}
	for name, cur := range states {
		for _, s := range events.States() {
			got, ok := value(fams, "tend_worker_state", map[string]string{"worker": name, "state": s.String()})
			want := 0.0
			if s == cur {
				want = 1
			}
			if !ok || got != want {
				t.Errorf("tend_worker_state{worker=%q,state=%q} = %v (present %v), want %v", name, s, got, ok, want)
			}
		}
	}
	if n := len(fams["tend_worker_state"].GetMetric()); n != 3*len(events.States()) {
		t.Errorf("tend_worker_state has %d series, want %d", n, 3*len(events.States()))
	}
	if fams["tend_worker_restarts_total"].GetType() != dto.MetricType_COUNTER {
		t.Errorf("tend_worker_restarts_total is %v, want a counter", fams["tend_worker_restarts_total"].GetType())
	}
	// Runtime and process metrics are on the daemon's registry too.
	if fams["go_goroutines"] == nil {
		t.Error("go_goroutines missing")
	}
}

// The collector reads the source at each scrape: a change shows at once.
func TestScrapeReadsSourceEachTime(t *testing.T) {
	src := newFake()
	m := New(src)
	h := m.Handler()
	scrape(t, h)
	src.mu.Lock()
	src.workers[0].State = events.Stopping
	src.workers[0].Restarts = 9
	src.workers = append(src.workers, fsm.Worker{Name: "new", State: events.Starting, Incarnation: 1})
	src.seq = 2000
	src.mu.Unlock()
	fams := scrape(t, h)
	checks := []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{"tend_worker_state", map[string]string{"worker": "api", "state": "Stopping"}, 1},
		{"tend_worker_state", map[string]string{"worker": "api", "state": "Running"}, 0},
		{"tend_worker_restarts_total", map[string]string{"worker": "api"}, 9},
		{"tend_worker_state", map[string]string{"worker": "new", "state": "Starting"}, 1},
		{"tend_log_last_seq", nil, 2000},
	}
	for _, c := range checks {
		if got, ok := value(fams, c.name, c.labels); !ok || got != c.v {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.v)
		}
	}
	if src.calls != 2 {
		t.Errorf("Workers called %d times for 2 scrapes, want 2 (one per scrape)", src.calls)
	}
}

func TestDaemonCountersAndHistograms(t *testing.T) {
	m := New(newFake())
	m.EventAppended(events.Exited)
	m.EventAppended(events.Exited)
	m.EventAppended(events.Spawned)
	m.ObserveAppend(2 * time.Millisecond)
	m.ObserveAppend(4 * time.Millisecond)
	m.ObserveFsync(time.Millisecond)
	fams := scrape(t, m.Handler())

	for typ, want := range map[string]float64{"exited": 2, "spawned": 1, "breaker_opened": 0} {
		if got, ok := value(fams, "tend_events_appended_total", map[string]string{"type": typ}); !ok || got != want {
			t.Errorf("tend_events_appended_total{type=%q} = %v (present %v), want %v", typ, got, ok, want)
		}
	}
	if n := len(fams["tend_events_appended_total"].GetMetric()); n != len(events.Types()) {
		t.Errorf("tend_events_appended_total has %d series, want one per type (%d)", n, len(events.Types()))
	}
	h := fams["tend_append_duration_seconds"].GetMetric()
	if len(h) != 1 || h[0].Histogram.GetSampleCount() != 2 || h[0].Histogram.GetSampleSum() != 0.006 {
		t.Errorf("append histogram = %v, want 2 samples summing to 0.006s", h)
	}
	f := fams["tend_fsync_duration_seconds"].GetMetric()
	if len(f) != 1 || f[0].Histogram.GetSampleCount() != 1 {
		t.Errorf("fsync histogram = %v, want 1 sample", f)
	}
}

// Two daemons in one process have separate registries: nothing is shared
// through the global default registry.
func TestMetricsAreIndependent(t *testing.T) {
	a, b := New(newFake()), New(newFake())
	a.EventAppended(events.Exited)
	fa, fb := scrape(t, a.Handler()), scrape(t, b.Handler())
	va, _ := value(fa, "tend_events_appended_total", map[string]string{"type": "exited"})
	vb, _ := value(fb, "tend_events_appended_total", map[string]string{"type": "exited"})
	if va != 1 || vb != 0 {
		t.Errorf("exited counters = %v, %v; want 1, 0", va, vb)
	}
}

// A duplicated worker name or a name the client library refuses does not
// fail the scrape or panic: the other series are still served.
func TestBadSourceData(t *testing.T) {
	src := newFake()
	src.workers = append(src.workers,
		fsm.Worker{Name: "api", State: events.Stopped},       // duplicate
		fsm.Worker{Name: "bad\xff", State: events.Stopped},   // not UTF-8
		fsm.Worker{Name: "gone", Removed: true, Restarts: 4}, // removed
	)
	m := New(src)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if v, ok := value(fams, "tend_worker_state", map[string]string{"worker": "api", "state": "Running"}); !ok || v != 1 {
		t.Errorf("api Running = %v (present %v), want the first entry's 1", v, ok)
	}
	if _, ok := value(fams, "tend_worker_restarts_total", map[string]string{"worker": "gone"}); ok {
		t.Error("a removed worker is reported")
	}
	if _, ok := value(fams, "tend_worker_restarts_total", map[string]string{"worker": "idle"}); !ok {
		t.Error("idle missing after a bad worker")
	}
	// New(nil) serves the daemon metrics and no worker series.
	fams = scrape(t, New(nil).Handler())
	if fams["tend_worker_state"] != nil || fams["tend_events_appended_total"] == nil {
		t.Error("New(nil) should serve daemon metrics only")
	}
}

func TestLint(t *testing.T) {
	m := New(newFake())
	m.EventAppended(events.Exited)
	m.ObserveAppend(time.Millisecond)
	// promlint directly: testutil's own wrapper needs a module this one
	// does not require.
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "tend_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}
