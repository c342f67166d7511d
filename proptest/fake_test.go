package proptest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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

// fakeOS is the process layer, clock, health prober, resource watcher and
// disk the supervisor sees. It never decides anything on its own except
// what a real kernel would (SIGKILL ends a process); everything else
// happens when the test says so. What a correct supervisor can never make
// it do is recorded in problems, which every check reads: the
// supervisor's goroutines cannot call t.Fatal.
//
// Processes belong to the fake OS, not to a daemon: a daemon holds them
// through handles (what Start and Adopt return), and when it crashes its
// handles go dead while the processes run on, to be adopted by the next
// daemon or to die while none watches. A pid is reused only when the test
// hands a dead process's pid to a new one.
type fakeOS struct {
	mu       sync.Mutex
	now      time.Time
	timers   map[int]*fakeTimer
	nextID   int
	nextPID  int
	ticks    uint64 // the start time the next process gets
	boot     string
	instance string                 // the marker of this daemon's processes (Config.Instance)
	all      []*fakeProc            // every process ever started, oldest first
	procs    map[string][]*fakeProc // the processes daemons spawned, per worker, oldest first
	handles  []*fakeHandle
	adopted  map[*fakeProc]int // the daemon generation that last adopted it
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

	// Faults. dead: the daemon died; from that instant none of its
	// effects happens and none of its commits reaches the disk.
	// diskBroken: every commit fails until the disk is repaired; glitches:
	// that many more commits fail. dieAt: the daemon dies at that point.
	dead       bool
	diskBroken bool
	glitches   int
	dieAt      *deathPoint
	// trouble is closed at the first fault of a batch: whatever waits on
	// the supervisor (a health report) stops waiting, since the
	// supervisor may be retrying a write or dead.
	trouble  chan struct{}
	troubled bool
}

// Errors the fakes inject.
var (
	errDisk = errors.New("fake disk: write refused")
	errDead = errors.New("fake: the daemon is dead")
	// errTrouble: a wait the test gave up at a fault of the batch.
	errTrouble = errors.New("fake: gave up waiting at a fault")
)

// deathPoint is when the daemon dies: at the n-th commit from now (the
// commit does not reach the disk), or at the n-th effect of a kind
// ("spawn", "stop", "kill", or "any"; the effect does not happen).
type deathPoint struct {
	commit bool
	kind   string
	n      int
}

func (d deathPoint) String() string {
	if d.commit {
		return fmt.Sprintf("the daemon dies at commit %d from now", d.n)
	}
	return fmt.Sprintf("the daemon dies at %s effect %d from now", d.kind, d.n)
}

func newFakeOS() *fakeOS {
	return &fakeOS{
		now:      time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		timers:   make(map[int]*fakeTimer),
		nextPID:  1000,
		ticks:    100,
		boot:     "fake-boot",
		procs:    make(map[string][]*fakeProc),
		adopted:  make(map[*fakeProc]int),
		failNext: make(map[string]bool),
		trouble:  make(chan struct{}),
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

// ---- disk and death ----

// faultCommit is the log's store.Options.Fault at FaultBeforeWrite: asked
// before each commit writes anything. A commit the disk fails stops the
// daemon (fail-stop: nothing more is decided, recorded or done), so from
// then on the fake treats it as dead: what it is told is late, and what it
// would do never happens.
func (f *fakeOS) faultCommit() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := f.dieAt; d != nil && d.commit {
		if d.n--; d.n <= 0 {
			f.dieLocked()
		}
	}
	switch {
	case f.dead:
		return errDead
	case f.diskBroken:
		f.dieLocked()
		return errDisk
	case f.glitches > 0:
		f.glitches--
		f.dieLocked()
		return errDisk
	}
	return nil
}

// effectLocked is asked by every effect of a daemon (spawn, signal): false
// when the daemon is dead, or dies at this very effect.
func (f *fakeOS) effectLocked(kind string) bool {
	if f.dead {
		return false
	}
	if d := f.dieAt; d != nil && !d.commit && (d.kind == "any" || d.kind == kind) {
		if d.n--; d.n <= 0 {
			f.dieLocked()
			return false
		}
	}
	return true
}

func (f *fakeOS) dieLocked() {
	f.dead, f.dieAt = true, nil
	f.troubleLocked()
	// What the dead daemon was told late may never have reached its log.
	kept := f.late[:0]
	for _, l := range f.late {
		if l.gen != f.gen {
			kept = append(kept, l)
		}
	}
	f.late = kept
}

func (f *fakeOS) troubleLocked() {
	if !f.troubled {
		f.troubled = true
		close(f.trouble)
	}
}

// breakDisk makes every commit fail until repairDisk.
func (f *fakeOS) breakDisk() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.diskBroken = true
	f.troubleLocked()
}

func (f *fakeOS) repairDisk() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.diskBroken, f.glitches = false, 0
}

// glitch makes the next n commits fail.
func (f *fakeOS) glitch(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.glitches += n
	f.troubleLocked()
}

// armDeath makes the daemon die at d.
func (f *fakeOS) armDeath(d deathPoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dieAt = &d
	f.troubleLocked()
}

// die kills the daemon now, unless it is dead already.
func (f *fakeOS) die() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dead {
		f.dieLocked()
	}
}

// faulted is closed at the batch's first fault.
func (f *fakeOS) faulted() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.trouble
}

// calm ends a batch's faults: the disk is repaired (the daemon, if dead,
// stays dead). It reports whether the batch met any fault.
func (f *fakeOS) calm() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	had := f.troubled
	f.diskBroken, f.glitches = false, 0
	if !f.dead {
		f.dieAt = nil
		if f.troubled {
			f.trouble, f.troubled = make(chan struct{}), false
		}
	}
	return had
}

// reopen is a new daemon's start: it is alive, its disk is sound.
func (f *fakeOS) reopen(durable func(string) (fsm.Worker, bool), requests func(string, uint64) int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	f.requests = requests
	f.dead, f.dieAt, f.diskBroken, f.glitches = false, nil, false, 0
	f.trouble, f.troubled = make(chan struct{}), false
	f.durable = durable
}

// releaseHandles ends the current daemon's hold on every process: it is
// gone (crashed or closed), its waiters return, the processes run on.
func (f *fakeOS) releaseHandles() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.handles {
		if h.gen == f.gen {
			close(h.gone)
		}
	}
	kept := f.handles[:0]
	for _, h := range f.handles {
		if h.gen != f.gen {
			kept = append(kept, h)
		}
	}
	f.handles = kept
	f.durable = nil
}

// ---- Clock ----

type fakeTimer struct {
	at time.Time
	f  func()
	// sleep: a wait of the supervisor's own (a retry's backoff, a poll),
	// not a timer an effect armed.
	sleep bool
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
	sleep := calledFromSleep()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := f.nextID
	f.timers[id] = &fakeTimer{at: f.now.Add(d), f: fn, sleep: sleep}
	return func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		_, ok := f.timers[id]
		delete(f.timers, id)
		return ok
	}
}

// calledFromSleep reports whether the timer being armed is the
// supervisor's sleep (an observation's retry after the log refused it, a
// waiter's poll): the rig lets those come due when it waits for the
// supervisor to settle, and leaves every other timer to the test.
func calledFromSleep() bool {
	var pcs [8]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		fr, more := frames.Next()
		if fr.Function == "github.com/tendhq/tend/supervisor.(*Supervisor).sleep" {
			return true
		}
		if !more {
			return false
		}
	}
}

// advance moves the clock and fires, each in its own goroutine as the Clock
// contract says, every timer that has come due.
func (f *fakeOS) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	fns := f.dueLocked()
	f.mu.Unlock()
	for _, fn := range fns {
		go fn()
	}
}

func (f *fakeOS) dueLocked() []func() {
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
	return fns
}

// advanceSleeps moves the clock to the first of the supervisor's sleeps,
// when the disk takes writes and the daemon lives (a retry would only
// fail again otherwise). It reports whether it did.
func (f *fakeOS) advanceSleeps() bool {
	f.mu.Lock()
	var first time.Time
	for _, t := range f.timers {
		if t.sleep && (first.IsZero() || t.at.Before(first)) {
			first = t.at
		}
	}
	if first.IsZero() || f.dead || f.diskBroken || f.glitches > 0 {
		f.mu.Unlock()
		return false
	}
	if first.After(f.now) {
		f.now = first
	}
	fns := f.dueLocked()
	f.mu.Unlock()
	for _, fn := range fns {
		go fn()
	}
	return true
}

// ---- processes ----

// fakeProc is one process of the fake OS.
type fakeProc struct {
	f      *fakeOS
	worker string // its markers: whose, which incarnation
	inc    uint64
	marked string // the instance marker it carries
	child  bool   // a worker's descendant that left its group: never spawned by a daemon
	gen    int    // the daemon generation that spawned it (0 for a child)
	pid    int
	ticks  uint64
	boot   string
	real   supervisor.Process // nil for a pure fake

	// guarded by f.mu
	exited bool
	exit   proc.Exit
	kills  int
	dying  bool // a real process sent a signal it ends on, by the daemon or the test
	asked  int  // operator's signals received
	done   chan struct{}
}

func (p *fakeProc) identity() proc.Identity {
	return proc.Identity{PID: p.pid, StartTicks: p.ticks, BootID: p.boot}
}

// operatorSignal is what the property tests' operators send. No stop
// uses it, and its default action is to ignore it, so a real process
// survives it.
const operatorSignal = syscall.SIGWINCH

func (p *fakeProc) String() string {
	what := "process"
	switch {
	case p.marked == "":
		return fmt.Sprintf("unrelated process (pid %d, start %d)", p.pid, p.ticks)
	case p.child:
		what = "detached child"
	}
	return fmt.Sprintf("%s %s/%d (pid %d, start %d)", what, p.worker, p.inc, p.pid, p.ticks)
}

// newProcLocked starts a pure fake process; pid 0 takes a fresh pid.
func (f *fakeOS) newProcLocked(worker string, inc uint64, marked string, child bool, pid int) *fakeProc {
	if pid == 0 {
		f.nextPID++
		pid = f.nextPID
	}
	f.ticks++
	p := &fakeProc{f: f, worker: worker, inc: inc, marked: marked, child: child, pid: pid, ticks: f.ticks, boot: f.boot,
		done: make(chan struct{})}
	if !child {
		p.gen = f.gen
	}
	f.all = append(f.all, p)
	return p
}

// exitLocked ends the process; called with f.mu held.
func (p *fakeProc) exitLocked(ex proc.Exit) {
	if p.exited {
		return
	}
	p.exited, p.exit = true, ex
	close(p.done)
}

// fakeHandle is one daemon's hold on a process: what Start or Adopt gave
// it. It implements supervisor.Process.
type fakeHandle struct {
	f       *fakeOS
	p       *fakeProc
	gen     int
	adopted bool
	gone    chan struct{} // closed when the daemon holding it is gone

	// guarded by f.mu
	reaped bool
	stops  int
	allow  int // stop signals allowed beyond the first (what remains after the leader exits gets one)
}

func (f *fakeOS) handleLocked(p *fakeProc, adopted bool) *fakeHandle {
	h := &fakeHandle{f: f, p: p, gen: f.gen, adopted: adopted, gone: make(chan struct{})}
	f.handles = append(f.handles, h)
	return h
}

// termExits says which workers end on their stop signal; the others ignore
// it and need the stop timeout's SIGKILL.
func termExits(worker string) bool { return worker != "b" }

// markedBy returns the instance marker in env, or "".
func markedBy(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, proc.EnvInstance+"="); ok {
			return v
		}
	}
	return ""
}

func (f *fakeOS) Start(spec proc.Spec) (supervisor.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.effectLocked("spawn") {
		return nil, errDead
	}
	w := spec.Worker
	for _, p := range f.procs[w] {
		if !p.exited {
			f.problem("spawner: worker %s incarnation %d started while incarnation %d (pid %d) is still alive", w, spec.Incarnation, p.inc, p.pid)
		}
	}
	// An incarnation is spawned once by a daemon; only a later daemon
	// spawns it again, when the first spawn's outcome was never recorded
	// and nothing of it runs.
	if n := len(f.procs[w]); n > 0 {
		if last := f.procs[w][n-1]; last.inc > spec.Incarnation || last.inc == spec.Incarnation && last.gen == f.gen {
			f.problem("spawner: worker %s incarnation %d started after incarnation %d", w, spec.Incarnation, last.inc)
		}
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
	var p *fakeProc
	if f.real != nil {
		rp, err := f.real.Start(spec)
		if err != nil {
			return nil, err
		}
		id := rp.Identity()
		p = &fakeProc{f: f, worker: w, inc: spec.Incarnation, marked: markedBy(spec.Env), gen: f.gen,
			pid: id.PID, ticks: id.StartTicks, boot: id.BootID, real: rp, done: make(chan struct{})}
		f.all = append(f.all, p)
		go func() {
			ex := rp.Wait()
			f.mu.Lock()
			p.exitLocked(ex)
			f.mu.Unlock()
		}()
	} else {
		p = f.newProcLocked(w, spec.Incarnation, markedBy(spec.Env), false, 0)
	}
	f.procs[w] = append(f.procs[w], p)
	return f.handleLocked(p, false), nil
}

func (h *fakeHandle) PID() int { return h.p.pid }

func (h *fakeHandle) Identity() proc.Identity { return h.p.identity() }

// Wait returns the process's exit, or, once the daemon holding the handle
// is gone, nothing anyone will read. An adopted process's exit status is
// unknown, as with proc.Process: it is not the daemon's child.
func (h *fakeHandle) Wait() proc.Exit {
	select {
	case <-h.p.done:
	case <-h.gone:
	}
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.reaped = true
	switch {
	case !h.p.exited:
		return proc.Exit{Code: -1, Err: errDead}
	case h.adopted:
		return proc.Exit{Code: -1, Err: proc.ErrExitUnknown}
	}
	return h.p.exit
}

// ownsLocked reports whether p is what the durable log says worker dw
// runs: its recorded process, or, while the log has no pid, a process of
// its incarnation that the daemon spawned.
func ownsLocked(p *fakeProc, dw fsm.Worker) bool {
	if uint64(dw.Incarnation) != p.inc {
		return false
	}
	if dw.PID != 0 {
		return dw.PID == p.pid && dw.StartTicks == p.ticks
	}
	return !p.child
}

func (h *fakeHandle) Signal(sig syscall.Signal) error {
	f, p := h.f, h.p
	f.mu.Lock()
	defer f.mu.Unlock()
	kind := "stop"
	if sig == syscall.SIGKILL {
		kind = "kill"
	}
	if h.gen != f.gen || !f.effectLocked(kind) {
		return nil
	}
	if sig == operatorSignal {
		// Decided for one incarnation, it reaches that one and no other,
		// and only once its decision is durable.
		p.asked++
		if n := f.requestsLocked(p); p.asked > n {
			f.problem("%s: SIG%s number %d, but the durable log asks for it %d times for this incarnation",
				p, events.SignalName(int(sig)), p.asked, n)
		}
		if ps := f.procs[p.worker]; !p.child && len(ps) > 0 && ps[len(ps)-1] != p {
			f.problem("%s: SIG%s after incarnation %d was spawned", p, events.SignalName(int(sig)), ps[len(ps)-1].inc)
		}
		if p.real != nil && !p.exited {
			return p.real.Signal(sig)
		}
		return nil
	}
	if f.durable != nil {
		if dw, ok := f.durable(p.worker); ok && ownsLocked(p, dw) && (dw.State == events.Starting || dw.State == events.Running) {
			f.problem("%s: SIG%s before the event asking for it was durable (durable state %s)", p, events.SignalName(int(sig)), dw.State)
		}
	}
	// A signal may race its process's own exit (proc.Process makes that
	// harmless), but never reach an incarnation once the next one exists:
	// with real pids that is how a recycled pid gets killed.
	if ps := f.procs[p.worker]; !p.child && len(ps) > 0 && ps[len(ps)-1] != p {
		f.problem("%s: SIG%s after incarnation %d was spawned", p, events.SignalName(int(sig)), ps[len(ps)-1].inc)
	}
	switch sig {
	case syscall.SIGKILL:
		p.kills++
		if p.kills > 1 {
			f.problem("%s: SIGKILL sent %d times", p, p.kills)
		}
	default:
		h.stops++
		if h.stops > 1+h.allow {
			f.problem("%s: stop signal SIG%s sent %d times by one daemon", p, events.SignalName(int(sig)), h.stops)
		}
	}
	if p.exited {
		// Like proc.Process: a group with nothing left is not an error.
		return nil
	}
	if p.real != nil {
		err := p.real.Signal(sig)
		p.dying = p.dying || err == nil && (sig == syscall.SIGKILL || termExits(p.worker))
		return err
	}
	switch {
	case sig == syscall.SIGKILL:
		p.exitLocked(proc.Exit{Code: -1, Signal: syscall.SIGKILL})
	case p.child:
		p.exitLocked(proc.Exit{Code: -1, Signal: sig})
	case termExits(p.worker):
		p.exitLocked(proc.Exit{Code: 0})
	}
	return nil
}

// requestsLocked counts the durable requests of an operator's signal to
// p's incarnation.
func (f *fakeOS) requestsLocked(p *fakeProc) int {
	if f.requests == nil {
		return 0
	}
	return f.requests(p.worker, p.inc)
}

func (h *fakeHandle) Member(pid int) bool { return pid == h.p.pid }

// relativesLocked are the live processes carrying p's markers, p aside:
// what of its incarnation left its group.
func (f *fakeOS) relativesLocked(p *fakeProc) []*fakeProc {
	var out []*fakeProc
	for _, q := range f.all {
		if q != p && !q.exited && q.marked == p.marked && q.worker == p.worker && q.inc == p.inc {
			out = append(out, q)
		}
	}
	return out
}

func (h *fakeHandle) SignalStrays(sig syscall.Signal) (int, error) {
	f := h.f
	f.mu.Lock()
	if h.gen != f.gen || f.dead {
		f.mu.Unlock()
		return 0, nil
	}
	if h.p.real != nil {
		f.mu.Unlock()
		return h.p.real.SignalStrays(sig)
	}
	defer f.mu.Unlock()
	rel := f.relativesLocked(h.p)
	for _, q := range rel {
		if sig == syscall.SIGKILL {
			q.kills++
		}
		q.exitLocked(proc.Exit{Code: -1, Signal: sig})
	}
	return len(rel), nil
}

func (h *fakeHandle) Remaining() int {
	f := h.f
	f.mu.Lock()
	if !h.reaped {
		f.problem("%s: group inspected for cleanup before its exit was reaped", h.p)
	}
	select {
	case <-h.gone:
		f.mu.Unlock()
		return 0
	default:
	}
	if h.p.real != nil {
		f.mu.Unlock()
		return h.p.real.Remaining()
	}
	defer f.mu.Unlock()
	if !h.p.exited {
		return 1
	}
	n := len(f.relativesLocked(h.p))
	if n > 0 {
		// The daemon stops what remains: one more stop signal is its due.
		h.allow = 1
	}
	return n
}

// ---- Adopter ----

// Adopt takes over a live process by its identity: pid, start time and
// boot, never the pid alone.
func (f *fakeOS) Adopt(worker string, inc uint64, id proc.Identity) (supervisor.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var p *fakeProc
	for _, q := range f.all {
		if q.pid == id.PID && !q.exited {
			p = q
		}
	}
	if p == nil || p.ticks != id.StartTicks || p.boot != id.BootID {
		return nil, fmt.Errorf("fake: adopt %q pid %d: %w", worker, id.PID, proc.ErrNotSame)
	}
	if p.worker != worker || p.inc != inc {
		f.problem("recovery adopted %s as %s/%d", p, worker, inc)
	}
	if f.adopted[p] == f.gen {
		f.problem("recovery adopted %s twice", p)
	}
	f.adopted[p] = f.gen
	return f.handleLocked(p, true), nil
}

// FindMarked lists the live processes carrying the instance's marker, in
// pid order, as proc.FindMarked does.
func (f *fakeOS) FindMarked(instance string) ([]proc.Marked, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []proc.Marked
	for _, p := range f.all {
		if !p.exited && instance != "" && p.marked == instance {
			out = append(out, proc.Marked{Worker: p.worker, Incarnation: p.inc, Identity: p.identity()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Identity.PID < out[j].Identity.PID })
	return out, nil
}

// LeftoverHooks: the fake runs no hooks.
func (f *fakeOS) LeftoverHooks(instance string) ([]proc.HookLeftover, error) { return nil, nil }

// EndHook: the fake runs no hooks.
func (f *fakeOS) EndHook(h proc.HookLeftover, wait time.Duration) error { return nil }

// Leftovers lists, as cgroups do, each incarnation of a past daemon with
// live processes of this instance's markers: all of them, those that left
// its process group too; its leader is the one that started first.
func (f *fakeOS) Leftovers(instance string) ([]proc.Leftover, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []proc.Leftover
	at := map[[2]string]int{}
	for _, p := range f.all {
		if p.exited || instance == "" || p.marked != instance || (!p.child && p.gen == f.gen) {
			continue
		}
		k := [2]string{p.worker, fmt.Sprint(p.inc)}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, proc.Leftover{Worker: p.worker, Incarnation: p.inc, Cgroup: true, Leader: p.identity()})
		}
		out[i].Procs++
	}
	return out, nil
}

// Discard kills what is left of an incarnation (or leaves it running).
func (f *fakeOS) Discard(l proc.Leftover, kill bool) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !kill || f.dead {
		return 0, nil
	}
	n := 0
	for _, p := range f.all {
		if p.exited || p.worker != l.Worker || p.inc != l.Incarnation || p.marked != f.instance || (!p.child && p.gen == f.gen) {
			continue
		}
		p.kills++
		if p.real != nil {
			_ = p.real.Signal(syscall.SIGKILL)
			p.dying = true
		} else {
			p.exitLocked(proc.Exit{Code: -1, Signal: syscall.SIGKILL})
		}
		n++
	}
	return n, nil
}

func (h *fakeHandle) WaitGone(ctx context.Context) error {
	if h.Remaining() == 0 || h.p.real == nil {
		return nil
	}
	return h.p.real.WaitGone(ctx)
}

func (h *fakeHandle) Release() {
	if h.p.real != nil {
		h.p.real.Release()
	}
}

var _ supervisor.Adopter = (*fakeOS)(nil)

// ---- what the test does to processes ----

// latestLive returns the worker's live process the daemon spawned, or nil.
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
	f.mu.Unlock()
	ex := proc.Exit{Code: code}
	if sig != 0 {
		ex = proc.Exit{Code: -1, Signal: sig}
	}
	f.end(p, ex)
	return true
}

// end makes p exit; a real process is killed from outside (as an OOM
// killer or an operator would) and waited for.
func (f *fakeOS) end(p *fakeProc, ex proc.Exit) {
	if p.real != nil {
		sig := ex.Signal
		if sig == 0 {
			sig = syscall.SIGKILL
		}
		f.mu.Lock()
		p.dying = true
		f.mu.Unlock()
		_ = syscall.Kill(p.pid, sig)
		return
	}
	f.mu.Lock()
	p.exitLocked(ex)
	f.mu.Unlock()
}

// killAll ends every live process, as if they all died at once.
func (f *fakeOS) killAll() {
	for _, p := range f.live() {
		f.end(p, proc.Exit{Code: -1, Signal: syscall.SIGKILL})
		if p.real != nil {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			<-p.done
		}
	}
}

// live lists the live processes in a stable order.
func (f *fakeOS) live() []*fakeProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*fakeProc
	for _, p := range f.all {
		if !p.exited {
			out = append(out, p)
		}
	}
	return out
}

// settleDying waits until every real process sent a signal it ends on has
// ended, so what the next daemon finds is what the test says it finds.
func (f *fakeOS) settleDying() {
	f.mu.Lock()
	var dying []*fakeProc
	for _, p := range f.all {
		if p.dying && !p.exited {
			dying = append(dying, p)
		}
	}
	f.mu.Unlock()
	for _, p := range dying {
		<-p.done
	}
}

// kill ends p while no daemon watches, and waits until it is gone.
func (f *fakeOS) kill(p *fakeProc) {
	f.end(p, proc.Exit{Code: -1, Signal: syscall.SIGKILL})
	<-p.done
}

// freePIDs lists the pids of dead processes that no live process holds,
// most recently freed first.
func (f *fakeOS) freePIDs() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	held := map[int]bool{}
	for _, p := range f.all {
		if !p.exited {
			held[p.pid] = true
		}
	}
	var out []int
	for i := len(f.all) - 1; i >= 0; i-- {
		if pid := f.all[i].pid; !held[pid] {
			held[pid] = true
			out = append(out, pid)
		}
	}
	return out
}

// fork starts a child of p that leaves p's group, carrying p's markers,
// with the given pid (0: a fresh one).
func (f *fakeOS) fork(p *fakeProc, pid int) *fakeProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newProcLocked(p.worker, p.inc, p.marked, true, pid)
}

// stranger starts a process that has nothing to do with tend (no
// markers), with the given pid (0: a fresh one).
func (f *fakeOS) stranger(pid int) *fakeProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newProcLocked("", 0, "", true, pid)
}

func (f *fakeOS) failNextSpawn(w string) {
	f.mu.Lock()
	f.failNext[w] = true
	f.mu.Unlock()
}

// osProcs is what the OS holds now, for the model's judgement of a
// recovery.
func (f *fakeOS) osProcs() []osProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []osProc
	for _, p := range f.all {
		if !p.exited && p.marked == f.instance {
			out = append(out, osProc{worker: p.worker, inc: events.Incarnation(p.inc), pid: p.pid, ticks: p.ticks})
		}
	}
	return out
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

// recordedLocked is the process the durable log records for w, else the
// latest one spawned for it.
func (f *fakeOS) recordedLocked(w string) *fakeProc {
	if f.durable != nil {
		if dw, ok := f.durable(w); ok && dw.PID != 0 {
			for i := len(f.all) - 1; i >= 0; i-- {
				if p := f.all[i]; p.pid == dw.PID && p.ticks == dw.StartTicks {
					return p
				}
			}
		}
	}
	if ps := f.procs[w]; len(ps) > 0 {
		return ps[len(ps)-1]
	}
	return nil
}

func (f *fakeOS) Probe(ctx context.Context, spec health.Spec, report func(health.Report)) {
	w := strings.TrimPrefix(spec.Address, "fake:")
	f.mu.Lock()
	m := &fakeMonitor{worker: w, proc: f.recordedLocked(w), ctx: ctx, trigger: make(chan bool)}
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
// did. While the batch meets a fault it does not wait for a monitor still
// busy with its last report (the supervisor may be retrying it).
func (f *fakeOS) healthReport(w string, healthy bool) int {
	f.mu.Lock()
	var ms []*fakeMonitor
	for _, m := range f.monitors {
		if m.worker == w && !m.returned {
			ms = append(ms, m)
		}
	}
	trouble := f.trouble
	f.mu.Unlock()
	n := 0
	for _, m := range ms {
		select {
		case m.trigger <- healthy:
			n++
		case <-m.ctx.Done():
		case <-trouble:
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
	var pick *fakeProc
	for _, p := range f.all {
		if p.pid == pgid && (pick == nil || !p.exited) {
			pick = p
		}
	}
	if pick == nil {
		f.problem("watcher: asked to watch pid %d, which was never started", pgid)
		return
	}
	f.watches = append(f.watches, &fakeWatch{gen: f.gen, worker: pick.worker, proc: pick, ctx: ctx, report: report})
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
	if pick != nil && stale && f.durable != nil && pick.gen == f.gen && !f.dead {
		if dw, ok := f.durable(w); ok && uint64(dw.Incarnation) > pick.proc.inc {
			f.late = append(f.late, lateReport{worker: w, inc: pick.proc.inc, gen: f.gen})
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
	gen    int
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
// reacting: no monitor outlives its incarnation; every live process is
// what the log records for a live worker (so no worker runs twice and
// nothing survives a completed stop); every live worker's recorded
// process runs (no spawn decided is forgotten, no exit goes unrecorded);
// no SIGKILL decided is left undelivered.
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
			what := "no process"
			if m.proc != nil {
				what = m.proc.String()
			}
			out = append(out, fmt.Sprintf("health monitor of %s (%s) still running after its process ended", m.worker, what))
		}
	}
	for w, n := range running {
		if n > 1 {
			out = append(out, fmt.Sprintf("%d health monitors running for %s", n, w))
		}
	}
	for _, p := range f.all {
		if p.exited || p.marked == "" {
			continue
		}
		dw := world.Worker(p.worker)
		if p.child && dw != nil && dw.Live() && uint64(dw.Incarnation) == p.inc {
			continue // left its group, not its incarnation (its cgroup)
		}
		switch {
		case dw == nil:
			out = append(out, fmt.Sprintf("%s alive but the worker is unknown", p))
		case !dw.Live():
			out = append(out, fmt.Sprintf("%s alive after the worker reached %s", p, dw.State))
		case uint64(dw.Incarnation) != p.inc:
			out = append(out, fmt.Sprintf("%s alive but the worker is at incarnation %d", p, dw.Incarnation))
		case dw.PID != p.pid || dw.StartTicks != p.ticks:
			out = append(out, fmt.Sprintf("%s alive but the log records pid %d (start %d) for %s", p, dw.PID, dw.StartTicks, p.worker))
		}
	}
	for _, n := range world.Names(false) {
		dw := world.Worker(n)
		if !dw.Live() {
			continue
		}
		if dw.PID == 0 {
			out = append(out, fmt.Sprintf("%s is %s (incarnation %d) but no spawn of it was ever recorded", n, dw.State, dw.Incarnation))
			continue
		}
		var p *fakeProc
		for _, q := range f.all {
			if q.pid == dw.PID && q.ticks == dw.StartTicks {
				p = q
			}
		}
		switch {
		case p == nil:
			out = append(out, fmt.Sprintf("%s is %s with pid %d (start %d), which no process ever had", n, dw.State, dw.PID, dw.StartTicks))
		case p.exited:
			out = append(out, fmt.Sprintf("%s is %s, but its %s has exited and the log does not say so", n, dw.State, p))
		case dw.State == events.Stopping && dw.Flags.KillSent:
			out = append(out, fmt.Sprintf("%s: SIGKILL decided (killed is in the log), yet its %s still runs", n, p))
		}
	}
	return out
}

// liveCount is the number of tend's processes not yet exited.
func (f *fakeOS) liveCount() int {
	n := 0
	for _, p := range f.live() {
		if p.marked != "" {
			n++
		}
	}
	return n
}
