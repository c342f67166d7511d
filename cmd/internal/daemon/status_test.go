package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"pgregory.net/rapid"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/query"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc"
)

// idleSpawner starts incarnations that run, without a process, until they
// are signalled: a world of thousands of Running workers for what reads it.
type idleSpawner struct{ pid atomic.Int64 }

type idleProc struct {
	pid  int
	done chan struct{}
	once atomic.Bool
}

func (s *idleSpawner) Start(proc.Spec) (supervisor.Process, error) {
	return &idleProc{pid: int(1<<22 + s.pid.Add(1)), done: make(chan struct{})}, nil
}

func (p *idleProc) PID() int                { return p.pid }
func (p *idleProc) Identity() proc.Identity { return proc.Identity{PID: p.pid, StartTicks: 1} }
func (p *idleProc) Wait() proc.Exit {
	<-p.done
	return proc.Exit{Code: -1, Signal: syscall.SIGTERM}
}
func (p *idleProc) Signal(syscall.Signal) error {
	if p.once.CompareAndSwap(false, true) {
		close(p.done)
	}
	return nil
}
func (p *idleProc) SignalStrays(syscall.Signal) (int, error) { return 0, nil }
func (p *idleProc) Remaining() int                           { return 0 }
func (p *idleProc) WaitGone(context.Context) error           { return nil }
func (p *idleProc) Release()                                 {}
func (p *idleProc) Member(int) bool                          { return false }

// idleAPI is the control API of a daemon whose n workers all run.
func idleAPI(tb testing.TB, n int) *api {
	tb.Helper()
	specs := make([]*supervisor.WorkerSpec, n)
	for i := range specs {
		sp := &supervisor.WorkerSpec{Name: "w" + strconv.Itoa(i+1), Command: []string{"/bin/sleep", "1000"}, Autostart: true,
			StopSignal: syscall.SIGTERM, StopTimeout: time.Second, Policy: policy.Spec{Restart: policy.Always,
				BackoffInitial: time.Second, BackoffMax: time.Second, BreakerMax: 5, BreakerWindow: time.Minute}}
		sp.Hash = sp.SpecHash()
		specs[i] = sp
	}
	return apiOver(tb, specs)
}

// apiOver is the control API of a daemon of idle incarnations with these
// workers, once those that start by themselves run.
func apiOver(tb testing.TB, specs []*supervisor.WorkerSpec) *api {
	tb.Helper()
	dir := tb.TempDir()
	log, err := store.Open(filepath.Join(dir, "tend.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	sampler := limits.NewSampler(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	go sampler.Run(ctx)
	sup, err := supervisor.New(supervisor.Config{Log: log, Instance: log.Path(), Spawner: &idleSpawner{}, Watcher: sampler,
		Logger: zerolog.Nop(), BaseEnv: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		if err := sup.Shutdown(sctx, false, "test over"); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		cancel()
		_ = log.Close()
	})
	if _, err := sup.Load(context.Background(), specs, "test", "test"); err != nil {
		tb.Fatal(err)
	}
	if err := sup.Recover(context.Background()); err != nil {
		tb.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer wcancel()
	for _, sp := range specs {
		if !sp.Autostart {
			continue
		}
		if w, err := sup.WaitFor(wctx, sp.Name, func(w *fsm.Worker) bool { return w.State == events.Running }); err != nil {
			tb.Fatalf("%s never ran (%s): %v", sp.Name, w.State, err)
		}
	}
	return &api{d: &Daemon{sup: sup}, stall: defaultStall}
}

// discard is a ResponseWriter that keeps only the length of the body.
type discard struct {
	h http.Header
	n int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

var statusJSON = httptest.NewRequest("GET", "/v1/status?view="+client.ViewWorkers, nil)

// BenchmarkStatus10k is the daemon's side of `tend status -o json` at
// 10,000 running workers: the views and their encoding.
func BenchmarkStatus10k(b *testing.B) {
	a := idleAPI(b, 10_000)
	benchStatus(b, a, statusJSON)
}

// benchStatus reports, beside the wall time, the process's CPU time an
// answer (what a machine busy with other work measures better), and its
// length.
func benchStatus(b *testing.B, a *api, req *http.Request) {
	w := &discard{h: http.Header{}}
	var before, after syscall.Rusage
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for b.Loop() {
		w.n = 0
		a.status(w, req)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(w.n), "bytes/answer")
}

var statusWhole = httptest.NewRequest("GET", "/v1/status", nil)

// BenchmarkStatusTable10k is the daemon's side of `tend status` (the
// table, which reads the whole status) at 10,000 running workers.
func BenchmarkStatusTable10k(b *testing.B) {
	a := idleAPI(b, 10_000)
	benchStatus(b, a, statusWhole)
}

// A status of every worker, once the daemon has answered one, makes
// neither views nor bytes again, even after collections: it allocated 1.3
// KB a worker (a copy of each fsm.Worker, a WorkerStatus, and the answer's
// bytes), and then, kept in a sync.Pool, its buffers were dropped by two
// collections, or not found by a goroutine on another processor: made
// afresh, 6.5 MB of pages at 10,000 workers that the kernel maps again.
func TestStatusKeepsItsBuffers(t *testing.T) {
	const n = 2000
	a := idleAPI(t, n)
	w := &discard{h: http.Header{}}
	a.status(w, statusJSON) // makes the buffers
	if w.n < 200*n {
		t.Fatalf("status of %d workers is %d bytes", n, w.n)
	}
	// The median of runs: the count is the whole process's, and what the
	// other tests left running allocates now and then too.
	const runs = 11
	var before, after runtime.MemStats
	per := make([]float64, runs)
	for i := range per {
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		a.status(w, statusJSON)
		runtime.ReadMemStats(&after)
		per[i] = float64(after.TotalAlloc-before.TotalAlloc) / n
	}
	slices.Sort(per)
	if per[runs/2] > 16 {
		t.Fatalf("a status after two collections allocates %.0f bytes a worker (median; runs %.0f), want at most 16: its views and bytes are made again", per[runs/2], per)
	}
	// Unused for statusIdle, they are let go of, and the next answer
	// makes them again.
	if got := a.d.statusBufs.release(time.Now().Add(statusIdle / 2)); got != 0 {
		t.Fatalf("released %d bytes of buffers used just now", got)
	}
	got := a.d.statusBufs.release(time.Now().Add(statusIdle))
	if min := n * int(sizeofView); got < min {
		t.Fatalf("released %d bytes after statusIdle, want the views' %d at least", got, min)
	}
	runtime.ReadMemStats(&before)
	a.status(w, statusJSON)
	runtime.ReadMemStats(&after)
	if made := after.TotalAlloc - before.TotalAlloc; made < uint64(n)*uint64(sizeofView) {
		t.Fatalf("after a release the next status made only %d bytes", made)
	}
}

// A status is sent as it is encoded, from a buffer of statusOut bytes at
// most: at 10,000 workers it was 3 MB encoded whole before the first byte
// went out. Sent in chunks through a real socket, it is the same bytes.
func TestStatusIsSentAsItIsMade(t *testing.T) {
	const n = 3000
	a := idleAPI(t, n)
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(a.status)}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	views, _, err := a.d.sup.Views(nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := appendStatus(nil, views, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if len(want) < 4*client.SpillAt {
		t.Fatalf("a status of %d workers is %d bytes, too few to be sent in chunks", n, len(want))
	}
	var got bytes.Buffer
	if err := client.New(sock).WriteStatusJSON(context.Background(), &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("through the socket, %d bytes; encoded whole, %d", got.Len(), len(want))
	}
	st, err := client.New(sock).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Workers) != n {
		t.Fatalf("the whole status, sent in chunks, has %d workers, want %d", len(st.Workers), n)
	}
	// Its head says how many workers follow: the client makes room for
	// them once.
	rec := httptest.NewRecorder()
	a.status(rec, statusWhole)
	if got := rec.Header().Get(client.WorkersHeader); got != strconv.Itoa(n) {
		t.Fatalf("%s: %q, want %d", client.WorkersHeader, got, n)
	}
	bufs := a.d.statusBufs.get()
	if cap(bufs.out) > statusOut {
		t.Fatalf("the answers were encoded in a buffer of %d bytes, want %d at most", cap(bufs.out), statusOut)
	}

	// Headers written, a failure cuts the connection.
	w := httptest.NewRecorder()
	ans := answer{w: w}
	if _, err := ans.spill([]byte("[")); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Fatalf("a failure after a spill: %v, want the connection cut (http.ErrAbortHandler)", r)
		}
	}()
	ans.fail(errors.New("encoding failed"))
}

// The status a daemon encodes from its views is, byte for byte, what
// json.MarshalIndent (for -o json) and json.Marshal (the whole status)
// give of query.WorkerStatus of each worker's whole state: the view carries all that status prints, and the one scratch
// WorkerStatus the encoder fills again and again leaks nothing from one
// worker to the next.
func TestStatusFromViewsIsQueryWorkerStatus(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ws := rapid.SliceOfN(rapid.Custom(anyFSMWorker), 0, 6).Draw(t, "workers")
		views := make([]supervisor.WorkerView, len(ws))
		want := make([]client.WorkerStatus, len(ws))
		for i := range ws {
			views[i] = supervisor.ViewOf(&ws[i])
			want[i] = query.WorkerStatus(&ws[i])
			if rapid.Bool().Draw(t, "scheduled") {
				next := anyTime(t, "next")
				views[i].NextRun, want[i].NextRun = next, &next
			}
			if rapid.Bool().Draw(t, "tracked") {
				views[i].Tracked, want[i].Tracking = true, modePgroup
				if g := rapid.SampledFrom([]string{"", "/sys/fs/cgroup/tend/w"}).Draw(t, "cgroup"); g != "" {
					views[i].Cgroup, want[i].Cgroup, want[i].Tracking = g, g, modeCgroup
				}
			}
			if rapid.Bool().Draw(t, "sampled") {
				views[i].Sampled = true
				views[i].Sample.RSS = rapid.Uint64().Draw(t, "rss")
				views[i].Sample.CPUValid = rapid.Bool().Draw(t, "cpuValid")
				views[i].Sample.CPU = rapid.Float64Range(0, 1e4).Draw(t, "cpu")
				want[i].RSSBytes = views[i].Sample.RSS
				if views[i].Sample.CPUValid {
					want[i].CPUPercent = views[i].Sample.CPU
				}
			}
		}
		for i := range views {
			var got client.WorkerStatus
			workerStatus(&got, &views[i], new(statusScratch))
			if !reflect.DeepEqual(got, want[i]) {
				t.Fatalf("worker %d from its view:\n%+v\nfrom its state:\n%+v", i, got, want[i])
			}
		}
		got, err := appendStatus(nil, views, nil)
		if err != nil {
			t.Fatal(err)
		}
		exp, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, exp) {
			t.Fatalf("encoded from views:\n%s\nencoding/json:\n%s", got, exp)
		}

		// The whole status, which the table reads, as writeJSON wrote it
		// with the workers in it.
		st := client.Status{Seq: events.Seq(rapid.Uint64().Draw(t, "seq")),
			LogFailure: rapid.SampledFrom([]string{"", "disk <full>"}).Draw(t, "logFailure")}
		if rapid.Bool().Draw(t, "tracking") {
			st.Tracking = &client.Tracking{Mode: modeCgroup, Where: "/sys/fs/cgroup/tend"}
		}
		if rapid.Bool().Draw(t, "notify") {
			st.Notify = []client.NotifyStatus{{Name: "pager", Cursor: 3, Error: "refused"}}
		}
		got, err = appendWholeStatus([]byte("kept"), &st, views, nil)
		if err != nil {
			t.Fatal(err)
		}
		st.Workers = want
		exp, err = json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if exp = append(exp, '\n'); !bytes.Equal(got[len("kept"):], exp) {
			t.Fatalf("whole status from views:\n%s\nencoding/json:\n%s", got, exp)
		}
	})
}

func anyTime(t *rapid.T, label string) time.Time {
	return time.Unix(rapid.Int64Range(0, 4e9).Draw(t, label), rapid.Int64Range(0, 999_999_999).Draw(t, label+"ns")).UTC()
}

func anyFSMWorker(t *rapid.T) fsm.Worker {
	text := rapid.SampledFrom([]string{"", "web", "web@2", "a<b>&\"c\"", "process exited with status 1", "\xff\n"})
	w := fsm.Worker{
		Name: text.Draw(t, "name"), State: events.State(rapid.IntRange(0, int(events.Killed)).Draw(t, "state")),
		PID: rapid.IntRange(0, 1<<22).Draw(t, "pid"), Incarnation: events.Incarnation(rapid.Uint64().Draw(t, "inc")),
		Restarts: rapid.IntRange(0, 1000).Draw(t, "restarts"), Since: anyTime(t, "since"),
		Cause: text.Draw(t, "cause"), Actor: text.Draw(t, "actor"), Health: text.Draw(t, "health"), Status: text.Draw(t, "status"),
		Waiting: text.Draw(t, "waiting"), WaitCause: text.Draw(t, "waitCause"), WaitSince: anyTime(t, "waitSince"),
		Spec: "digest", StartTicks: 7, LastPlanned: anyTime(t, "planned"),
	}
	w.Policy.Pending = rapid.Bool().Draw(t, "pending")
	w.Policy.Due = anyTime(t, "due")
	w.Policy.BreakerOpen = rapid.Bool().Draw(t, "breaker")
	if rapid.Bool().Draw(t, "exited") {
		x := &fsm.Exit{Incarnation: w.Incarnation, Signal: rapid.SampledFrom([]int{0, 9, 15, 99}).Draw(t, "signal"),
			Lost: rapid.Bool().Draw(t, "lost"), At: anyTime(t, "at"), Cause: text.Draw(t, "exitCause")}
		if rapid.Bool().Draw(t, "code?") {
			c := rapid.IntRange(-1, 255).Draw(t, "code")
			x.Code = &c
		}
		w.LastExit = x
	}
	return w
}
