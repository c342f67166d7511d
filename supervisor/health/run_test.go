package health

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// target is an HTTP server whose status the test switches, and which counts
// the probes it has answered.
type target struct {
	srv    *httptest.Server
	status atomic.Int32
	hits   atomic.Int32
	mu     sync.Mutex
	first  time.Time
}

func newTarget(t *testing.T, status int) *target {
	tg := &target{}
	tg.status.Store(int32(status))
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		if tg.first.IsZero() {
			tg.first = time.Now()
		}
		tg.mu.Unlock()
		tg.hits.Add(1)
		w.WriteHeader(int(tg.status.Load()))
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

// runner runs Run in the background and collects its reports.
type runner struct {
	reports chan Report
	cancel  context.CancelFunc
	done    chan struct{}
}

func start(t *testing.T, spec Spec) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{reports: make(chan Report, 16), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		Run(ctx, spec, func(rep Report) { r.reports <- rep })
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *runner) stop() {
	r.cancel()
	<-r.done
}

func (r *runner) next(t *testing.T) Report {
	t.Helper()
	select {
	case rep := <-r.reports:
		return rep
	case <-time.After(10 * time.Second):
		t.Fatal("no report within 10s")
		return Report{}
	}
}

// none asserts that no report arrives while at least n more probes run.
func (r *runner) none(t *testing.T, tg *target, n int32) {
	t.Helper()
	want := tg.hits.Load() + n
	deadline := time.Now().Add(10 * time.Second)
	for tg.hits.Load() < want && time.Now().Before(deadline) {
		select {
		case rep := <-r.reports:
			t.Fatalf("unexpected report %+v", rep)
		case <-time.After(5 * time.Millisecond):
		}
	}
	select {
	case rep := <-r.reports:
		t.Fatalf("unexpected report %+v", rep)
	default:
	}
}

func fastHTTP(url string, failures int) Spec {
	return Spec{Type: TypeHTTP, URL: url, Interval: 10 * time.Millisecond, Timeout: time.Second, Failures: failures}
}

// A healthy worker's check reports its first pass (a worker whose
// readiness is its health check is ready then), and nothing after it.
func TestRunHealthyReportsItsFirstPassOnly(t *testing.T) {
	tg := newTarget(t, http.StatusOK)
	r := start(t, fastHTTP(tg.srv.URL, 1))
	if rep := r.next(t); !rep.Healthy || !rep.First {
		t.Fatalf("first report %+v, want the first pass", rep)
	}
	r.none(t, tg, 10)
}

func TestRunThresholdAndRecovery(t *testing.T) {
	tg := newTarget(t, http.StatusServiceUnavailable)
	r := start(t, fastHTTP(tg.srv.URL+"/healthz", 3))

	rep := r.next(t)
	if rep.Healthy || rep.Consecutive != 3 {
		t.Fatalf("first report %+v, want unhealthy after 3", rep)
	}
	if h := tg.hits.Load(); h < 3 {
		t.Fatalf("reported after %d probes, threshold is 3", h)
	}
	if want := "GET " + tg.srv.URL + "/healthz: status 503"; rep.Detail != want {
		t.Errorf("detail %q, want %q", rep.Detail, want)
	}
	if rep.At.IsZero() {
		t.Error("report has no time")
	}
	// Still failing: no second unhealthy report.
	r.none(t, tg, 5)

	tg.status.Store(http.StatusOK)
	if rep = r.next(t); !rep.Healthy || !rep.First {
		t.Fatalf("report %+v, want the check's first pass", rep)
	}
	rep = r.next(t)
	if !rep.Healthy || rep.First || rep.Consecutive != 0 || !strings.HasSuffix(rep.Detail, "status 200") {
		t.Fatalf("recovery report %+v", rep)
	}
	r.none(t, tg, 5)

	// A failure run shorter than the threshold is not reported.
	tg.status.Store(http.StatusInternalServerError)
	for want := tg.hits.Load() + 2; tg.hits.Load() < want; {
		time.Sleep(time.Millisecond)
	}
	tg.status.Store(http.StatusOK)
	r.none(t, tg, 5)
}

func TestRunGrace(t *testing.T) {
	tg := newTarget(t, http.StatusServiceUnavailable)
	spec := fastHTTP(tg.srv.URL, 1)
	spec.Grace = 300 * time.Millisecond
	begin := time.Now()
	r := start(t, spec)
	r.next(t)
	tg.mu.Lock()
	first := tg.first
	tg.mu.Unlock()
	if d := first.Sub(begin); d < spec.Grace {
		t.Fatalf("first probe %v after start, grace is %v", d, spec.Grace)
	}
}

func TestRunCancelDuringGrace(t *testing.T) {
	tg := newTarget(t, http.StatusServiceUnavailable)
	spec := fastHTTP(tg.srv.URL, 1)
	spec.Grace = time.Hour
	before := goleak.IgnoreCurrent()
	r := start(t, spec)
	time.Sleep(20 * time.Millisecond)
	assertStopsQuickly(t, r, before)
	if h := tg.hits.Load(); h != 0 {
		t.Fatalf("%d probes during grace", h)
	}
}

func TestRunExecUnhealthy(t *testing.T) {
	spec := execSpec("sh", "-c", "exit 1")
	spec.Interval = 10 * time.Millisecond
	spec.Failures = 2
	r := start(t, spec)
	rep := r.next(t)
	if rep.Healthy || rep.Consecutive != 2 || rep.Detail != "exec [sh -c exit 1]: exit status 1" {
		t.Fatalf("report %+v", rep)
	}
}

func TestRunTCPUnhealthy(t *testing.T) {
	addr := closedAddr(t)
	r := start(t, Spec{Type: TypeTCP, Address: addr, Interval: 10 * time.Millisecond, Timeout: time.Second, Failures: 1})
	rep := r.next(t)
	if rep.Healthy || !strings.HasPrefix(rep.Detail, "dial tcp "+addr+": ") {
		t.Fatalf("report %+v", rep)
	}
}

func TestRunCancelKillsHangingProbe(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	spec := execSpec("sh", "-c", `echo $$ > "$0"; sleep 60 & sleep 60; wait`, pidFile)
	spec.Timeout = time.Minute
	before := goleak.IgnoreCurrent()
	r := start(t, spec)
	deadline := time.Now().Add(10 * time.Second)
	for !fileExists(pidFile) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	assertStopsQuickly(t, r, before)
	select {
	case rep := <-r.reports:
		t.Fatalf("a probe cut short by cancel was reported: %+v", rep)
	default:
	}
	assertGroupGone(t, readPid(t, pidFile))
}

func TestRunInvalidSpec(t *testing.T) {
	before := goleak.IgnoreCurrent()
	r := start(t, Spec{Type: "exec"})
	rep := r.next(t)
	if rep.Healthy || !strings.Contains(rep.Detail, "Command") {
		t.Fatalf("report %+v", rep)
	}
	assertStopsQuickly(t, r, before)
}

func assertStopsQuickly(t *testing.T, r *runner, before goleak.Option) {
	t.Helper()
	begin := time.Now()
	r.stop()
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Run took %v to return after cancel", d)
	}
	goleak.VerifyNone(t, before)
}
