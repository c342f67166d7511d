package proptest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc"
)

// fakeOS is the process layer, clock, health prober and resource watcher
// the supervisor sees. It never decides anything on its own except what a
// real kernel would (SIGKILL ends a process); everything else happens when
// the test says so. What a correct supervisor can never make it do is
// recorded in problems, which every check reads: the supervisor's
// goroutines cannot call t.Fatal.
type fakeOS struct {
	mu       sync.Mutex
	now      time.Time
	timers   map[int]*fakeTimer
	nextID   int
	nextPID  int
	procs    map[string][]*fakeProc // every incarnation spawned, oldest first
	monitors []*fakeMonitor
	watches  []*fakeWatch
	failNext map[string]bool // the worker's next spawn fails
	// late: violations reported about an incarnation after the durable
	// log had moved past it; each must be recorded as stale, under its
	// own incarnation.
	late     []lateReport
	gen      int // counts the supervisors opened: reports to a closed one go nowhere
	problems []string
	// durable reads the supervisor's durable view of a worker. It is set
	// for each supervisor the rig opens; effects are checked against it.
	durable func(name string) (fsm.Worker, bool)
	// requests counts the durable signal_requested events of an
	// incarnation: an operator's signal may reach it no more often.
	requests func(name string, inc uint64) int
	// real, when set, starts real processes behind the fakes' bookkeeping.
	real *proc.Spawner
}

func newFakeOS() *fakeOS {
	return &fakeOS{
		now:      time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		timers:   make(map[int]*fakeTimer),
		nextPID:  1000,
		procs:    make(map[string][]*fakeProc),
		failNext: make(map[string]bool),
	}
}

// problem records a contract violation; called with mu held.
func (f *fakeOS) problem(format string, args ...any) {
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

func (f *fakeOS) takeProblems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.problems
	f.problems = nil
	return p
}

// ---- Clock ----

type fakeTimer struct {
	at time.Time
	f  func()
}

func (f *fakeOS) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeOS) AfterFunc(d time.Duration, fn func()) func() bool {
	if d <= 0 {
		// Already due, as time.AfterFunc: fire now, not at the next advance.
		go fn()
		return func() bool { return false }
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := f.nextID
	f.timers[id] = &fakeTimer{at: f.now.Add(d), f: fn}
	return func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		_, ok := f.timers[id]
		delete(f.timers, id)
		return ok
	}
}

// advance moves the clock and fires, each in its own goroutine as the Clock
// contract says, every timer that has come due.
func (f *fakeOS) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	var due []int
	for id, t := range f.timers {
		if !t.at.After(f.now) {
			due = append(due, id)
		}
	}
	sort.Ints(due)
	fns := make([]func(), 0, len(due))
	for _, id := range due {
		fns = append(fns, f.timers[id].f)
		delete(f.timers, id)
	}
	f.mu.Unlock()
	for _, fn := range fns {
		go fn()
	}
}

// ---- Spawner and Process ----

type fakeProc struct {
	f      *fakeOS
	worker string
	inc    uint64
	pid    int
	real   supervisor.Process // nil for a pure fake

	// guarded by f.mu
	exited bool
	exit   proc.Exit
	reaped bool // Wait has returned to the supervisor
	kills  int
	stops  int
	asked  int // operator's signals received
	done   chan struct{}
}

// operatorSignal is what the property tests' operators send. No stop
// uses it, and its default action is to ignore it, so a real process
// survives it.
const operatorSignal = syscall.SIGWINCH

// termExits says which workers end on their stop signal; the others ignore
// it and need the stop timeout's SIGKILL.
func termExits(worker string) bool { return worker != "b" }

func (f *fakeOS) Start(spec proc.Spec) (supervisor.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := spec.Worker
	for _, p := range f.procs[w] {
		if !p.exited {
			f.problem("spawner: worker %s incarnation %d started while incarnation %d (pid %d) is still alive", w, spec.Incarnation, p.inc, p.pid)
		}
	}
	if n := len(f.procs[w]); n > 0 && f.procs[w][n-1].inc >= spec.Incarnation {
		f.problem("spawner: worker %s incarnation %d started after incarnation %d", w, spec.Incarnation, f.procs[w][n-1].inc)
	}
	if f.durable != nil {
		if dw, ok := f.durable(w); !ok || uint64(dw.Incarnation) < spec.Incarnation {
			f.problem("spawner: worker %s incarnation %d spawned before its start was durable (durable incarnation %d)", w, spec.Incarnation, dw.Incarnation)
		}
	}
	if f.failNext[w] {
		delete(f.failNext, w)
		return nil, fmt.Errorf("fake exec: %w", syscall.ENOENT)
	}
	p := &fakeProc{f: f, worker: w, inc: spec.Incarnation, done: make(chan struct{})}
	if f.real != nil {
		rp, err := f.real.Start(spec)
		if err != nil {
			return nil, err
		}
		p.real, p.pid = rp, rp.PID()
		go func() {
			ex := rp.Wait()
			f.mu.Lock()
			p.exitLocked(ex)
			f.mu.Unlock()
		}()
	} else {
		f.nextPID++
		p.pid = f.nextPID
	}
	f.procs[w] = append(f.procs[w], p)
	return p, nil
}

// exitLocked ends the process; called with f.mu held.
func (p *fakeProc) exitLocked(ex proc.Exit) {
	if p.exited {
		return
	}
	p.exited, p.exit = true, ex
	close(p.done)
}

func (p *fakeProc) PID() int { return p.pid }

func (p *fakeProc) Identity() proc.Identity {
	return proc.Identity{PID: p.pid, StartTicks: uint64(p.pid), BootID: "fake-boot"}
}

func (p *fakeProc) Wait() proc.Exit {
	<-p.done
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	p.reaped = true
	return p.exit
}

func (p *fakeProc) Signal(sig syscall.Signal) error {
	f := p.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if sig == operatorSignal {
		// Decided for one incarnation, it reaches that one and no other,
		// and only once its decision is durable.
		p.asked++
		if f.requests == nil || p.asked > f.requests(p.worker, p.inc) {
			f.problem("process %s/%d: SIG%s number %d, but the durable log asks for it %d times for this incarnation",
				p.worker, p.inc, events.SignalName(int(sig)), p.asked, f.requests(p.worker, p.inc))
		}
		if ps := f.procs[p.worker]; ps[len(ps)-1] != p {
			f.problem("process %s/%d: SIG%s after incarnation %d was spawned", p.worker, p.inc, events.SignalName(int(sig)), ps[len(ps)-1].inc)
		}
		if p.real != nil && !p.exited {
			return p.real.Signal(sig)
		}
		return nil
	}
	if f.durable != nil {
		if dw, ok := f.durable(p.worker); ok && uint64(dw.Incarnation) == p.inc && (dw.State == events.Starting || dw.State == events.Running) {
			f.problem("process %s/%d: SIG%s before the event asking for it was durable (durable state %s)", p.worker, p.inc, events.SignalName(int(sig)), dw.State)
		}
	}
	// A signal may race its process's own exit (proc.Process makes that
	// harmless), but never reach an incarnation once the next one exists:
	// with real pids that is how a recycled pid gets killed.
	if ps := f.procs[p.worker]; ps[len(ps)-1] != p {
		f.problem("process %s/%d: SIG%s after incarnation %d was spawned", p.worker, p.inc, events.SignalName(int(sig)), ps[len(ps)-1].inc)
	}
	switch sig {
	case syscall.SIGKILL:
		p.kills++
		if p.kills > 1 {
			f.problem("process %s/%d: SIGKILL sent %d times", p.worker, p.inc, p.kills)
		}
	default:
		p.stops++
		if p.stops > 1 {
			f.problem("process %s/%d: stop signal SIG%s sent %d times", p.worker, p.inc, events.SignalName(int(sig)), p.stops)
		}
	}
	if p.exited {
		// Like proc.Process: a group with nothing left is not an error.
		return nil
	}
	if p.real != nil {
		return p.real.Signal(sig)
	}
	switch {
	case sig == syscall.SIGKILL:
		p.exitLocked(proc.Exit{Code: -1, Signal: syscall.SIGKILL})
	case termExits(p.worker):
		p.exitLocked(proc.Exit{Code: 0})
	}
	return nil
}

func (p *fakeProc) SignalStrays(syscall.Signal) (int, error) { return 0, nil }

func (p *fakeProc) Member(pid int) bool { return pid == p.pid }

func (p *fakeProc) Remaining() int {
	p.f.mu.Lock()
	if !p.reaped {
		p.f.problem("process %s/%d: group inspected for cleanup before its exit was reaped", p.worker, p.inc)
	}
	exited, real := p.exited, p.real
	p.f.mu.Unlock()
	if real != nil {
		return real.Remaining()
	}
	if exited {
		return 0
	}
	return 1
}

func (p *fakeProc) WaitGone(ctx context.Context) error {
	if p.Remaining() == 0 {
		return nil
	}
	return p.real.WaitGone(ctx) // only a real process has anything left
}

func (p *fakeProc) Release() {
	if p.real != nil {
		p.real.Release()
	}
}

// latestLive returns the worker's live process, or nil.
func (f *fakeOS) latestLive(w string) *fakeProc {
	ps := f.procs[w]
	if n := len(ps); n > 0 && !ps[n-1].exited {
		return ps[n-1]
	}
	return nil
}

// exitProcess makes the worker's live process end (code, or sig if non-zero).
// It reports whether there was one.
func (f *fakeOS) exitProcess(w string, code int, sig syscall.Signal) bool {
	f.mu.Lock()
	p := f.latestLive(w)
	if p == nil {
		f.mu.Unlock()
		return false
	}
	if p.real != nil {
		f.mu.Unlock()
		if sig == 0 {
			sig = syscall.SIGKILL
		}
		// An external kill, as an OOM killer or an operator would do.
		_ = syscall.Kill(p.pid, sig)
		return true
	}
	ex := proc.Exit{Code: code}
	if sig != 0 {
		ex = proc.Exit{Code: -1, Signal: sig}
	}
	p.exitLocked(ex)
	f.mu.Unlock()
	return true
}

// killAll ends every live process, as if they all died while the daemon
// was down.
func (f *fakeOS) killAll() {
	f.mu.Lock()
	var reals []*fakeProc
	for _, ps := range f.procs {
		for _, p := range ps {
			if p.exited {
				continue
			}
			if p.real != nil {
				reals = append(reals, p)
				continue
			}
			p.exitLocked(proc.Exit{Code: -1, Signal: syscall.SIGKILL})
		}
	}
	f.mu.Unlock()
	for _, p := range reals {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		<-p.done
	}
}

func (f *fakeOS) failNextSpawn(w string) {
	f.mu.Lock()
	f.failNext[w] = true
	f.mu.Unlock()
}

// ---- Prober ----

type fakeMonitor struct {
	worker   string
	proc     *fakeProc
	ctx      context.Context
	trigger  chan bool // healthy?
	returned bool      // guarded by f.mu
}

// probeAddr names the worker in its health spec, since a Prober is not told
// whose check it runs.
func probeAddr(w string) string { return "fake:" + w }

func (f *fakeOS) Probe(ctx context.Context, spec health.Spec, report func(health.Report)) {
	w := strings.TrimPrefix(spec.Address, "fake:")
	f.mu.Lock()
	ps := f.procs[w]
	var p *fakeProc
	if len(ps) > 0 {
		p = ps[len(ps)-1]
	}
	m := &fakeMonitor{worker: w, proc: p, ctx: ctx, trigger: make(chan bool)}
	f.monitors = append(f.monitors, m)
	f.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			f.mu.Lock()
			m.returned = true
			f.mu.Unlock()
			return
		case healthy := <-m.trigger:
			if ctx.Err() != nil {
				continue // health.Run never reports once it has seen ctx done
			}
			if healthy {
				report(health.Report{Healthy: true, Detail: "fake probe passes", At: f.Now()})
			} else {
				report(health.Report{Healthy: false, Consecutive: 3, Detail: "fake probe failed", At: f.Now()})
			}
		}
	}
}

// healthReport makes every running monitor of w report. It returns how many
// did.
func (f *fakeOS) healthReport(w string, healthy bool) int {
	f.mu.Lock()
	var ms []*fakeMonitor
	for _, m := range f.monitors {
		if m.worker == w && !m.returned {
			ms = append(ms, m)
		}
	}
	f.mu.Unlock()
	n := 0
	for _, m := range ms {
		select {
		case m.trigger <- healthy:
			n++
		case <-m.ctx.Done():
		}
	}
	return n
}

// ---- Watcher ----

type fakeWatch struct {
	gen    int
	worker string
	proc   *fakeProc
	ctx    context.Context
	report func(limits.Violation)
}

func (f *fakeOS) Watch(ctx context.Context, pgid int, _ limits.Spec, report func(limits.Violation)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ps := range f.procs {
		for _, p := range ps {
			if p.pid == pgid {
				f.watches = append(f.watches, &fakeWatch{gen: f.gen, worker: p.worker, proc: p, ctx: ctx, report: report})
				return
			}
		}
	}
	f.problem("watcher: asked to watch pid %d, which was never spawned", pgid)
}

// violation reports a limit violation for w under policy pol, through the
// newest watch still registered, or (stale) through the newest one whose
// incarnation has ended: a sampler tick may deliver a violation just as
// its watch is cancelled, so the supervisor must cope with late reports.
func (f *fakeOS) violation(w string, pol limits.Policy, stale bool) bool {
	f.mu.Lock()
	var pick *fakeWatch
	for i := len(f.watches) - 1; i >= 0; i-- {
		wt := f.watches[i]
		if wt.worker != w {
			continue
		}
		if (wt.ctx.Err() != nil || wt.proc.exited) == stale {
			pick = wt
			break
		}
	}
	if pick != nil && stale && f.durable != nil && pick.gen == f.gen {
		if dw, ok := f.durable(w); ok && uint64(dw.Incarnation) > pick.proc.inc {
			f.late = append(f.late, lateReport{worker: w, inc: pick.proc.inc})
		}
	}
	f.mu.Unlock()
	if pick == nil {
		return false
	}
	pick.report(limits.Violation{Resource: limits.ResourceMemory, Measured: 2 << 20, Limit: 1 << 20,
		Policy: pol, Detail: "RSS 2 MiB > limit 1 MiB (fake)"})
	return true
}

type lateReport struct {
	worker string
	inc    uint64
}

// lateProblems checks that every late report is in the log as a stale
// event of its own incarnation: an old incarnation changes nothing.
func (f *fakeOS) lateProblems(evs []events.Event) []string {
	f.mu.Lock()
	late := append([]lateReport(nil), f.late...)
	f.mu.Unlock()
	var out []string
	for _, l := range late {
		n, stale := 0, 0
		for i := range evs {
			e := &evs[i]
			if e.Type == events.LimitViolated && e.Worker == l.worker && uint64(e.Incarnation) == l.inc {
				n++
				if e.Stale {
					stale++
				}
			}
		}
		if stale == 0 {
			out = append(out, fmt.Sprintf("late violation of %s incarnation %d: not recorded as stale (%d events of that incarnation)", l.worker, l.inc, n))
		}
	}
	return out
}

// ---- quiescent checks ----

// settledProblems checks what must hold once the supervisor has finished
// reacting: no monitor outlives its incarnation, no process outlives a
// completed stop, and every live process is the incarnation the log says.
func (f *fakeOS) settledProblems(world *fsm.World) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	running := map[string]int{}
	for _, m := range f.monitors {
		if m.returned {
			continue
		}
		running[m.worker]++
		if m.proc == nil || m.proc.exited {
			inc := uint64(0)
			if m.proc != nil {
				inc = m.proc.inc
			}
			out = append(out, fmt.Sprintf("health monitor of %s incarnation %d still running after its process ended", m.worker, inc))
		}
	}
	for w, n := range running {
		if n > 1 {
			out = append(out, fmt.Sprintf("%d health monitors running for %s", n, w))
		}
	}
	for w, ps := range f.procs {
		live := 0
		for _, p := range ps {
			if p.exited {
				continue
			}
			live++
			dw := world.Worker(w)
			switch {
			case dw == nil:
				out = append(out, fmt.Sprintf("process %s/%d alive but the worker is unknown", w, p.inc))
			case !dw.Live():
				out = append(out, fmt.Sprintf("process %s/%d alive after the worker reached %s", w, p.inc, dw.State))
			case uint64(dw.Incarnation) != p.inc:
				out = append(out, fmt.Sprintf("process %s/%d alive but the worker is at incarnation %d", w, p.inc, dw.Incarnation))
			}
		}
		if live > 1 {
			out = append(out, fmt.Sprintf("%d live processes of %s", live, w))
		}
	}
	return out
}

// liveCount is the number of processes not yet exited.
func (f *fakeOS) liveCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ps := range f.procs {
		for _, p := range ps {
			if !p.exited {
				n++
			}
		}
	}
	return n
}
