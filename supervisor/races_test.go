package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// The four races hand-written supervisors lose, run against real
// processes many times. Observations (a limit violation, a health verdict)
// are injected through the same entry points the sampler and the health
// loop use, at the moment the race needs, and carry the incarnation they
// were made about.

func iterations() int {
	if testing.Short() {
		return 5
	}
	return 25
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settled waits until the worker is stopped for good (no restart pending).
func (r *rig) settled(name string) fsm.Worker {
	r.t.Helper()
	return r.waitFor(name, "settled", func(w *fsm.Worker) bool {
		return !w.Live() && !w.Policy.Pending && !w.Flags.RestartAfter
	})
}

// noProcessOf checks that no process of the worker is alive.
func (r *rig) noProcessOf(name string) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if len(children()) == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.t.Fatalf("%s: processes alive after it stopped: %v", name, children())
}

// workerPIDs lists the live process-group leaders carrying this rig's
// worker markers.
func (r *rig) workerPIDs() []int {
	ms, err := proc.FindMarked(filepath.Join(r.dir, "tend.db"))
	if err != nil {
		r.t.Fatal(err)
	}
	var out []int
	for _, m := range ms {
		out = append(out, m.Identity.PID)
	}
	return out
}

func go2(fs ...func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f()
		}()
	}
	close(start)
	wg.Wait()
}

// Race 1: an operator's stop racing a kill from a resource violation. The
// kill goes through the incarnation's handle, never a nil or recycled pid,
// and the operator's stop wins: nothing restarts the worker.
func TestRaceStopVersusLimitKill(t *testing.T) {
	s := spec("w", proctest.Command("hang"))
	s.Policy.Restart = policy.Always
	s.Limits = &limits.Spec{Memory: 1 << 40, MemoryPolicy: limits.PolicyKill}
	r := newRig(t, s)
	fds := openFDs(t)
	for i := 0; i < iterations(); i++ {
		w := r.waitState("w", events.Running)
		v := limits.Violation{Resource: "memory", Measured: 2 << 40, Limit: 1 << 40, Policy: limits.PolicyKill, Detail: "injected"}
		go2(
			func() { _, _ = r.sup.Stop(bg, "w", "cli uid=0") },
			func() {
				r.sup.observe("limit", core.Violation{Worker: "w", Inc: w.Incarnation, Resource: v.Resource, Policy: string(v.Policy),
					Measured: v.Measured, Limit: v.Limit, Detail: v.Detail})
			},
		)
		end := r.settled("w")
		if end.State != events.Stopped && end.State != events.Killed {
			t.Fatalf("iteration %d: ended %s", i, end.State)
		}
		r.noProcessOf("w")
		time.Sleep(20 * time.Millisecond) // a wrong restart would show by now
		if w2, _ := r.sup.Worker("w"); w2.Incarnation != w.Incarnation {
			t.Fatalf("iteration %d: restarted after an explicit stop (incarnation %d → %d)", i, w.Incarnation, w2.Incarnation)
		}
		if _, err := r.sup.Start(bg, "w", "cli uid=0"); err != nil {
			t.Fatal(err)
		}
	}
	r.checkReplay()
	if d := openFDs(t) - fds; d > 8 { // a leak per iteration would show as dozens
		t.Fatalf("%d file descriptors leaked", d)
	}
}

// countingProber wraps the real health loop and counts the loops alive per
// incarnation, so a monitor that outlives its incarnation is caught.
type countingProber struct {
	mu   sync.Mutex
	live map[uint64]int
	seq  atomic.Uint64
}

func (c *countingProber) probe(ctx context.Context, spec health.Spec, report func(health.Report)) {
	id := c.seq.Add(1)
	c.mu.Lock()
	c.live[id]++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.live, id)
		c.mu.Unlock()
	}()
	health.Run(ctx, spec, report)
}

func (c *countingProber) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.live)
}

// Race 2: start racing stop with health checks on. However they
// interleave, once the worker has stopped no health loop is left running.
func TestRaceStartVersusStopNoMonitorSurvives(t *testing.T) {
	cp := &countingProber{live: make(map[uint64]int)}
	s := spec("w", proctest.Command("hang"))
	s.Autostart = false
	s.Health = &health.Spec{Type: "exec", Command: []string{"true"}, Interval: 5 * time.Millisecond, Timeout: time.Second, Failures: 3}
	r := newRigWith(t, func(c *Config) { c.Probe = cp.probe }, s)
	for i := 0; i < iterations(); i++ {
		go2(
			func() { _, _ = r.sup.Start(bg, "w", "cli uid=0") },
			func() { _, _ = r.sup.Stop(bg, "w", "cli uid=0") },
			func() { _, _ = r.sup.Start(bg, "w", "cli uid=1") },
		)
		// Whatever the order, a final stop must leave no monitor behind.
		if _, err := r.sup.Stop(bg, "w", "cli uid=0"); err != nil {
			t.Fatal(err)
		}
		r.settled("w")
		r.noProcessOf("w")
		deadline := time.Now().Add(5 * time.Second)
		for cp.count() > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := cp.count(); n > 0 {
			t.Fatalf("iteration %d: %d health loops outlived their incarnation", i, n)
		}
	}
	r.checkReplay()
}

// Race 3: two stops at once, one from an operator and one from a
// health-triggered restart. One owner closes each incarnation's files and
// handle; the operator's stop is final.
func TestRaceOperatorStopVersusHealthRestart(t *testing.T) {
	s := spec("w", proctest.Command("hang"))
	s.Policy.Restart = policy.Always
	r := newRig(t, s)
	fds := openFDs(t)
	for i := 0; i < iterations(); i++ {
		w := r.waitState("w", events.Running)
		go2(
			func() { _, _ = r.sup.Stop(bg, "w", "cli uid=0") },
			func() {
				r.sup.observe("health", core.HealthReport{Worker: "w", Inc: w.Incarnation, Healthy: false, Consecutive: 3, Detail: "injected"})
			},
		)
		end := r.settled("w")
		if end.Incarnation != w.Incarnation {
			t.Fatalf("iteration %d: a health restart overrode the operator's stop", i)
		}
		r.noProcessOf("w")
		if _, err := r.sup.Start(bg, "w", "cli uid=0"); err != nil {
			t.Fatal(err)
		}
	}
	r.checkReplay()
	if d := openFDs(t) - fds; d > 8 { // a leak per iteration would show as dozens
		t.Fatalf("%d file descriptors leaked", d)
	}
}

// Race 4: start, stop, restart, a health failure and a violation kill all
// at once. Afterwards the state is one the log explains, at most one
// process runs, and it is the one the state names.
func TestRaceEverythingAtOnce(t *testing.T) {
	s := spec("w", proctest.Command("hang"))
	s.Policy.Restart = policy.Always
	s.Policy.BackoffInitial = 0
	s.Health = &health.Spec{Type: "exec", Command: []string{"true"}, Interval: 10 * time.Millisecond, Timeout: time.Second, Failures: 3}
	s.Limits = &limits.Spec{Memory: 1 << 40, MemoryPolicy: limits.PolicyKill}
	r := newRig(t, s)
	for i := 0; i < iterations(); i++ {
		w := r.waitState("w", events.Running)
		v := limits.Violation{Resource: "memory", Measured: 2 << 40, Limit: 1 << 40, Policy: limits.PolicyKill, Detail: "injected"}
		go2(
			func() { _, _ = r.sup.Start(bg, "w", "cli uid=0") },
			func() { _, _ = r.sup.Stop(bg, "w", "cli uid=1") },
			func() { _, _ = r.sup.Restart(bg, "w", "cli uid=2") },
			func() {
				r.sup.observe("health", core.HealthReport{Worker: "w", Inc: w.Incarnation, Healthy: false, Consecutive: 3, Detail: "injected"})
			},
			func() {
				r.sup.observe("limit", core.Violation{Worker: "w", Inc: w.Incarnation, Resource: v.Resource, Policy: string(v.Policy),
					Measured: v.Measured, Limit: v.Limit, Detail: v.Detail})
			},
		)
		// Quiesce: running again (restart won) or stopped for good.
		end := r.waitFor("w", "quiet", func(w *fsm.Worker) bool {
			return w.State == events.Running || (!w.Live() && !w.Policy.Pending && !w.Flags.RestartAfter)
		})
		time.Sleep(30 * time.Millisecond)
		kids := r.workerPIDs() // health probes are children too; count workers only
		switch {
		case end.State == events.Running && (len(kids) != 1 || kids[0] != end.PID):
			if now, _ := r.sup.Worker("w"); now.State == events.Running && now.PID == end.PID {
				t.Fatalf("iteration %d: running pid %d but live children %v", i, end.PID, kids)
			}
		case end.State != events.Running:
			r.noProcessOf("w")
		}
		r.checkReplay()
		if end.State != events.Running {
			if _, err := r.sup.Start(bg, "w", "cli uid=0"); err != nil {
				t.Fatal(err)
			}
		}
	}
}
