package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/fsm/replay"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

func TestMain(m *testing.M) {
	proctest.Main()
	goleak.VerifyTestMain(m)
}

// rig is one supervisor over a real log and real processes.
type rig struct {
	t       testing.TB
	dir     string
	log     *store.Log
	spawner *proc.Spawner
	sampler *limits.Sampler
	stopSmp context.CancelFunc
	sup     *Supervisor
	// recovered: Recover runs once per open, after the first Load.
	recovered bool
	adjust    func(*Config)
	// fault, when set, fails every commit at its point, as a full disk or
	// a failing fsync would.
	fault atomic.Pointer[injected]
	// commits counts the log's commits of events that got through.
	commits atomic.Int64
	// gate, when set, holds every commit before its fsync until it is
	// closed, as a disk that stalls would (holdCommits).
	gate atomic.Pointer[chan struct{}]
	// indexLag, when set before open, is the log's IndexLag.
	indexLag int
	// cgroups: the spawner gives every incarnation a cgroup (newCgroupRig).
	cgroups bool
	tree    *cgroup.Tree
}

// injected is a disk error and the point of a commit it fails.
type injected struct {
	at  store.FaultPoint
	err error
}

func newRig(t testing.TB, specs ...*WorkerSpec) *rig {
	t.Helper()
	return newRigWith(t, nil, specs...)
}

// newCgroupRig is newRig with a cgroup per incarnation, or skips where no
// cgroup can be written. Whatever is left in its subtree is killed and
// removed at the end, failure or not.
func newCgroupRig(t testing.TB, specs ...*WorkerSpec) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), cgroups: true}
	inst := r.instance()
	if _, err := cgroup.Probe(inst, cgroup.Options{}); err != nil {
		t.Skipf("no writable cgroup v2 here: %v", err)
	}
	t.Cleanup(func() { purgeSubtree(t, inst) })
	r.open()
	if len(specs) > 0 {
		r.load(specs...)
	}
	t.Cleanup(r.finish)
	return r
}

// instance names the rig's cgroup subtree, as the daemon names its own.
func (r *rig) instance() string { return cgroup.InstanceID(filepath.Join(r.dir, "tend.db")) }

func openTree(t testing.TB, inst string) *cgroup.Tree {
	t.Helper()
	tr, err := cgroup.Open(inst, cgroup.Options{})
	if err != nil {
		t.Fatalf("cgroup: %v", err)
	}
	return tr
}

// purgeSubtree kills whatever is left in an instance's subtree and
// removes it.
func purgeSubtree(t testing.TB, inst string) {
	tr, err := cgroup.Open(inst, cgroup.Options{})
	if err != nil {
		t.Errorf("reopen %s: %v", inst, err)
		return
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := tr.Purge(ctx); err != nil {
		t.Errorf("purge: %v", err)
	}
}

// newRigWith lets a test adjust the supervisor's Config (e.g. its Prober).
func newRigWith(t testing.TB, adjust func(*Config), specs ...*WorkerSpec) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), adjust: adjust}
	r.open()
	if len(specs) > 0 {
		r.load(specs...)
	}
	t.Cleanup(r.finish)
	return r
}

func (r *rig) open() {
	t := r.t
	var err error
	r.log, err = store.Open(filepath.Join(r.dir, "tend.db"), store.Options{IndexLag: r.indexLag, Fault: func(at store.FaultPoint) error {
		if f := r.fault.Load(); f != nil && f.at == at {
			return f.err
		}
		if g := r.gate.Load(); g != nil && at == store.FaultBeforeSync {
			<-*g
		}
		if at == store.FaultAfterSync {
			r.commits.Add(1)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	opts := proc.Options{Subreaper: true}
	if r.cgroups {
		r.tree = openTree(t, r.instance())
		opts.Cgroups = r.tree
	}
	r.spawner, err = proc.NewSpawner(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.sampler = limits.NewSampler(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	r.stopSmp = cancel
	go r.sampler.Run(ctx)
	r.recovered = false
	cfg := Config{Log: r.log, Instance: filepath.Join(r.dir, "tend.db"), Spawner: ProcSpawner{r.spawner}, Watcher: r.sampler,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(testLogLevel()), BaseEnv: []string{"PATH=" + os.Getenv("PATH")}}
	if r.adjust != nil {
		r.adjust(&cfg)
	}
	r.sup, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
}

// holdCommits makes the log's commits wait before their fsync until the
// returned function is called: appends go on queueing meanwhile.
func (r *rig) holdCommits() (release func()) {
	g := make(chan struct{})
	r.gate.Store(&g)
	var once sync.Once
	release = func() {
		once.Do(func() {
			r.gate.Store(nil)
			close(g)
		})
	}
	r.t.Cleanup(release)
	return release
}

func (r *rig) load(specs ...*WorkerSpec) LoadResult {
	r.t.Helper()
	for _, s := range specs {
		if s.Hash == "" {
			s.Hash = s.SpecHash()
		}
	}
	res, err := r.sup.Load(context.Background(), specs, "test-config", "test")
	if err != nil {
		r.t.Fatal(err)
	}
	if !r.recovered {
		r.recovered = true
		if err := r.sup.Recover(context.Background()); err != nil {
			r.t.Fatal(err)
		}
	}
	return res
}

// close shuts the daemon down the way the real one does.
func (r *rig) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.sup.Shutdown(ctx, false, "test over"); err != nil {
		r.t.Errorf("shutdown: %v", err)
	}
	if err := r.sup.WaitProcesses(ctx); err != nil {
		r.t.Errorf("processes still running after shutdown: %v", err)
	}
	r.sup.Close()
	r.checkReplay()
	r.stopSmp()
	r.spawner.Close()
	if err := r.log.Close(); err != nil {
		r.t.Error(err)
	}
}

// wrapping is the rig's spawner with every process it starts wrapped: a
// test changes how a real process answers (a signal lost, a report late)
// without faking the process.
type wrapping struct {
	ProcSpawner
	wrap func(Process) Process
}

func (s wrapping) Start(spec proc.Spec) (Process, error) {
	p, err := s.ProcSpawner.Start(spec)
	if err != nil {
		return nil, err
	}
	return s.wrap(p), nil
}

// finish holds the invariants every test must leave true: the log verifies,
// replaying it gives the daemon's state, no child is left behind.
func (r *rig) finish() {
	if r.sup != nil {
		r.close()
		r.sup = nil
	}
	l, err := store.Open(filepath.Join(r.dir, "tend.db"), store.Options{ReadOnly: true})
	if err != nil {
		r.t.Fatal(err)
	}
	defer l.Close()
	rep, err := l.Verify(nil)
	if err != nil || !rep.OK {
		r.t.Errorf("log does not verify: %v %+v", err, rep)
	}
	if kids := children(); len(kids) > 0 {
		r.t.Errorf("child processes left behind: %v", kids)
		// Killed and reaped once reported: a process one test left must
		// not fail every test after it.
		for _, pid := range kids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, 0, nil)
		}
	}
}

// checkReplay holds the daemon's world to the replay of its log.
//
// The daemon reports its world as of a seq, and the log can be ahead of
// it: events are folded once durable, and what is observed after Close
// (a signal's report racing the supervisor's end) is written but never
// folded. So the world is compared with the replay up to its own seq.
func (r *rig) checkReplay() {
	r.t.Helper()
	live := r.sup.World()
	if last := r.log.LastSeq(); live.Seq > last {
		r.t.Fatalf("the daemon reports seq %d, the log ends at %d", live.Seq, last)
	}
	replayed, _, err := replay.World(r.log, live.Seq)
	if err != nil {
		r.t.Fatalf("replay: %v", err)
	}
	if !reflect.DeepEqual(stripMono(live), stripMono(replayed)) {
		r.t.Errorf("replayed state differs from the daemon's")
		for n, w := range live.Workers {
			if !reflect.DeepEqual(w, replayed.Workers[n]) {
				r.t.Errorf("  %s:\n    live     %+v\n    replayed %+v", n, *w, replayed.Workers[n])
			}
		}
	}
}

func stripMono(w *fsm.World) *fsm.World {
	b, _ := w.MarshalSnapshot()
	out, _ := fsm.UnmarshalSnapshot(b)
	return out
}

// children lists live (non-zombie) children of this test process.
func children() []int {
	var out []int
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		var pid int
		for _, c := range b {
			if c >= '0' && c <= '9' {
				pid = pid*10 + int(c-'0')
				continue
			}
			if pid > 0 && alive(pid) {
				out = append(out, pid)
			}
			pid = 0
		}
	}
	return out
}

// waitIgnoring waits until pid ignores sig (its handler is in place), so a
// test's stop cannot land before a stubborn worker is ready to ignore it.
func waitIgnoring(t testing.TB, pid int, sig syscall.Signal) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join("/proc", itoa(pid), "status"))
		for _, line := range strings.Split(string(b), "\n") {
			if hex, ok := strings.CutPrefix(line, "SigIgn:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64); err == nil && m&(1<<(uint(sig)-1)) != 0 {
					return
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("pid %d never ignored SIG%d", pid, sig)
}

func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat"))
	if err != nil {
		return false
	}
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2] != 'Z' && b[i+2] != 'X'
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }

func spec(name string, cmd []string) *WorkerSpec {
	return &WorkerSpec{
		Name: name, Command: cmd, Autostart: true,
		StartTimeout: 50 * time.Millisecond, StopSignal: syscall.SIGTERM, StopTimeout: 2 * time.Second,
		Policy: policy.Spec{Restart: policy.OnFailure, BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
			BreakerMax: 100, BreakerWindow: time.Minute},
	}
}

func (r *rig) waitState(name string, want events.State) fsm.Worker {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	w, err := r.sup.WaitFor(ctx, name, func(w *fsm.Worker) bool { return w.State == want })
	if err != nil {
		r.t.Fatalf("%s never reached %s (now %s: %s): %v", name, want, w.State, w.Cause, err)
	}
	return w
}

func (r *rig) waitFor(name, what string, cond func(*fsm.Worker) bool) fsm.Worker {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	w, err := r.sup.WaitFor(ctx, name, cond)
	if err != nil {
		r.t.Fatalf("%s: never %s (state %s: %s): %v", name, what, w.State, w.Cause, err)
	}
	return w
}

// history returns the worker's events from the log.
func (r *rig) history(name string) []events.Event {
	var out []events.Event
	if err := r.log.ScanWorker(name, 0, func(e *events.Event) error {
		out = append(out, *e)
		return nil
	}); err != nil {
		r.t.Fatal(err)
	}
	return out
}

func count(evs []events.Event, typ events.Type, stale bool) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ && e.Stale == stale {
			n++
		}
	}
	return n
}

// waitEvent waits until the worker's history holds an event matching pred.
func (r *rig) waitEvent(name, what string, pred func(*events.Event) bool) events.Event {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range r.history(name) {
			if pred(&e) {
				return e
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("%s: no %s in history", name, what)
	return events.Event{}
}

func testLogLevel() zerolog.Level {
	if os.Getenv("TEND_TEST_LOG") != "" {
		return zerolog.DebugLevel
	}
	return zerolog.WarnLevel
}
