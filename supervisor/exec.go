package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc"
	"github.com/tendhq/tend/supervisor/relay"
)

// This file is the executor: it carries out the effects of durable
// batches and reports what it observes back through step. It decides
// nothing: what to do next is always core.Step's answer to the report.

// incarnation is the runtime of one spawn: its process handle, its
// settings, and the context that every monitor of that spawn lives under.
// Exactly one owner closes each: the waiter reaps the process and cancels
// the context.
type incarnation struct {
	worker string
	inc    events.Incarnation
	spec   *WorkerSpec
	proc   Process
	relay  *relay.Handle // its output relay, when it has one
	ready  *readyChannel // its readiness channel, when its rule needs one
	ctx    context.Context
	cancel context.CancelFunc
	// oomSeen is the count of the kernel's OOM kills in the incarnation's
	// cgroup already reported (memory.events oom_kill), by either of the
	// two ways they are learnt: the cgroup tree's watch, and the waiter.
	oomSeen atomic.Uint64
	// signalling is held by an effect that signals the incarnation from
	// before its signal goes out until its report is decided (and so has
	// its seq), and taken by the waiter before it reports the end: the log
	// shows a signal before the exit it caused, never after. It comes
	// before every lock of the Supervisor in the order (its holder
	// decides).
	signalling sync.Mutex
}

// executor owns the per-worker effect queues, the runtime of each worker's
// latest incarnation and the armed timers, all under exMu (the last lock
// in the order; see Supervisor).
type executor struct {
	s *Supervisor

	exMu         sync.Mutex
	queues       map[string]*effectQueue
	rts          map[string]*incarnation
	hooks        map[hookKey]*hookRun // running hooks (hook.go)
	timers       map[uint64]func() bool
	nextTimer    uint64
	timersClosed bool
	// spawning counts the queues started for a spawn that has not ended;
	// parked are those waiting for one of them to end (see enqueue).
	spawning int
	parked   []parkedQueue
	// staging holds, by worker, the spawn being staged (stage): its spawn
	// waits for the staging to end.
	staging map[string]*stageMark
}

// stageMark is a spawn being staged; done is closed once it is.
type stageMark struct {
	worker string
	inc    events.Incarnation
	done   chan struct{}
}

// parkedQueue is a worker's queue whose first effect is a spawn, waiting
// for a spawn to end before its goroutine starts.
type parkedQueue struct {
	worker string
	q      *effectQueue
}

// spawnsAhead bounds the spawns under way at once, each on a queue's
// goroutine: 8 per fork slot keeps the forks busy while the spawns before
// them wait for their commits, and a start of 10,000 workers runs about 70
// goroutines, not 10,000. Go never frees a goroutine's descriptor (480
// bytes, kept for reuse), so 10,000 at once stayed 5.5 MB of the daemon's
// heap for good.
func (x *executor) spawnsAhead() int { return 8 * cap(x.s.spawnSem) }

// effectQueue runs one worker's effects one at a time, in seq order, so a
// signal can never overtake the spawn it is aimed at. Its goroutine exists
// only while there is work.
type effectQueue struct {
	items   []effect
	running bool
}

func (x *executor) init(s *Supervisor) {
	x.s = s
	x.queues = make(map[string]*effectQueue)
	x.rts = make(map[string]*incarnation)
	x.hooks = make(map[hookKey]*hookRun)
	x.timers = make(map[uint64]func() bool)
	x.staging = make(map[string]*stageMark)
}

// current returns the runtime of worker's incarnation inc, or nil if that
// incarnation is not the latest one spawned (a stale effect).
func (x *executor) current(worker string, inc events.Incarnation) *incarnation {
	x.exMu.Lock()
	defer x.exMu.Unlock()
	if rt := x.rts[worker]; rt != nil && rt.inc == inc {
		return rt
	}
	return nil
}

// latest returns the runtime of worker's latest incarnation, or nil.
func (x *executor) latest(worker string) *incarnation {
	x.exMu.Lock()
	defer x.exMu.Unlock()
	return x.rts[worker]
}

// install makes rt the worker's latest incarnation; the one it replaces
// has ended (its exit was recorded before this one could be decided), so
// its monitors, if any are left, end now.
func (x *executor) install(rt *incarnation) {
	x.exMu.Lock()
	old := x.rts[rt.worker]
	x.rts[rt.worker] = rt
	x.exMu.Unlock()
	if old != nil {
		old.cancel()
	}
}

// dispatch starts one effect of a durable batch. Timers and the output
// pass start here; everything that touches a worker's processes goes
// through the worker's queue.
func (x *executor) dispatch(f effect) {
	switch f.Kind {
	case core.ArmTimer:
		x.arm(f)
	case core.Prepare:
		x.prepare(f)
	case core.ExitDaemon:
		select {
		case x.s.exit <- ExitRequest{Code: f.Code, Worker: f.Worker}:
		default: // decided once per daemon; the first stands
		}
	default:
		x.enqueue(f)
	}
}

func (x *executor) enqueue(f effect) {
	x.exMu.Lock()
	q := x.queues[f.Worker]
	if q == nil {
		q = &effectQueue{}
		x.queues[f.Worker] = q
	}
	q.items = append(q.items, f)
	if !q.running {
		q.running = true
		switch {
		case f.Kind != core.Spawn:
			x.s.wg.Add(1)
			go x.drain(f.Worker, q, false)
		case x.spawning < x.spawnsAhead():
			x.spawning++
			x.s.wg.Add(1)
			go x.drain(f.Worker, q, true)
		default:
			// Its goroutine starts when a spawn under way ends; what is
			// queued for the worker meanwhile waits behind the spawn, in
			// order, as it would on a goroutine of its own.
			x.parked = append(x.parked, parkedQueue{f.Worker, q})
		}
	}
	x.exMu.Unlock()
}

// spawnEnded is called by a queue started for a spawn once that spawn has
// ended: the first parked queue, if any, starts in its place.
func (x *executor) spawnEnded() {
	x.exMu.Lock()
	defer x.exMu.Unlock()
	x.spawning--
	for x.spawning < x.spawnsAhead() && len(x.parked) > 0 {
		p := x.parked[0]
		x.parked[0] = parkedQueue{}
		x.parked = x.parked[1:]
		x.spawning++
		x.s.wg.Add(1) // inside a queue's goroutine: the count is above 0
		go x.drain(p.worker, p.q, true)
	}
}

// drain runs a queue's effects until it is empty. spawn says the queue was
// started for its first effect, a spawn, and counts in x.spawning until
// that spawn has ended.
func (x *executor) drain(worker string, q *effectQueue, spawn bool) {
	defer x.s.wg.Done()
	for {
		x.exMu.Lock()
		if len(q.items) == 0 {
			q.running = false
			delete(x.queues, worker)
			x.exMu.Unlock()
			return
		}
		f := q.items[0]
		q.items[0] = effect{}
		q.items = q.items[1:]
		x.exMu.Unlock()
		x.run(f)
		if spawn {
			spawn = false
			x.spawnEnded()
		}
	}
}

// run carries out one effect on the worker's queue.
func (x *executor) run(f effect) {
	s := x.s
	switch f.Kind {
	case core.Spawn:
		x.spawn(f)
	case core.Signal:
		x.signal(f)
	case core.Kill:
		if rt := x.current(f.Worker, f.Inc); rt != nil {
			// A crash after SIGKILL was recorded, before it is sent.
			// gofail: var crashBeforeKill struct{}
			// crashHere()
			rt.signalling.Lock()
			_ = rt.proc.Signal(syscall.SIGKILL)
			if n, _ := rt.proc.SignalStrays(syscall.SIGKILL); n > 0 {
				s.submit("strays", core.StraysFound{Worker: f.Worker, Inc: f.Inc, N: n, What: "killed with the group"})
			}
			rt.signalling.Unlock()
		} else if h := x.hook(f.Worker, fsm.HookPreStart, f.Inc); h != nil {
			// Stopped while its pre_start ran: the hook stands for it.
			_ = h.proc.Signal(syscall.SIGKILL)
		}
	case core.RunHook:
		x.runHook(f)
	case core.CancelHook:
		x.cancelHook(f)
	case core.StartMonitors:
		x.startMonitors(f)
	case core.Watch:
		if rt := x.current(f.Worker, f.Inc); rt != nil {
			s.waiters.Add(1)
			x.waitFor(rt)
		}
	case core.Forget:
		x.exMu.Lock()
		rt := x.rts[f.Worker]
		delete(x.rts, f.Worker)
		x.exMu.Unlock()
		if rt != nil {
			rt.cancel()
		}
	}
}

// signal sends f.Signal to everything of incarnation f.Inc: the group,
// and whatever of the incarnation left it, so a stop reaches all of it at
// once. While a stopped start's pre_start runs, the hook stands for the
// process that does not exist yet. An operator's signal (Ref set) always
// reports its outcome, even when its incarnation is gone.
func (x *executor) signal(f effect) {
	s := x.s
	sig := syscall.Signal(f.Signal)
	in := core.Signalled{Worker: f.Worker, Inc: f.Inc, Signal: f.Signal, Actor: f.Actor, Ref: f.Ref}
	var err error
	if rt := x.current(f.Worker, f.Inc); rt != nil {
		rt.signalling.Lock()
		defer rt.signalling.Unlock()
		// The group, and whatever of the incarnation left it: a stop
		// reaches everything of it at once.
		in.PID = rt.proc.PID()
		err = rt.proc.Signal(sig)
		if _, serr := rt.proc.SignalStrays(sig); err == nil {
			err = serr
		}
		if cgroupOf(rt.proc) != nil {
			in.To = "every process of the incarnation's cgroup"
		}
	} else if h := x.hook(f.Worker, fsm.HookPreStart, f.Inc); h != nil && f.Ref == 0 {
		in.PID, in.Hook = h.proc.PID(), fsm.HookPreStart
		err = h.proc.Signal(sig)
	} else if f.Ref != 0 {
		err = fmt.Errorf("incarnation %d is not running: %w", f.Inc, syscall.ESRCH)
	} else {
		return
	}
	if err != nil {
		in.Err = err.Error()
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			errno = syscall.EIO
		}
		in.Errno = int(errno)
	}
	// A crash after the signal, before it is recorded.
	// gofail: var crashAfterSignal struct{}
	// crashHere()

	// Not waited for: the report's place in the log is taken here, before
	// the end it may cause can be reported; its commit is not waited for
	// under the lock, which the end's report waits on.
	s.submit("signal", in)
}

// arm arms a timer that dies with the supervisor. What it was armed for is
// judged again by Step when it fires.
func (x *executor) arm(f effect) {
	s := x.s
	in := core.TimerFired{Kind: f.Timer, Worker: f.Worker, Inc: f.Inc, Delay: f.Delay, Planned: f.At, Digest: f.Digest}
	x.exMu.Lock()
	defer x.exMu.Unlock()
	if x.timersClosed {
		return
	}
	x.nextTimer++
	id := x.nextTimer
	d := f.At.Sub(s.clock.Now())
	switch {
	case f.Timer == core.StopTimeout:
		// The stop timeout is the worker's grace after its stop signal,
		// which goes out now, once the stop is durable: counted from the
		// decision, a slow commit ate into it (a 3 s fsync left a worker
		// with a 1 s timeout SIGKILLed with its SIGTERM), and so did a
		// wall clock set forward. Counted here, on the monotonic clock.
		d = f.Delay
	case f.Timer != core.ScheduleDue && f.Delay > 0:
		// At is wall time (the log's), and so is now: a wall clock set
		// back an hour between the two (a decision and its arming, or the
		// daemon that recorded a backoff and the one that re-arms it)
		// made a 1 s backoff an hour long. A timer waits at most its own
		// length, and not at all when its time has passed. A schedule is
		// wall time by nature (a cron spec) and keeps At.
		d = min(max(d, 0), f.Delay)
	}
	s.wg.Add(1)
	x.timers[id] = s.clock.AfterFunc(d, func() {
		defer s.wg.Done()
		x.exMu.Lock()
		delete(x.timers, id)
		x.exMu.Unlock()
		if s.ctx.Err() == nil {
			// Not waited for: what the timer decided acts once durable
			// (the release loop), and nothing here follows it. Waiting
			// parked a goroutine a timer until the commit, and timers
			// fire together: a start of thousands of workers ends their
			// start timeouts at the pace of the spawns.
			s.submit(in.Kind.String(), in)
		}
	})
}

// stopTimers cancels every armed timer; those already firing finish.
func (x *executor) stopTimers() {
	x.exMu.Lock()
	defer x.exMu.Unlock()
	x.timersClosed = true
	for id, stop := range x.timers {
		if stop() {
			x.s.wg.Done()
		}
		delete(x.timers, id)
	}
}

// prepare creates, in spawn order and beside the spawns, the output files
// of the workers about to start, so the spawns find them made (see
// proc.Prepare). It runs only when the Spawner can prepare.
func (x *executor) prepare(f effect) {
	s := x.s
	pr, ok := s.cfg.Spawner.(Preparer)
	if !ok {
		return
	}
	specs := make([]*WorkerSpec, 0, len(f.Digests))
	s.mu.Lock()
	for _, dg := range f.Digests {
		if sp := s.full[dg]; sp != nil {
			specs = append(specs, sp)
		}
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for _, spec := range specs {
			if s.ctx.Err() != nil {
				return
			}
			// A failure here is the spawn's to report, as spawn_failed.
			_ = pr.Prepare(outputSpec(spec.Name, spec))
		}
	}()
}

// stageLimit bounds the spawns of one decision that are staged while it
// commits: a respawn, or a few. A start of many is paced by spawnsAhead
// instead; staged all at once, they would hold all their files open.
const stageLimit = 4

// reserve marks the spawns among a decision's effects that stage will
// stage, before the decision can be released: the spawn of each waits
// until its staging has ended, so that no Stage comes after its Start
// has begun (proc.Spawner.Stage). Called with mu held, before the batch
// is queued (mu comes before exMu); it does no I/O.
func (x *executor) reserve(effs []effect) []*stageMark {
	if _, ok := x.s.cfg.Spawner.(Stager); !ok {
		return nil
	}
	n := 0
	for _, f := range effs {
		if f.Kind == core.Spawn {
			n++
		}
	}
	if n == 0 || n > stageLimit {
		return nil
	}
	var marks []*stageMark
	x.exMu.Lock()
	for _, f := range effs {
		if f.Kind == core.Spawn && f.spec != nil {
			m := &stageMark{worker: f.Worker, inc: f.Inc, done: make(chan struct{})}
			x.staging[f.Worker] = m
			marks = append(marks, m)
		}
	}
	x.exMu.Unlock()
	return marks
}

// stage has the Spawner make ahead, for the spawns reserve marked, what
// each needs before its fork (Stager), then ends their marks. It runs on
// the deciding goroutine while the committer writes, so the spawn after
// the commit only forks. Nothing staged runs anything: a spawn that does
// not come (a failed commit, a closing daemon) leaves an empty cgroup
// and open files that its worker's next spawn, or the Spawner's Close,
// undoes.
func (x *executor) stage(effs []effect, marks []*stageMark) {
	if len(marks) == 0 {
		return
	}
	defer x.unreserve(marks)
	st := x.s.cfg.Spawner.(Stager)
	// The committer was readied by the append to run next on this
	// processor, which it would not get before this goroutine blocked:
	// staged first, the spawn's files and cgroup delayed the commit by
	// as long as they took. Yielding runs the committer here at once,
	// and this goroutine, woken elsewhere, stages beside its writes.
	runtime.Gosched()
	for _, f := range effs {
		if f.Kind == core.Spawn && f.spec != nil && x.s.ctx.Err() == nil {
			st.Stage(spawnSpec(f))
		}
	}
	// A crash once a spawn is staged, before its decision is durable: the
	// next daemon finds its empty cgroup, and no record of it.
	// gofail: var crashAfterStage struct{}
	// crashHere()
}

// unreserve ends the marks of reserve: their spawns go on.
func (x *executor) unreserve(marks []*stageMark) {
	x.exMu.Lock()
	for _, m := range marks {
		if x.staging[m.worker] == m {
			delete(x.staging, m.worker)
		}
	}
	x.exMu.Unlock()
	for _, m := range marks {
		close(m.done)
	}
}

// awaitStaging returns once the staging of incarnation inc of worker, if
// any is under way, has ended.
func (x *executor) awaitStaging(worker string, inc events.Incarnation) {
	x.exMu.Lock()
	m := x.staging[worker]
	x.exMu.Unlock()
	if m != nil && m.inc == inc {
		<-m.done
	}
}

// spawnSpec is the part of the proc.Spec of spawn f that does not depend
// on its runtime (environment, readiness, relay or console pipes): all
// that Stager.Stage uses.
func spawnSpec(f effect) proc.Spec {
	spec := f.spec
	ps := outputSpec(f.Worker, spec)
	ps.Incarnation, ps.Command, ps.Dir = uint64(f.Inc), spec.Command, spec.Dir
	ps.Umask, ps.NoNewPrivs, ps.Rlimits, ps.CgroupLimits = spec.Umask, spec.NoNewPrivs, spec.Rlimits, spec.CgroupLimits
	return ps
}

// outputSpec is the part of a worker's proc.Spec that names its output,
// with the credential its files are judged against. Output to the console
// is no file of proc's: the spawn gives it a pipe instead (consolePipes).
func outputSpec(worker string, spec *WorkerSpec) proc.Spec {
	file := func(p string) string {
		if p == Console || spec.Relay {
			return "" // a pipe instead: the console's or the relay's
		}
		return p
	}
	return proc.Spec{Worker: worker, Stdout: file(spec.Stdout), Stderr: file(spec.Stderr),
		LogMaxSize: spec.LogMaxSize, LogBackups: spec.LogBackups, Credential: spec.Credential}
}

// relayFinish is how long the end of an incarnation waits for its relay to
// write what is left and exit.
const relayFinish = 2 * time.Second

// startRelay starts the incarnation's output relay with the read ends of
// pipes whose write ends it gives the worker as stdout and stderr (one pipe
// for both when they name one file), in ps.Files; it returns the write ends
// for the caller to close once the spawn is over.
func (x *executor) startRelay(worker string, inc events.Incarnation, spec *WorkerSpec, ps proc.Spec) (*relay.Handle, []*os.File, error) {
	c := relay.Config{Worker: worker, Incarnation: uint64(inc), UID: workerUID(spec),
		MaxSize: spec.LogMaxSize, Backups: spec.LogBackups, MaxAge: spec.LogMaxAge, Compress: spec.LogCompress}
	var reads, writes []*os.File
	fail := func(err error) (*relay.Handle, []*os.File, error) {
		closeAll(reads)
		closeAll(writes)
		return nil, nil, err
	}
	for fd, path := range []string{1: spec.Stdout, 2: spec.Stderr} {
		switch {
		case fd == 0 || path == "":
			continue
		case fd == 2 && path == spec.Stdout:
			ps.Files[2] = ps.Files[1] // one pipe, one file: lines interleave in order
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return fail(fmt.Errorf("relay pipe: %w", err))
		}
		reads, writes = append(reads, r), append(writes, w)
		c.Paths = append(c.Paths, path)
		ps.Files[fd] = w
	}
	if len(c.Paths) == 0 {
		return nil, nil, nil
	}
	h, err := relay.Start(c, reads)
	if err != nil {
		return fail(err)
	}
	closeAll(reads)
	return h, writes, nil
}

// workerUID is the uid the worker runs as: its output files may be its.
func workerUID(spec *WorkerSpec) uint32 {
	if spec.Credential != nil {
		return spec.Credential.Uid
	}
	return uint32(os.Geteuid())
}

// consolePipes gives the worker the write ends of console pipes as its
// stdout and stderr where its settings say Console, in files, and returns
// them for the caller to close once the spawn is over. Without a console
// that output goes to /dev/null.
func (x *executor) consolePipes(worker string, spec *WorkerSpec, files map[int]*os.File) ([]*os.File, error) {
	c := x.s.cfg.Console
	if c == nil {
		return nil, nil
	}
	var ends []*os.File
	for fd, path := range map[int]string{1: spec.Stdout, 2: spec.Stderr} {
		if path != Console {
			continue
		}
		w, err := c.Pipe(worker, fd == 2)
		if err != nil {
			closeAll(ends)
			return nil, err
		}
		files[fd] = w
		ends = append(ends, w)
	}
	return ends, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

// spawn starts incarnation f.Inc and reports the outcome. The waiter starts
// only once the spawn is recorded, so an exit is never recorded before it.
func (x *executor) spawn(f effect) {
	s := x.s
	x.awaitStaging(f.Worker, f.Inc)
	spec := f.spec
	if spec == nil {
		s.observe("spawn failed", core.SpawnFailed{Worker: f.Worker, Inc: f.Inc, Err: "no settings for digest " + f.Digest})
		return
	}
	env, names, envErr := spawnEnv(s.cfg.BaseEnv, spec)
	if s.cfg.Instance != "" {
		env = append(env, proc.EnvInstance+"="+s.cfg.Instance)
	}
	ps := spawnSpec(f)
	ps.Files = map[int]*os.File{}
	ready, env, err := x.prepareReady(f.Worker, f.Inc, spec, env, ps.Files)
	if err == nil {
		err = envErr
	}
	var pipes []*os.File
	var rl *relay.Handle
	switch {
	case err != nil:
	case spec.Relay:
		rl, pipes, err = x.startRelay(f.Worker, f.Inc, spec, ps)
	default:
		pipes, err = x.consolePipes(f.Worker, spec, ps.Files)
	}
	ps.Env = env
	var p Process
	switch {
	case err == nil && s.ctx.Err() != nil:
		err = ErrClosed
		fallthrough
	case err != nil:
		// No Start: what was staged for it is undone now.
		if st, ok := s.cfg.Spawner.(Stager); ok {
			st.Unstage(f.Worker, uint64(f.Inc))
		}
	default:
		s.spawnSem <- struct{}{}
		p, err = s.cfg.Spawner.Start(ps)
		<-s.spawnSem
	}
	// The worker has its ends (or never will): the console's copier ends
	// when the last holder closes its own.
	closeAll(pipes)
	ready.spawned()
	if err != nil {
		ready.close()
		var errno syscall.Errno
		errors.As(err, &errno)
		s.observe("spawn failed", core.SpawnFailed{Worker: f.Worker, Inc: f.Inc, Errno: int(errno), Err: err.Error(), Command: spec.Command})
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	rt := &incarnation{worker: f.Worker, inc: f.Inc, spec: spec, proc: p, relay: rl, ready: ready, ctx: ctx, cancel: cancel}
	x.install(rt)
	// A crash after the fork, before the spawn is recorded (the fault
	// tests, row 1 of the catalogue; see crashHere).
	// gofail: var crashAfterSpawn struct{}
	// crashHere()
	id := p.Identity()
	sp := core.Spawned{Worker: f.Worker, Inc: f.Inc, PID: id.PID, StartTicks: id.StartTicks, BootID: id.BootID,
		Command: spec.Command, EnvNames: names}
	if rl != nil {
		sp.RelayPID, sp.RelayStartTicks = rl.Identity().PID, rl.Identity().StartTicks
	}
	s.observe("spawned", sp)
	x.watchReady(rt)
	s.waiters.Add(1)
	x.waitFor(rt)
}

// waitFor runs wait once the incarnation's main process has exited. A
// process that can say so (proc's exit watch) is waited for without a
// goroutine of its own until then: a goroutine parked per worker keeps a
// stack per worker, which at ten thousand workers is most of the heap.
func (x *executor) waitFor(rt *incarnation) {
	if p, ok := rt.proc.(interface{ AfterExit(func()) }); ok {
		p.AfterExit(func() { x.wait(rt) })
		return
	}
	go x.wait(rt)
}

// wait is the one owner of the incarnation's exit. When the main process
// exits and something of the incarnation remains, that is reported first
// (Step decides to stop it), and the end only once nothing remains: a
// worker is never shown Stopped while something of it runs.
func (x *executor) wait(rt *incarnation) {
	s := x.s
	defer s.waiters.Done()
	ex := rt.proc.Wait()
	// A broken variant: the ended incarnation's monitors are not cancelled.
	cancel := rt.cancel
	// gofail: var mutantKeepMonitors struct{}
	// cancel = func() {}
	cancel()
	exit := toExit(ex)
	// The kernel's OOM killer may be what ended the leader: its report
	// must precede the end, which explains the end by it.
	if g := cgroupOf(rt.proc); g != nil {
		if n, err := g.OOMKills(); err == nil && n > rt.oomSeen.Load() {
			s.reportOOM(rt.worker, rt.inc, n)
		}
	}
	if n := rt.proc.Remaining(); n > 0 && rt.spec.OnLeaderExit != core.Leave {
		rt.signalsRecorded()
		s.observe("leader exited", core.LeaderExited{Worker: rt.worker, Inc: rt.inc, PID: rt.proc.PID(), Exit: exit, Remaining: n})
		// The kernel says when the rest is gone (cgroup.events), or the
		// pidfds of what remains do: no polling.
		if rt.proc.WaitGone(s.ctx) != nil {
			return // closing: the next daemon finds what is left
		}
	}
	if rt.relay != nil {
		// Its last lines are in the file before its end is recorded, and
		// the next incarnation's relay never writes beside it.
		if !rt.relay.Finish(relayFinish) {
			s.logger.Warn().Str("worker", rt.worker).Uint64("incarnation", uint64(rt.inc)).
				Msg("output relay still held its pipe after the incarnation ended (a process that escaped it?): killed")
		}
	}
	rt.signalsRecorded()
	s.observe("exited", core.Exited{Worker: rt.worker, Inc: rt.inc, PID: rt.proc.PID(), Exit: exit})
	if s.ctx.Err() == nil {
		// The end is durable: the incarnation's cgroup can go (or, with
		// on_leader_exit = "leave", go once the rest has ended).
		rt.proc.Release()
	}
}

// signalsRecorded returns once no signal to the incarnation is going out
// or waiting for its report to be decided: a signal may be what ended the
// process whose end is reported next, and is recorded first. The lock is
// a barrier here; it guards nothing.
func (rt *incarnation) signalsRecorded() {
	rt.signalling.Lock()
	rt.signalling.Unlock() //nolint:staticcheck // SA2001: an ordering barrier
}

func toExit(ex proc.Exit) core.Exit {
	return core.Exit{Code: ex.Code, Signal: int(ex.Signal), HasCode: ex.Signal == 0 && ex.Code >= 0 && ex.Err == nil, Desc: ex.String()}
}

// startMonitors runs the incarnation's health check and limit watch under
// the incarnation's context.
func (x *executor) startMonitors(f effect) {
	s := x.s
	rt := x.current(f.Worker, f.Inc)
	if rt == nil || rt.ctx.Err() != nil || f.spec == nil {
		return
	}
	worker, inc := f.Worker, f.Inc
	if f.spec.Health != nil {
		hs := *f.spec.Health
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.cfg.Probe(rt.ctx, hs, func(r health.Report) {
				s.observe("health", core.HealthReport{Worker: worker, Inc: inc, Healthy: r.Healthy, First: r.First,
					Consecutive: r.Consecutive, Detail: r.Detail})
			})
		}()
	}
	if f.spec.Limits != nil && s.cfg.Watcher != nil {
		report := func(v limits.Violation) {
			// Decided and appended on the sampler's goroutine, without
			// waiting for the commit: what the policy decides acts only
			// once durable, through the release loop, and nothing here
			// needs to know when. A goroutine per report that waited
			// would pile up, one per violation, behind a slow disk.
			s.submit("limit", core.Violation{Worker: worker, Inc: inc, Resource: v.Resource, Policy: string(v.Policy),
				Measured: v.Measured, Limit: v.Limit, Detail: v.Detail})
		}
		// With a cgroup the members are the kernel's list, escapees
		// included, and nothing walks /proc for them.
		if mw, ok := s.cfg.Watcher.(MembersWatcher); ok {
			if g := cgroupOf(rt.proc); g != nil {
				mw.WatchMembers(rt.ctx, rt.proc.PID(), g, *f.spec.Limits, report)
				return
			}
		}
		s.cfg.Watcher.Watch(rt.ctx, rt.proc.PID(), *f.spec.Limits, report)
	}
}

// KernelOOM is told, by the cgroup tree's watch (cgroup.Options.OnOOM),
// that the kernel's OOM killer killed processes in an incarnation's
// cgroup. It does not block: the report is decided on a goroutine of its
// own, which ends once the report is appended (the watch never takes mu).
func (s *Supervisor) KernelOOM(o cgroup.OOM) {
	if s.ctx.Err() != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.reportOOM(o.Worker, events.Incarnation(o.Incarnation), o.Kills)
	}()
}

// reportOOM records the OOM kills up to kills (memory.events oom_kill) not
// reported yet as a limit violation by the kernel. The victim cannot be
// named: the kernel counts kills in memory.events and writes no pid.
func (s *Supervisor) reportOOM(worker string, inc events.Incarnation, kills uint64) {
	var seen, limit uint64
	if rt := s.ex.current(worker, inc); rt != nil {
		for {
			seen = rt.oomSeen.Load()
			if kills <= seen {
				return
			}
			if rt.oomSeen.CompareAndSwap(seen, kills) {
				break
			}
		}
		if rt.spec != nil {
			limit = rt.spec.CgroupLimits.MemoryMax
		}
	}
	detail := fmt.Sprintf("the kernel's OOM killer killed %d process(es) of incarnation %d in its cgroup", kills-seen, inc)
	if limit > 0 {
		detail += " at memory_max " + humanBytes(limit)
	}
	detail += "; which one is not known (memory.events counts kills and names no process)"
	// Appended, not waited for: wait() reports the kills before the end
	// they explain, and appending first is what puts them first.
	s.submit("oom", core.Violation{Worker: worker, Inc: inc, Resource: limits.ResourceMemory, Policy: string(limits.PolicyLog),
		Measured: float64(limit), Limit: float64(limit), Detail: detail, Kernel: true})
}

func humanBytes(n uint64) string {
	for _, u := range []struct {
		name  string
		shift uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// cgroupOf is the incarnation's cgroup, when its Process has one.
// A cgroup is sampled by its counters, and by its Tree's above them, so
// that a tick over idle workers reads one file (limits.SharedCounter).
var _ interface {
	limits.Members
	limits.CPUCounter
	limits.CPUCounterFile
	limits.SharedCounter
} = (*cgroup.Group)(nil)

func cgroupOf(p Process) *cgroup.Group {
	if c, ok := p.(interface{ Cgroup() *cgroup.Group }); ok {
		return c.Cgroup()
	}
	return nil
}
