package supervisor

import (
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/proc"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// crash ends the daemon as a SIGKILL would: nothing is stopped, nothing
// more is written, the workers run on.
func (r *rig) crash() {
	r.sup.Close()
	r.stopSmp()
	r.spawner.Close()
	if err := r.log.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.sup = nil
}

// lostKills is a spawner whose processes never receive SIGKILL: the daemon
// died between recording "killed" and sending it.
type lostKills struct{ ProcSpawner }

func (s lostKills) Start(spec proc.Spec) (Process, error) {
	p, err := s.ProcSpawner.Start(spec)
	if err != nil {
		return nil, err
	}
	return noKill{p}, nil
}

type noKill struct{ Process }

func (p noKill) Signal(sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return nil
	}
	return p.Process.Signal(sig)
}

func (p noKill) SignalStrays(sig syscall.Signal) (int, error) {
	if sig == syscall.SIGKILL {
		return 0, nil
	}
	return p.Process.SignalStrays(sig)
}

// A SIGKILL decided but never sent before a crash is sent after it. The
// log's "killed" records that it was decided, not that it was delivered.
func TestKillDecidedBeforeCrashIsSentAfter(t *testing.T) {
	s := spec("stubborn", proctest.Command("ignore-sigterm"))
	s.StopTimeout = 100 * time.Millisecond
	r := newRigWith(t, nil)
	r.adjust = func(c *Config) { c.Spawner = lostKills{ProcSpawner{r.spawner}} }
	r.crash()
	r.open()
	r.load(s)
	w := r.waitState("stubborn", events.Running)
	waitIgnoring(t, w.PID, syscall.SIGTERM)
	if _, err := r.sup.Stop(bg, "stubborn", "cli uid=0"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("stubborn", "SIGKILL decided", func(w *fsm.Worker) bool { return w.Flags.KillSent })
	time.Sleep(100 * time.Millisecond)
	if !alive(w.PID) {
		t.Fatal("the kill was not lost: the test cannot tell")
	}
	r.crash()
	r.adjust = nil
	r.open()
	r.load(s)
	end := r.waitState("stubborn", events.Killed)
	if alive(w.PID) {
		t.Fatalf("pid %d still alive after recovery; worker %+v", w.PID, end)
	}
}

// A start decided before a crash, whose spawn never happened, is spawned
// after it, as the same incarnation. The first daemon is core.Step alone:
// it decides and records the start, and dies before any effect runs.
func TestSpawnDecidedBeforeCrashIsMadeAfter(t *testing.T) {
	s := spec("w", proctest.Command("hang"))
	s.Hash = s.SpecHash()
	r := &rig{t: t, dir: t.TempDir()}
	l, err := store.Open(filepath.Join(r.dir, "tend.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := core.Step(core.NewState(fsm.NewWorld()), core.Load{Specs: []*core.Spec{s.core()}, Hash: "test-config", Actor: "test", First: true},
		time.Now(), func() float64 { return 0.5 })
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AppendWait(res.Events...); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r.open()
	t.Cleanup(r.finish)
	r.load(s)
	w := r.waitState("w", events.Running)
	if w.Incarnation != 1 || w.PID == 0 {
		t.Fatalf("after recovery: %+v, want incarnation 1 running", w)
	}
	if n := count(r.history("w"), events.Lost, false); n != 0 {
		t.Fatalf("%d lost events: an unmade spawn is made, not lost", n)
	}
}

// A reload whose commit failed changes nothing, and the same reload
// retried once the disk recovers is judged against what the log says is in
// force: the changed worker restarts with its new settings, and a removed
// worker is removed.
func TestReloadAfterFailedCommit(t *testing.T) {
	a, b := spec("a", proctest.Command("hang")), spec("b", proctest.Command("hang"))
	b.Autostart = false
	r := newRig(t, a, b)
	before := r.waitState("a", events.Running)
	a2 := spec("a", proctest.Command("hang"))
	a2.Env = map[string]string{"CHANGED": "1"}
	a2.Hash = a2.SpecHash()
	full := errors.New("no space left on device (injected)")
	r.fault.Store(&full)
	if _, err := r.sup.Load(bg, []*WorkerSpec{a2}, "c2", "test"); err == nil {
		t.Fatal("a reload whose commit failed was acknowledged")
	}
	r.fault.Store(nil)
	if w, _ := r.sup.Worker("a"); w.Incarnation != before.Incarnation || w.State != events.Running {
		t.Fatalf("a failed reload changed a: %+v", w)
	}
	res, err := r.sup.Load(bg, []*WorkerSpec{a2}, "c2", "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 1 || res.Changed[0] != "a" || len(res.Removed) != 1 || res.Removed[0] != "b" {
		t.Fatalf("the retried reload: %+v, want a changed and b removed", res)
	}
	after := r.waitFor("a", "restarted", func(w *fsm.Worker) bool { return w.State == events.Running && w.Incarnation > before.Incarnation })
	if got := r.sup.Spec("a"); got == nil || got.Env["CHANGED"] != "1" {
		t.Fatalf("a runs incarnation %d with settings %+v", after.Incarnation, got)
	}
	if _, err := r.sup.Worker("b"); !errors.Is(err, ErrNoWorker) {
		t.Fatalf("b after its removal: %v", err)
	}
}

// unrecordedSpawn is a spawner after whose spawn the disk fails: the
// process runs and the log never learns its pid, as when a daemon dies
// between a spawn and the record of it.
type unrecordedSpawn struct {
	ProcSpawner
	r    *rig
	main *atomic.Int64
}

func (s unrecordedSpawn) Start(spec proc.Spec) (Process, error) {
	p, err := s.ProcSpawner.Start(spec)
	if err == nil {
		s.main.Store(int64(p.PID()))
		full := errors.New("no space left on device (injected)")
		s.r.fault.Store(&full)
	}
	return p, err
}

// A process the log never learned of is found after a crash, and adopted,
// never an escapee of it in a session of its own that carries the same
// markers.
func TestUnrecordedSpawnIsAdoptedNotItsEscapee(t *testing.T) {
	s := spec("w", proctest.Command("escape"))
	s.Hash = s.SpecHash()
	r := newRigWith(t, nil)
	var main atomic.Int64
	r.adjust = func(c *Config) { c.Spawner = unrecordedSpawn{ProcSpawner{r.spawner}, r, &main} }
	r.crash()
	r.open()
	r.load(s)
	var marked []proc.Marked
	for deadline := time.Now().Add(10 * time.Second); len(marked) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		marked, _ = proc.FindMarked(filepath.Join(r.dir, "tend.db"))
	}
	if len(marked) != 2 || main.Load() == 0 {
		t.Fatalf("marked processes %+v, spawned pid %d: want the worker and its escapee", marked, main.Load())
	}
	pid, escapee := int(main.Load()), 0
	for _, m := range marked {
		if m.Identity.PID != pid {
			escapee = m.Identity.PID
		}
	}
	if w, _ := r.sup.Worker("w"); w.PID != 0 {
		t.Fatalf("the log learned pid %d: the test cannot tell", w.PID)
	}
	r.crash()
	r.fault.Store(nil)
	r.adjust = nil
	r.open()
	r.load(s)
	w := r.waitState("w", events.Running)
	if w.Incarnation != 1 || w.PID != pid {
		t.Fatalf("recovery adopted pid %d as incarnation %d; the worker's process is %d, its escapee %d", w.PID, w.Incarnation, pid, escapee)
	}
	if !alive(pid) {
		t.Fatalf("the worker's process %d was killed", pid)
	}
	// The escapee, in a session of its own, is not tend's to judge without
	// cgroups (its markers prove nothing); it is ended here.
	_ = syscall.Kill(escapee, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); alive(escapee) && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
}

// A reload whose commit failed leaves the settings the log says are in
// force: the worker it would have changed is still configured with them,
// so a command on it is judged, and its process's exit is handed to its
// restart policy.
func TestFailedReloadKeepsTheSettingsInForce(t *testing.T) {
	a := spec("a", proctest.Command("hang"))
	a.Hash = a.SpecHash()
	r := newRig(t, a)
	r.waitState("a", events.Running)
	a2 := spec("a", proctest.Command("hang"))
	a2.Env = map[string]string{"CHANGED": "1"}
	a2.Hash = a2.SpecHash()
	full := errors.New("no space left on device (injected)")
	r.fault.Store(&full)
	if _, err := r.sup.Load(bg, []*WorkerSpec{a2}, "c2", "test"); err == nil {
		t.Fatal("a reload whose commit failed was acknowledged")
	}
	r.fault.Store(nil)
	if got := r.sup.Spec("a"); got == nil || got.Hash != a.Hash {
		t.Fatalf("settings of a after the failed reload: %+v, want those in force (%.12s)", got, a.Hash)
	}
	if _, err := r.sup.Stop(bg, "a", "test"); err != nil {
		t.Fatalf("stop of a after the failed reload: %v", err)
	}
	r.waitState("a", events.Stopped)
}

// manualClock is a Clock whose timers come due only when the test moves it.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	next   int
	timers map[int]manualTimer
}

type manualTimer struct {
	at time.Time
	f  func()
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), timers: map[int]manualTimer{}}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) func() bool {
	if d <= 0 {
		go f()
		return func() bool { return false }
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	id := c.next
	c.timers[id] = manualTimer{at: c.now.Add(d), f: f}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.timers[id]
		delete(c.timers, id)
		return ok
	}
}

// armed counts the timers not yet due.
func (c *manualClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// advance moves the clock by d and returns what came due, not yet run.
func (c *manualClock) advance(d time.Duration) []func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	var due []func()
	for id, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t.f)
			delete(c.timers, id)
		}
	}
	return due
}

// An observation judged against events whose commit then fails is judged
// again once the pending state is the durable one: here a scheduled
// restart, found moot while an operator's start was in flight, still
// happens when that start's commit fails.
func TestObservationJudgedAgainstAFailedCommitIsJudgedAgain(t *testing.T) {
	clk := newManualClock()
	s := spec("w", proctest.Command("exit", "1"))
	s.Hash = s.SpecHash()
	r := newRigWith(t, func(c *Config) { c.Clock = clk }, s)
	first := r.waitFor("w", "restart scheduled", func(w *fsm.Worker) bool { return w.Policy.Pending })
	// Its timer is armed once the event is durable: the start timeout's
	// and the restart's.
	for deadline := time.Now().Add(5 * time.Second); clk.armed() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d timers armed, want the start timeout's and the restart's", clk.armed())
		}
	}
	// The operator's start reaches the disk, which holds it, then fails it.
	entered, gate := make(chan struct{}, 1), make(chan error)
	hold := func() error {
		select {
		case entered <- struct{}{}:
		default:
		}
		return <-gate
	}
	r.hold.Store(&hold)
	started := make(chan error, 1)
	go func() { _, err := r.sup.Start(bg, "w", "op"); started <- err }()
	<-entered
	// The restart comes due while the start is in flight: it is moot as
	// long as the start stands.
	judged := make(chan struct{})
	go func() {
		defer close(judged)
		var wg sync.WaitGroup
		for _, f := range clk.advance(time.Minute) {
			wg.Add(1)
			go func() { defer wg.Done(); f() }()
		}
		wg.Wait()
	}()
	select {
	case <-judged:
	case <-time.After(200 * time.Millisecond):
	}
	r.hold.Store(nil)
	gate <- errors.New("no space left on device (injected)")
	if err := <-started; err == nil {
		t.Fatal("a start whose commit failed was acknowledged")
	}
	// The restart was not recorded: it must happen now. Time passes for
	// the retries of the observations the failed commit voided.
	deadline := time.Now().Add(10 * time.Second)
	for {
		w, _ := r.sup.Worker("w")
		restarted := w.Incarnation > first.Incarnation
		select {
		case <-judged:
			if restarted {
				return
			}
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled restart never happened: %s, incarnation %d, pending %v", w.State, w.Incarnation, w.Policy.Pending)
		}
		for _, f := range clk.advance(10 * time.Millisecond) {
			go f()
		}
		time.Sleep(5 * time.Millisecond)
	}
}
