package proptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/fsm/replay"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// Bounds. A batch that does not finish within batchBound is a deadlock;
// the supervisor is quiet once its durable seq has not moved for
// quietFor.
const (
	batchBound  = 10 * time.Second
	settleBound = 10 * time.Second
	quietFor    = 30 * time.Millisecond
)

// ---- workers and configurations ----

// The three workers cover the policy's corners: a restarts always with a
// breaker that cools down; b ignores its stop signal (so stops end in
// SIGKILL), needs a start timeout, restarts only on failure and its breaker
// stays open; c restarts at once (no backoff).
var workerNames = []string{"a", "b", "c"}

func workerPolicy(w string) policy.Spec {
	switch w {
	case "a":
		return policy.Spec{Restart: policy.Always, BackoffInitial: time.Second, BackoffMax: 4 * time.Second,
			BreakerMax: 3, BreakerWindow: time.Minute, BreakerCooldown: 30 * time.Second, StableAfter: 10 * time.Second}
	case "b":
		return policy.Spec{Restart: policy.OnFailure, BackoffInitial: time.Second, BackoffMax: 8 * time.Second,
			BreakerMax: 2, BreakerWindow: time.Minute, StableAfter: 10 * time.Second}
	}
	return policy.Spec{Restart: policy.Always, BreakerMax: 4, BreakerWindow: time.Minute,
		BreakerCooldown: 20 * time.Second, StableAfter: 10 * time.Second}
}

const stopTimeout = 5 * time.Second

func startTimeout(w string) time.Duration {
	if w == "b" {
		return 2 * time.Second
	}
	return 0
}

// configs: a configuration is a hash naming which workers it has and
// whether a's spec changed (a reload then restarts a).
var configs = map[string][]string{
	"full":    {"a", "b", "c"},
	"a2":      {"a", "b", "c"},
	"noc":     {"a", "b"},
	"noc-a2":  {"a", "b"},
	"only-ab": {"a", "b"},
}

func buildSpecs(cfg string, real bool) []*supervisor.WorkerSpec {
	var out []*supervisor.WorkerSpec
	for _, w := range configs[cfg] {
		s := &supervisor.WorkerSpec{
			Name: w, Command: []string{"fake", w}, Autostart: w != "b",
			StartTimeout: startTimeout(w), StopSignal: syscall.SIGTERM, StopTimeout: stopTimeout,
			Policy: workerPolicy(w),
			Health: &health.Spec{Type: health.TypeTCP, Address: probeAddr(w), Interval: time.Second, Timeout: time.Second, Failures: 1},
			Limits: &limits.Spec{Memory: 1 << 20, MemoryPolicy: limits.PolicyLog},
		}
		if real {
			mode := "hang"
			if !termExits(w) {
				mode = "ignore-sigterm"
			}
			s.Command = proctest.Command(mode)
		}
		if w == "a" && strings.HasSuffix(cfg, "a2") {
			s.Env = map[string]string{"CHANGED": "1"}
		}
		s.Hash = s.SpecHash()
		out = append(out, s)
	}
	return out
}

func policies() map[string]policy.Spec {
	m := map[string]policy.Spec{}
	for _, w := range workerNames {
		m[w] = workerPolicy(w)
	}
	return m
}

// ---- operations ----

type opKind int

const (
	opStart opKind = iota
	opStop
	opRestart
	opExit       // the process exits with a code
	opExitSignal // the process is killed by a signal from outside
	opHealthFail
	opHealthOK
	opViolation      // a limit violation of the current incarnation
	opStaleViolation // a late violation of an incarnation that has ended
	opAdvance        // time passes: stop timeouts, backoffs, cooldowns elapse
	opReload
	opFailSpawn  // the worker's next spawn fails
	opDiskFail   // every commit fails until the disk is repaired
	opDiskRepair // commits succeed again
	opDiskGlitch // the next commit fails
	opSignal     // an operator's signal (operatorSignal) to the running incarnation
)

var opNames = map[opKind]string{
	opStart: "start", opStop: "stop", opRestart: "restart", opExit: "exit", opExitSignal: "exit-signal",
	opHealthFail: "health-fail", opHealthOK: "health-ok", opViolation: "violation", opStaleViolation: "stale-violation",
	opAdvance: "advance", opReload: "reload", opFailSpawn: "fail-next-spawn",
	opDiskFail: "disk-fails", opDiskRepair: "disk-repaired", opDiskGlitch: "disk-glitch", opSignal: "signal",
}

type op struct {
	kind opKind
	w    string
	code int
	sig  syscall.Signal
	pol  limits.Policy
	d    time.Duration
	cfg  string
}

func (o op) String() string {
	s := opNames[o.kind]
	switch o.kind {
	case opAdvance:
		return fmt.Sprintf("%s %s", s, o.d)
	case opReload:
		return fmt.Sprintf("%s %s", s, o.cfg)
	case opExit:
		return fmt.Sprintf("%s %s code=%d", s, o.w, o.code)
	case opExitSignal:
		return fmt.Sprintf("%s %s SIG%s", s, o.w, events.SignalName(int(o.sig)))
	case opViolation, opStaleViolation:
		return fmt.Sprintf("%s %s policy=%s", s, o.w, o.pol)
	case opDiskFail, opDiskRepair, opDiskGlitch:
		return s
	}
	return s + " " + o.w
}

var allPolicies = []limits.Policy{limits.PolicyLog, limits.PolicyRestart, limits.PolicyStop, limits.PolicyKill}

// opGen draws one operation of the given kinds on the given workers.
func opGen(kinds []opKind, workers []string) *rapid.Generator[op] {
	return rapid.Custom(func(t *rapid.T) op {
		o := op{kind: rapid.SampledFrom(kinds).Draw(t, "kind"), w: rapid.SampledFrom(workers).Draw(t, "worker")}
		switch o.kind {
		case opExit:
			o.code = rapid.SampledFrom([]int{0, 1, 3}).Draw(t, "code")
		case opExitSignal:
			o.sig = rapid.SampledFrom([]syscall.Signal{syscall.SIGKILL, syscall.SIGSEGV}).Draw(t, "signal")
		case opViolation, opStaleViolation:
			o.pol = rapid.SampledFrom(allPolicies).Draw(t, "policy")
		case opAdvance:
			o.d = rapid.SampledFrom([]time.Duration{time.Second, 2 * time.Second, stopTimeout, 11 * time.Second, 30 * time.Second, 2 * time.Minute}).Draw(t, "advance")
		case opReload:
			o.cfg = rapid.SampledFrom([]string{"full", "a2", "noc", "noc-a2"}).Draw(t, "config")
		case opSignal:
			o.code = rapid.IntRange(0, 1).Draw(t, "wait for the outcome")
		}
		return o
	})
}

// progsGen draws a batch: one program per goroutine.
func progsGen(kinds []opKind, workers []string, maxG, maxOps int) *rapid.Generator[[][]op] {
	return rapid.SliceOfN(rapid.SliceOfN(opGen(kinds, workers), 1, maxOps), 1, maxG)
}

// ---- the rig ----

type result struct {
	g      int
	o      op
	before events.Seq // durable seq when the call was made
	ev     *events.Event
	load   supervisor.LoadResult
	err    error
	note   string
}

// rig is one daemon (supervisor over a real store.Log in a temporary
// directory) over the fake OS, restarted as often as the test likes.
type rig struct {
	dir     string
	fos     *fakeOS
	log     *store.Log
	sup     *supervisor.Supervisor
	cfg     string
	real    bool
	results []result
	story   []string // the interleaving so far, printed on failure
	broken  bool     // deadlocked or panicked: do not touch the supervisor again
	since   map[string]time.Time
	model   *model // of the last check
	leaks   goleak.Option
	// from: the durable seq when the last batch began; faulty: the disk
	// failed or the daemon died during it, so a command may have been
	// refused with the disk's error.
	from   events.Seq
	faulty bool
	// recoveries: what the OS held when each daemon started.
	recoveries []recovery
	digests    map[string]map[string]string
	// specs builds a configuration's workers (buildSpecs, unless a
	// property has workers of its own). judge, when set, replaces the
	// model: it checks the log and the world folded from it; calm checks
	// what must hold once the supervisor is quiet.
	specs func(cfg string) []*supervisor.WorkerSpec
	judge func(world *fsm.World, evs []events.Event) []string
	calm  func(world *fsm.World) []string
}

func newRig(t *rapid.T, real bool) *rig {
	return newRigOf(t, real, "full", func(cfg string) []*supervisor.WorkerSpec { return buildSpecs(cfg, real) }, configs)
}

// newRigOf is a rig whose configurations are cfgs, built by specs; the
// daemon starts with cfg.
func newRigOf(t *rapid.T, real bool, cfg string, specs func(string) []*supervisor.WorkerSpec, cfgs map[string][]string) *rig {
	dir, err := os.MkdirTemp("", "tend-proptest-")
	if err != nil {
		t.Fatalf("tempdir: %v", err)
	}
	r := &rig{dir: dir, fos: newFakeOS(), cfg: cfg, real: real, since: map[string]time.Time{}, leaks: goleak.IgnoreCurrent(),
		digests: map[string]map[string]string{}, specs: specs}
	r.fos.instance = dir
	for c := range cfgs {
		r.digests[c] = map[string]string{}
		for _, sp := range specs(c) {
			r.digests[c][sp.Name] = sp.Hash
		}
	}
	if real {
		r.fos.real, err = proc.NewSpawner(proc.Options{})
		if err != nil {
			t.Fatalf("spawner: %v", err)
		}
	}
	if err := r.open(); err != nil {
		t.Fatalf("open: %v", err)
	}
	return r
}

// open starts a daemon the way the real one starts: replay, load,
// recover. Its disk is sound and it is alive.
func (r *rig) open() error {
	var err error
	r.log, err = store.Open(filepath.Join(r.dir, "tend.db"), store.Options{Fault: func(at store.FaultPoint) error {
		if at != store.FaultBeforeWrite {
			return nil
		}
		return r.fos.faultCommit()
	}})
	if err != nil {
		return err
	}
	sup, err := supervisor.New(supervisor.Config{
		Log: r.log, Spawner: r.fos, Watcher: r.fos, Probe: r.fos.Probe, Clock: r.fos,
		Jitter: func() float64 { return modelJitter }, Logger: zerolog.Nop(), BaseEnv: []string{},
		Instance: r.dir,
	})
	if err != nil {
		return err
	}
	r.sup = sup
	// Recovery runs a stopping worker's stop timeout, and a starting
	// one's start timeout, again from its own start; a scheduled restart
	// and a cooldown keep the times the log gave them.
	for k := range r.since {
		if strings.HasSuffix(k, "/stop timeout") || strings.HasSuffix(k, "/start timeout") {
			delete(r.since, k)
		}
	}
	// What the OS holds as this daemon starts, for the model to judge
	// its recovery by; its daemon_started follows what it replayed.
	r.recoveries = append(r.recoveries, recovery{started: sup.Seq() + 1, procs: r.fos.osProcs()})
	log := r.log
	r.fos.reopen(func(name string) (fsm.Worker, bool) {
		w := sup.World().Worker(name)
		if w == nil {
			return fsm.Worker{}, false
		}
		return *w, true
	}, func(name string, inc uint64) int {
		n := 0
		_ = log.Scan(1, sup.Seq(), func(e *events.Event) error {
			if e.Type == events.SignalRequested && !e.Stale && e.Worker == name && uint64(e.Incarnation) == inc {
				n++
			}
			return nil
		})
		return n
	})
	ctx, cancel := context.WithTimeout(context.Background(), batchBound)
	defer cancel()
	// The configuration in force is the last one the log recorded.
	if h := sup.World().ConfigHash; h != "" {
		r.cfg = h
	}
	if _, err := sup.Load(ctx, r.specs(r.cfg), r.cfg, "config"); err != nil {
		return err
	}
	return sup.Recover(ctx)
}

// How a daemon ends before the next one starts over the same log.
const (
	restartGraceful = "graceful" // every worker stopped first
	restartLeave    = "leave"    // shut down leaving the workers running
	restartCrash    = "crash"    // killed: nothing stopped, nothing more written
)

// restartDaemon ends the daemon as kind says and opens a new one over the
// same log. Workers left running may die, or fork children that leave
// their group, while no daemon watches (t draws what happens).
func (r *rig) restartDaemon(t *rapid.T, kind string) []string {
	r.story = append(r.story, "daemon restart: "+kind)
	var probs []string
	if kind == restartCrash {
		probs = r.crash()
	} else {
		probs = r.shutdown(kind == restartGraceful)
	}
	if len(probs) > 0 {
		return probs
	}
	if kind != restartGraceful {
		r.down(t)
	}
	if err := r.open(); err != nil {
		return []string{fmt.Sprintf("reopen: %v", err)}
	}
	return nil
}

func (r *rig) shutdown(graceful bool) []string {
	ctx, cancel := context.WithTimeout(context.Background(), settleBound)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.sup.Shutdown(ctx, !graceful, "test") }()
	// Workers that ignore their stop signal need the stop timeout to pass.
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-time.After(2 * time.Millisecond):
			r.fos.advance(stopTimeout)
		}
	}
	if err != nil {
		r.broken = true
		return []string{fmt.Sprintf("shutdown did not finish: %v", err)}
	}
	return r.close(ctx)
}

// crash kills the daemon: from this instant none of its effects happens
// and none of its commits reaches the disk; it is closed without Shutdown
// and the processes it held run on.
func (r *rig) crash() []string {
	r.fos.die()
	ctx, cancel := context.WithTimeout(context.Background(), settleBound)
	defer cancel()
	return r.close(ctx)
}

// close closes the supervisor and the log, checks the file, and lets go
// of every process the daemon held.
func (r *rig) close(ctx context.Context) []string {
	r.sup.Close()
	if err := r.log.Close(); err != nil {
		return []string{fmt.Sprintf("log close: %v", err)}
	}
	// Verify reads in short transactions, so it is run only on a closed
	// log: on a live one a commit can land between its reads.
	if probs := verifyLog(r.dir); len(probs) > 0 {
		return probs
	}
	r.fos.releaseHandles()
	if err := r.sup.WaitProcesses(ctx); err != nil {
		r.broken = true
		return []string{fmt.Sprintf("process waiters still running after the daemon closed: %v", err)}
	}
	r.sup = nil
	return nil
}

// down is the time no daemon runs: the clock may move; processes may die;
// (fake ones) may fork children that leave their group, and a process
// unrelated to tend may start; either may take a pid a dead process freed,
// with a start time of its own.
func (r *rig) down(t *rapid.T) {
	r.fos.settleDying()
	if d := rapid.SampledFrom([]time.Duration{0, time.Second, 11 * time.Second, 2 * time.Minute}).Draw(t, "time while down"); d > 0 {
		r.fos.advance(d)
		r.story = append(r.story, fmt.Sprintf("  down for %s", d))
	}
	n := rapid.IntRange(0, 4).Draw(t, "things happening while down")
	for i := 0; i < n; i++ {
		live := r.fos.live()
		if len(live) == 0 {
			return
		}
		p := live[rapid.IntRange(0, len(live)-1).Draw(t, "which process")]
		what := "dies"
		if !r.real {
			what = rapid.SampledFrom([]string{"dies", "forks", "a stranger starts"}).Draw(t, "what happens")
		}
		if what == "dies" {
			r.fos.kill(p)
			r.story = append(r.story, fmt.Sprintf("  %s dies", p))
			continue
		}
		pid := 0
		if free := r.fos.freePIDs(); len(free) > 0 && rapid.Bool().Draw(t, "it gets a freed pid") {
			pid = free[rapid.IntRange(0, len(free)-1).Draw(t, "freed pid")]
		}
		if what == "forks" {
			r.story = append(r.story, fmt.Sprintf("  %s forks %s", p, r.fos.fork(p, pid)))
			continue
		}
		r.story = append(r.story, fmt.Sprintf("  %s starts", r.fos.stranger(pid)))
	}
}

// runBatch runs one program per goroutine, all at once.
func (r *rig) runBatch(progs [][]op) []string {
	r.from = r.sup.Seq()
	var lines []string
	for g, p := range progs {
		var s []string
		for _, o := range p {
			s = append(s, o.String())
		}
		lines = append(lines, fmt.Sprintf("  g%d: %s", g, strings.Join(s, "; ")))
	}
	r.story = append(r.story, "batch:\n"+strings.Join(lines, "\n"))
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		panics  []string
		results []result
		start   = make(chan struct{})
	)
	// The results so far; an operation stuck past the bound adds none.
	defer func() {
		mu.Lock()
		r.results = append(r.results, results...)
		mu.Unlock()
	}()
	for g, prog := range progs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					mu.Lock()
					panics = append(panics, fmt.Sprintf("g%d panicked: %v\n%s", g, p, debug.Stack()))
					mu.Unlock()
				}
			}()
			<-start
			for _, o := range prog {
				res := r.do(g, o)
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
			}
		}()
	}
	close(start)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(batchBound):
		r.broken = true
		if os.Getenv("PROPTEST_VERBOSE") != "" {
			// Where everything stands: the supervisor's goroutines name
			// the lock or channel the batch waits on.
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		}
		return []string{fmt.Sprintf("batch did not finish within %s: deadlock", batchBound)}
	}
	if len(panics) > 0 {
		r.broken = true
		return panics
	}
	return nil
}

func actor(g int) string { return fmt.Sprintf("op%d", g) }

// do runs one operation; it is called from the batch's goroutines.
func (r *rig) do(g int, o op) result {
	ctx, cancel := context.WithTimeout(context.Background(), batchBound)
	defer cancel()
	res := result{g: g, o: o, before: r.sup.Seq()}
	switch o.kind {
	case opStart:
		res.ev, res.err = r.sup.Start(ctx, o.w, actor(g))
	case opStop:
		res.ev, res.err = r.sup.Stop(ctx, o.w, actor(g))
	case opRestart:
		res.ev, res.err = r.sup.Restart(ctx, o.w, actor(g))
	case opReload:
		res.load, res.err = r.sup.Load(ctx, r.specs(o.cfg), o.cfg, actor(g))
	case opExit:
		res.note = fmt.Sprint(r.fos.exitProcess(o.w, o.code, 0))
	case opExitSignal:
		res.note = fmt.Sprint(r.fos.exitProcess(o.w, -1, o.sig))
	case opHealthFail, opHealthOK:
		res.note = fmt.Sprint(r.fos.healthReport(o.w, o.kind == opHealthOK))
	case opViolation, opStaleViolation:
		res.note = fmt.Sprint(r.fos.violation(o.w, o.pol, o.kind == opStaleViolation))
	case opAdvance:
		r.fos.advance(o.d)
	case opFailSpawn:
		r.fos.failNextSpawn(o.w)
	case opDiskFail:
		r.fos.breakDisk()
	case opDiskRepair:
		r.fos.repairDisk()
	case opDiskGlitch:
		r.fos.glitch(1)
	case opSignal:
		// Waiting for the outcome ends at a fault: a dead daemon or a
		// refusing disk records none.
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		go func(trouble <-chan struct{}) {
			select {
			case <-trouble:
				cancel(errTrouble)
			case <-ctx.Done():
			}
		}(r.fos.faulted())
		var rs []supervisor.Reply
		rs, res.err = r.sup.Do(ctx, supervisor.Request{Verb: core.SendSignal, Workers: []string{o.w}, Actor: actor(g),
			Signal: int(operatorSignal), Wait: o.code == 1})
		if res.err == nil {
			res.ev, res.err = rs[0].Event, rs[0].Err
		}
		if res.err != nil && errors.Is(context.Cause(ctx), errTrouble) {
			res.err = fmt.Errorf("%w: %w", errTrouble, res.err)
		}
	}
	return res
}

// quiesce waits until the durable seq stops moving. The supervisor's own
// sleeps (an observation retried after the disk refused it) come due on
// the way: the clock moves as far as they need.
func (r *rig) quiesce() {
	deadline := time.Now().Add(settleBound)
	last, since := r.sup.Seq(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		if s := r.sup.Seq(); s != last || r.log.LastSeq() != s {
			last, since = s, time.Now()
			continue
		}
		if time.Since(since) >= quietFor {
			if r.fos.advanceSleeps() {
				since = time.Now()
				continue
			}
			return
		}
	}
}

// readLog returns the events 1..to.
func readLog(l *store.Log, to events.Seq) ([]events.Event, error) {
	var evs []events.Event
	if to == 0 {
		return nil, nil
	}
	err := l.Scan(1, to, func(e *events.Event) error {
		c := *e
		c.EnvNames = append([]string(nil), e.EnvNames...)
		c.Command = append([]string(nil), e.Command...)
		evs = append(evs, c)
		return nil
	})
	return evs, err
}

func canon(w *fsm.World) string {
	b, _ := w.MarshalSnapshot()
	c, err := fsm.UnmarshalSnapshot(b)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	b, _ = json.Marshal(c)
	return string(b)
}

// check runs every invariant and returns what is broken.
func (r *rig) check() []string {
	probs := r.fos.takeProblems()
	world := r.sup.World()
	probs = append(probs, r.checkLog(world, r.log)...)
	probs = append(probs, r.settled()...)
	probs = append(probs, r.fos.takeProblems()...)
	return probs
}

// checkLog checks the log against the world, the fold, the model and the
// acknowledged results.
func (r *rig) checkLog(world *fsm.World, l *store.Log) []string {
	var probs []string
	for n, w := range world.Workers {
		if !w.State.Valid() {
			probs = append(probs, fmt.Sprintf("worker %s in no state (%d)", n, w.State))
		}
	}
	evs, err := readLog(l, world.Seq)
	if err != nil {
		return append(probs, fmt.Sprintf("scan: %v", err))
	}
	// Replaying the log from nothing gives exactly the daemon's state.
	replayed := fsm.NewWorld()
	for i := range evs {
		if err := replayed.Apply(&evs[i]); err != nil {
			probs = append(probs, fmt.Sprintf("replay: %v", err))
			break
		}
	}
	if a, b := canon(world), canon(replayed); a != b {
		probs = append(probs, fmt.Sprintf("replayed world differs from the daemon's:\n  daemon   %s\n  replayed %s", a, b))
	}
	if r.judge != nil {
		probs = append(probs, r.judge(world, evs)...)
		return append(probs, r.witnesses(evs, nil)...)
	}
	m := newModel(policies(), configs, r.digests, r.recoveries)
	m.run(evs)
	r.model = m
	probs = append(probs, m.problems...)
	probs = append(probs, m.compare(world)...)
	probs = append(probs, r.witnesses(evs, m)...)
	return probs
}

// witnesses checks each acknowledged command against the log: the log
// order is the linearization order, so an accepted command's event must sit
// at the seq it was acknowledged with, after the durable seq seen when it
// was called, in each goroutine's program order; a refused one must have
// been refusable at some point while it ran.
func (r *rig) witnesses(evs []events.Event, m *model) []string {
	var probs []string
	last := map[int]events.Seq{}
	end := events.Seq(len(evs))
	acked := map[events.Seq]bool{}
	for _, res := range r.results {
		var seq events.Seq
		switch {
		case res.err != nil:
			if errors.Is(res.err, supervisor.ErrNoWorker) && m != nil && m.unconfiguredBetween(res.o.w, res.before, end) {
				continue
			}
			// Refused because the log could not take it: the disk failed
			// or the daemon died meanwhile.
			if r.faulty && (errors.Is(res.err, errDisk) || errors.Is(res.err, errDead) || errors.Is(res.err, errTrouble)) {
				continue
			}
			if res.o.kind == opSignal && errors.Is(res.err, core.ErrNotRunning) {
				continue // judged by the fake: it never got what was not asked for
			}
			var configured []bool
			if m != nil {
				configured = m.configured[res.o.w]
			}
			probs = append(probs, fmt.Sprintf("g%d %s refused: %v (called at durable seq %d; configured after each seq: %v)",
				res.g, res.o, res.err, res.before, configured))
			continue
		case res.o.kind == opReload:
			seq = res.load.Seq
			if seq == 0 || seq > end || evs[seq-1].Type != events.ConfigLoaded || evs[seq-1].Hash != res.o.cfg || evs[seq-1].Actor != actor(res.g) {
				probs = append(probs, fmt.Sprintf("g%d %s acknowledged at seq %d, which the log does not hold", res.g, res.o, seq))
				continue
			}
		case res.ev != nil:
			seq = res.ev.Seq
			if seq == 0 || seq > end {
				probs = append(probs, fmt.Sprintf("g%d %s acknowledged at seq %d beyond the durable log (%d)", res.g, res.o, seq, end))
				continue
			}
			got := evs[seq-1]
			if got.Type != res.ev.Type || got.Worker != res.ev.Worker || got.Actor != actor(res.g) ||
				got.Stale != res.ev.Stale || got.From != res.ev.From || got.To != res.ev.To || got.Incarnation != res.ev.Incarnation {
				probs = append(probs, fmt.Sprintf("g%d %s acknowledged %+v, the log holds %+v at seq %d", res.g, res.o, *res.ev, got, seq))
			}
		default:
			// A start or stop of a worker that already waits for the
			// same thing records nothing new.
			if res.o.kind <= opRestart && !(r.judge != nil && r.waited(res.o.w, res.o.kind == opStop, evs)) {
				probs = append(probs, fmt.Sprintf("g%d %s returned neither an event nor an error", res.g, res.o))
			}
			continue
		}
		if seq <= res.before {
			probs = append(probs, fmt.Sprintf("g%d %s acknowledged at seq %d, not after seq %d that was durable when it was called", res.g, res.o, seq, res.before))
		}
		if seq <= last[res.g] {
			probs = append(probs, fmt.Sprintf("g%d %s acknowledged at seq %d, not after its previous command's seq %d", res.g, res.o, seq, last[res.g]))
		}
		last[res.g] = seq
		acked[seq] = true
	}
	// A command that was not acknowledged (refused, or the disk failed
	// it) left nothing in the log: every command's own event there is
	// one its caller was told of.
	for i := r.from; i < end; i++ {
		if e := &evs[i]; commandEvent(e) && !acked[e.Seq] {
			probs = append(probs, fmt.Sprintf("seq %d %s %s by %s is in the log, but no command was acknowledged with it", e.Seq, e.Type, e.Worker, e.Actor))
		}
	}
	return probs
}

// waited reports whether the log has w waiting to start (or to stop) at
// some point.
func (r *rig) waited(w string, stop bool, evs []events.Event) bool {
	what := "start"
	if stop {
		what = "stop"
	}
	for i := range evs {
		if e := &evs[i]; e.Type == events.Waiting && e.Worker == w && e.Policy == what {
			return true
		}
	}
	return false
}

// commandEvent reports whether e is the event of an operator's command
// (start, stop, restart, reload) from one of the batch's goroutines.
func commandEvent(e *events.Event) bool {
	if !strings.HasPrefix(e.Actor, "op") {
		return false
	}
	switch e.Type {
	case events.ConfigLoaded:
		return true
	case events.StartRequested:
		return e.Cause == "start requested by "+e.Actor
	case events.StopRequested:
		return e.Cause == "stop requested by "+e.Actor
	case events.RestartRequested:
		return e.Cause == "restart requested by "+e.Actor
	}
	return false
}

// settled checks what must hold once the supervisor is quiet, waiting a
// little longer when it does not (yet) hold, since quiet is judged from
// outside.
func (r *rig) settled() []string {
	var probs []string
	// Up to 2 s of patience: under -race beside other packages' tests a
	// timer's goroutine can lag well behind the fake clock that fired it.
	for try := 0; try < 40; try++ {
		r.quiesce()
		world := r.sup.World()
		probs = r.fos.settledProblems(world)
		if evs, err := readLog(r.log, world.Seq); err == nil {
			probs = append(probs, r.fos.lateProblems(evs)...)
		}
		probs = append(probs, r.timersFire(world)...)
		if r.calm != nil {
			probs = append(probs, r.calm(world)...)
		}
		if len(probs) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return probs
}

// timersFire checks that whatever waits for time does not wait forever: a
// scheduled restart, a breaker cooldown, a stop timeout and a start
// timeout must each have fired once the fake clock has passed them.
func (r *rig) timersFire(world *fsm.World) []string {
	now := r.fos.Now()
	var probs []string
	seen := map[string]bool{}
	specs := map[string]*supervisor.WorkerSpec{}
	for _, sp := range r.specs(r.cfg) {
		specs[sp.Name] = sp
	}
	for _, n := range world.Names(false) {
		w := world.Worker(n)
		pol, startTimeout := workerPolicy(n), startTimeout(n)
		if sp := specs[n]; sp != nil {
			pol, startTimeout = sp.Policy, sp.StartTimeout
		}
		type wait struct {
			what  string
			bound time.Duration
		}
		var ws []wait
		// A restart or cooldown scheduled by an earlier daemon is re-armed
		// by the next one: it is part of the state the log describes.
		// A restart that came due while a requirement does not hold
		// waits for it (recorded as waiting) and stays pending until it
		// goes through.
		if w.Policy.Pending && w.Waiting != "start" {
			ws = append(ws, wait{"scheduled restart", pol.BackoffMax})
		}
		if w.Policy.BreakerOpen && !w.Live() && pol.BreakerCooldown > 0 && !w.Flags.StopAsked {
			ws = append(ws, wait{"breaker cooldown", pol.BreakerCooldown})
		}
		if w.State == events.Stopping && !w.Flags.KillSent {
			ws = append(ws, wait{"stop timeout", stopTimeout})
		}
		if w.State == events.Starting && w.PID != 0 && startTimeout > 0 {
			ws = append(ws, wait{"start timeout", startTimeout})
		}
		if w.State == events.Starting && w.PID != 0 && startTimeout == 0 {
			// No start timeout: running once its process exists, whether
			// spawned or adopted.
			probs = append(probs, fmt.Sprintf("%s (incarnation %d, pid %d) is still Starting, but it has no start timeout", n, w.Incarnation, w.PID))
		}
		for _, x := range ws {
			key := fmt.Sprintf("%s/%d/%s/%s", n, w.Incarnation, w.State, x.what)
			seen[key] = true
			t0, ok := r.since[key]
			if !ok {
				r.since[key] = now
				continue
			}
			if !now.Before(t0.Add(x.bound)) {
				probs = append(probs, fmt.Sprintf("%s of %s (incarnation %d, %s) never fired: waiting since %s, now %s",
					x.what, n, w.Incarnation, w.State, t0.Format(time.TimeOnly), now.Format(time.TimeOnly)))
			}
		}
	}
	for k := range r.since {
		if !seen[k] {
			delete(r.since, k)
		}
	}
	return probs
}

func verifyLog(dir string) []string {
	l, err := store.Open(filepath.Join(dir, "tend.db"), store.Options{ReadOnly: true})
	if err != nil {
		return []string{fmt.Sprintf("reopen read-only: %v", err)}
	}
	defer l.Close()
	if rep, err := l.Verify(nil); err != nil || !rep.OK {
		return []string{fmt.Sprintf("store verify: %v %+v", err, rep)}
	}
	return nil
}

// finish stops the daemon for good and checks the log one last time,
// from the file alone, and that nothing was left behind.
func (r *rig) finish() []string {
	if r.broken {
		return nil
	}
	probs := r.shutdown(true)
	probs = append(probs, r.fos.takeProblems()...)
	if r.fos.real != nil {
		_ = r.fos.real.Close()
		r.fos.real = nil
	}
	if len(probs) > 0 {
		return probs
	}
	l, err := store.Open(filepath.Join(r.dir, "tend.db"), store.Options{ReadOnly: true})
	if err != nil {
		return []string{fmt.Sprintf("reopen read-only: %v", err)}
	}
	defer l.Close()
	world, _, err := replay.World(l, 0)
	if err != nil {
		return []string{fmt.Sprintf("replay: %v", err)}
	}
	probs = append(probs, r.checkLog(world, l)...)
	for _, n := range world.Names(false) {
		if w := world.Worker(n); w.Live() {
			probs = append(probs, fmt.Sprintf("%s still %s after a graceful shutdown", n, w.State))
		}
	}
	if n := r.fos.liveCount(); n > 0 {
		probs = append(probs, fmt.Sprintf("%d processes alive after a graceful shutdown", n))
	}
	if err := goleak.Find(r.leaks); err != nil {
		probs = append(probs, fmt.Sprintf("goroutines leaked: %v", err))
	}
	return probs
}

// abandon releases what a failed check left open, without judging it. A
// deadlocked or panicked supervisor cannot be closed; its goroutines are
// left to the failure.
func (r *rig) abandon() {
	defer os.RemoveAll(r.dir)
	if r.sup != nil && !r.broken {
		r.shutdown(true)
	}
	if r.fos.real != nil {
		r.fos.killAll()
		_ = r.fos.real.Close()
	}
}

// verdict is the one place a property fails: the message is always the
// same, so rapid can shrink a failure it reproduces; the details go to the
// log.
func (r *rig) verdict(t *rapid.T, probs []string) {
	if len(probs) == 0 {
		return
	}
	// With PROPTEST_VERBOSE set the details go to stderr too: rapid prints
	// the log of the final replay only, and a failure it cannot replay (a
	// concurrency one) would otherwise leave only its violations.
	verbose := os.Getenv("PROPTEST_VERBOSE") != ""
	say := func(s string) {
		t.Log(s)
		if verbose {
			fmt.Fprintln(os.Stderr, s)
		}
	}
	say("interleaving:\n" + strings.Join(r.story, "\n"))
	if len(r.results) > 0 {
		var s []string
		for _, res := range r.results {
			what := res.note
			switch {
			case res.err != nil:
				what = "error: " + res.err.Error()
			case res.ev != nil:
				what = fmt.Sprintf("seq %d %s stale=%v", res.ev.Seq, res.ev.Type, res.ev.Stale)
			case res.o.kind == opReload:
				what = fmt.Sprintf("seq %d", res.load.Seq)
			}
			s = append(s, fmt.Sprintf("  g%d %s (durable %d when called) → %s", res.g, res.o, res.before, what))
		}
		say("results of the last batch:\n" + strings.Join(s, "\n"))
	}
	if !r.broken && r.sup != nil {
		if evs, err := readLog(r.log, r.sup.Seq()); err == nil {
			var s []string
			for _, e := range evs {
				s = append(s, fmt.Sprintf("  %3d %-17s %s/%d %s→%s stale=%v actor=%s pid=%d %s", e.Seq, e.Type, e.Worker, e.Incarnation, e.From, e.To, e.Stale, e.Actor, e.PID, e.Cause))
			}
			say("log:\n" + strings.Join(s, "\n"))
		}
	}
	sort.Strings(probs)
	t.Log("violations:\n  " + strings.Join(probs, "\n  "))
	fmt.Fprintln(os.Stderr, "proptest violations:\n  "+strings.Join(probs, "\n  "))
	t.Fatal("property violated (details above)")
}

// step runs a batch and checks every invariant. A disk that failed during
// the batch is repaired first: what the checks ask of the supervisor
// (observations recorded, timers fired) needs a log that takes writes. A
// daemon whose commit failed has stopped (fail-stop: nothing more decided,
// recorded or done); it is started again as after a crash, which is what
// its owner does, and its recovery judged like any other.
func (r *rig) step(t *rapid.T, progs [][]op) {
	r.results = nil
	probs := r.runBatch(progs)
	r.faulty = r.fos.calm()
	if len(probs) == 0 && !r.halted() {
		// A commit the broken disk refused just before calm() stops the
		// daemon only as it fails, which may be after the batch
		// returned: let what is in flight land or fail before asking.
		r.quiesce()
	}
	if len(probs) == 0 && r.halted() {
		probs = r.restartDaemon(t, restartCrash)
	}
	if len(probs) == 0 {
		probs = r.check()
	}
	r.verdict(t, probs)
}

// halted says whether the daemon stopped at a failed commit.
func (r *rig) halted() bool {
	select {
	case <-r.sup.Halted():
		return true
	default:
		return false
	}
}

// When a daemon dies: at once, at an effect of some kind, at a commit.
const (
	deathNow      = "now"
	deathAtEffect = "at an effect"
	deathAtCommit = "at a commit"
)

// crashStep arms the daemon's death at a point t draws (at once, at an
// effect of some kind, or at a commit), runs a batch during which it may
// come, crashes the daemon and starts the next one, and checks every
// invariant: no event whose effect never ran is forgotten.
func (r *rig) crashStep(t *rapid.T, whens []string, batch *rapid.Generator[[][]op]) {
	r.results, r.from = nil, r.sup.Seq()
	var probs []string
	when := rapid.SampledFrom(whens).Draw(t, "death")
	if when != deathNow {
		d := deathPoint{commit: when == deathAtCommit, n: rapid.IntRange(1, 2).Draw(t, "death after")}
		if !d.commit {
			d.kind = rapid.SampledFrom([]string{"spawn", "stop", "kill", "any"}).Draw(t, "death at")
		}
		r.fos.armDeath(d)
		r.story = append(r.story, d.String())
		probs = r.runBatch(batch.Draw(t, "batch the daemon dies in"))
	}
	r.faulty = true
	if len(probs) == 0 {
		probs = r.restartDaemon(t, restartCrash)
	}
	if len(probs) == 0 {
		probs = r.check()
	}
	r.verdict(t, probs)
}
