package supervisor

import (
	"bytes"
	"context"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/limits"
)

// A running worker holds no goroutine of its own: its exit is waited for
// by the spawner's one exit watch, and a goroutine starts only when it
// exits.
func TestIdleWorkersHoldNoGoroutine(t *testing.T) {
	const n = 100
	var specs []*WorkerSpec
	for i := range n {
		specs = append(specs, spec("w"+itoa(i), []string{"/bin/sleep", "1000"}))
	}
	r := newRig(t, specs...)
	for i := range n {
		r.waitState("w"+itoa(i), events.Running)
	}
	before := runtime.NumGoroutine()
	// Without the exit watch's callback, each of these would park one.
	if before > n {
		t.Fatalf("%d goroutines with %d idle workers: one each, or more", before, n)
	}
	r.finish()
}

// A start of many workers runs a bounded number of spawns at once, each on
// its worker's queue: the queues beyond spawnsAhead wait without a
// goroutine, and every worker still starts. Go keeps every goroutine's
// descriptor it ever made, so one each for 10,000 workers stayed 5.5 MB.
func TestManySpawnsRunOnFewGoroutines(t *testing.T) {
	const n = 200
	var specs []*WorkerSpec
	for i := range n {
		specs = append(specs, spec("w"+itoa(i), []string{"/bin/sleep", "1000"}))
	}
	base := runtime.NumGoroutine()
	// 8 spawns at once, the rig's and the supervisor's own goroutines,
	// the sampler, timers: far fewer than one per worker.
	most := base + 8 + 40
	peak := 0
	var over bytes.Buffer // the goroutines at the highest count above most
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := runtime.NumGoroutine()
			if n > most && n > peak {
				over.Reset()
				_ = pprof.Lookup("goroutine").WriteTo(&over, 1)
			}
			peak = max(peak, n)
			runtime.Gosched()
		}
	}()
	r := newRigWith(t, func(c *Config) { c.SpawnConcurrency = 1 }, specs...)
	for i := range n {
		r.waitState("w"+itoa(i), events.Running)
	}
	close(stop)
	<-done
	if peak > most {
		t.Fatalf("%d goroutines at the peak of a start of %d workers (%d before): want at most %d; at the peak:\n%s", peak, n, base, most, over.String())
	}
	r.finish()
}

// heldClock is the real clock whose timers, until release, fire only when
// the test says.
type heldClock struct {
	mu       sync.Mutex
	held     []func()
	released bool
}

func (c *heldClock) Now() time.Time { return time.Now() }
func (c *heldClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return time.AfterFunc(d, f).Stop
	}
	c.held = append(c.held, f)
	return func() bool { return false }
}

// release makes timers armed from now on real ones, and returns those still
// held: a held timer nobody fires would hold the supervisor's shutdown
// forever (its stop reports it never armed).
func (c *heldClock) release() []func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = true
	fs := c.held
	c.held = nil
	return fs
}

func (c *heldClock) take() []func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	fs := c.held
	c.held = nil
	return fs
}

// A timer that fires does not wait for what it decided to be durable: its
// callback decides and goes, and timers that fire together share commits.
// Waiting parked a goroutine a timer until its commit, and the start
// timeouts of a start of thousands of workers fire together, at the pace
// of the spawns (the goroutine count of the test above rose to 53 so).
// Here the start timeouts of 50 workers fire one after the other on one
// goroutine: had each waited for its commit, that is 50 commits.
func TestTimersDoNotWaitForTheLog(t *testing.T) {
	const n = 50
	clk := &heldClock{}
	var specs []*WorkerSpec
	for i := range n {
		specs = append(specs, spec("w"+itoa(i), []string{"/bin/sleep", "1000"}))
	}
	r := newRigWith(t, func(c *Config) { c.Clock = clk }, specs...)
	var timers []func()
	for deadline := time.Now().Add(15 * time.Second); len(timers) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d start timeouts armed of %d", len(timers), n)
		}
		timers = append(timers, clk.take()...)
		time.Sleep(5 * time.Millisecond)
	}
	for i := range n {
		if w, _ := r.sup.Worker("w" + itoa(i)); w.State != events.Starting {
			t.Fatalf("w%d is %s before its start timeout fired", i, w.State)
		}
	}
	timers = append(timers, clk.release()...)
	before := r.commits.Load()
	for _, fire := range timers {
		fire()
	}
	for i := range n {
		r.waitState("w"+itoa(i), events.Running)
	}
	if c := r.commits.Load() - before; c > n/2 {
		t.Fatalf("%d start timeouts fired one after another took %d commits: each waited for its own", n, c)
	}
	r.finish()
}

// A limit violation is decided and appended on the sampler's goroutine,
// and nothing waits for its commit: behind a disk that stalls, a burst of
// reports leaves no goroutine behind each one, and every one of them is in
// the log once the disk answers.
func TestLimitReportsDoNotWaitForTheLog(t *testing.T) {
	const n, per = 10, 20
	w := &grabWatcher{reports: map[int]func(limits.Violation){}}
	var specs []*WorkerSpec
	for i := range n {
		sp := spec("w"+itoa(i), []string{"/bin/sleep", "1000"})
		sp.Limits = &limits.Spec{Memory: 1 << 40, MemoryPolicy: limits.PolicyLog}
		specs = append(specs, sp)
	}
	r := newRigWith(t, func(c *Config) { c.Watcher = w }, specs...)
	for i := range n {
		r.waitState("w"+itoa(i), events.Running)
	}
	reports := w.all(t, n)
	release := r.holdCommits()
	before := runtime.NumGoroutine()
	for range per {
		for _, report := range reports {
			report(limits.Violation{Resource: limits.ResourceMemory, Policy: limits.PolicyLog,
				Measured: 2 << 40, Limit: 1 << 40, Detail: "RSS 2 TiB > limit 1 TiB for 0s"})
		}
	}
	grown := runtime.NumGoroutine() - before
	release()
	if grown > n*per/4 {
		t.Fatalf("%d limit reports behind a stalled commit left %d more goroutines: each waits for its commit", n*per, grown)
	}
	for i := range n {
		name := "w" + itoa(i)
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			c := count(r.history(name), events.LimitViolated, false)
			if c == per {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of its %d violations in the log", name, c, per)
			}
		}
	}
	r.finish()
}

// grabWatcher is a limits Watcher that samples nothing: it keeps each
// incarnation's report function for the test to call.
type grabWatcher struct {
	mu      sync.Mutex
	reports map[int]func(limits.Violation)
}

func (g *grabWatcher) Watch(_ context.Context, pgid int, _ limits.Spec, report func(limits.Violation)) {
	g.mu.Lock()
	g.reports[pgid] = report
	g.mu.Unlock()
}

// all waits until n incarnations are watched and returns their reports.
func (g *grabWatcher) all(t *testing.T, n int) []func(limits.Violation) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		g.mu.Lock()
		var out []func(limits.Violation)
		for _, f := range g.reports {
			out = append(out, f)
		}
		g.mu.Unlock()
		if len(out) == n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d incarnations watched", len(out), n)
		}
	}
}

// Snapshots come at ten events per worker, not every SnapshotEvery events
// at any size: a snapshot costs in proportion to the workers and holds the
// log's writer while it is saved.
func TestSnapshotsScaleWithTheWorkers(t *testing.T) {
	const n = 20 // so ten events a worker is 200, over SnapshotEvery
	var specs []*WorkerSpec
	for i := range n {
		specs = append(specs, spec("w"+itoa(i), []string{"/bin/sleep", "1000"}))
	}
	r := newRigWith(t, func(c *Config) { c.SnapshotEvery = 10 }, specs...)
	for i := range n {
		r.waitState("w"+itoa(i), events.Running)
	}
	if seq := r.log.LastSeq(); seq >= 10*n {
		t.Fatalf("starting %d workers took %d events: the test needs fewer than %d", n, seq, 10*n)
	}
	if seq, _, err := r.log.LoadSnapshot(); err == nil && seq != 0 {
		t.Fatalf("a snapshot at seq %d of %d workers, before %d events", seq, n, 10*n)
	}
	for round := 0; r.log.LastSeq() < 10*n+20; round++ {
		for i := range n {
			if _, err := r.sup.Restart(context.Background(), "w"+itoa(i), "test"); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			r.waitFor("w"+itoa(i), "running again", func(w *fsm.Worker) bool {
				return w.State == events.Running && w.Incarnation >= events.Incarnation(round+2)
			})
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		seq, _, err := r.log.LoadSnapshot()
		if err == nil && seq >= 10*n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot after %d events of %d workers: %d, %v", r.log.LastSeq(), n, seq, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.finish()
}

// A command's wait with Stall lasts as long as its workers keep reaching
// their target, longer than Stall in all, and ends Stall after the last
// progress when one never does. Here four workers reach Running 0.7 s
// apart (their start timeouts), 2.8 s in all, under a stall of 1.5 s; the
// fifth's start timeout is far beyond the test.
func TestAWaitLastsWhileWorkersMakeProgress(t *testing.T) {
	var specs []*WorkerSpec
	var names []string
	for i := 1; i <= 4; i++ {
		sp := spec("w"+itoa(i), []string{"/bin/sleep", "1000"})
		sp.Autostart, sp.StartTimeout = false, time.Duration(i)*700*time.Millisecond
		specs, names = append(specs, sp), append(names, sp.Name)
	}
	slow := spec("slow", []string{"/bin/sleep", "1000"})
	slow.Autostart, slow.StartTimeout = false, time.Hour
	r := newRig(t, append(specs, slow)...)

	t0 := time.Now()
	rs, err := r.sup.Do(bg, Request{Verb: core.Start, Workers: names, Actor: "op", Wait: true, Stall: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range rs {
		if !x.Reached {
			t.Errorf("%s: not reached after %v: %s", x.Worker, time.Since(t0), x.Reason)
		}
	}
	if took := time.Since(t0); took < 2800*time.Millisecond {
		t.Errorf("the starts took %v, less than the last start timeout: the test shows nothing", took)
	}

	t0 = time.Now()
	rs, err = r.sup.Do(bg, Request{Verb: core.Start, Workers: []string{"slow"}, Actor: "op", Wait: true, Stall: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Reached || !strings.HasPrefix(rs[0].Reason, "timed out: slow is Starting") {
		t.Errorf("a start that never gets there: %+v", rs[0])
	}
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("the stalled wait took %v", took)
	}
	r.finish()
}
